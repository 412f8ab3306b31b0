"""Every row of a raw object is loaded, kept as the source's own error row, or quarantined with its reason: a
header that repeats or lacks a column name makes the object unreadable (quarantined whole), a row whose status is
neither word or whose fields do not match the header is a quarantined row, and two rows of one object with the same
natural key but other values are both quarantined (an exact repeat loads once). `verify` agrees with each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline import aws, quarantine
from pipeline.handlers import ingest as ingest_handlers
from pipeline.sinks import get_sink
from workbench.local.runtime import LocalRuntime, scheduled_event
from workbench.verify import verify

pytestmark = pytest.mark.stack
AT = datetime(2026, 11, 4, 16, 5, tzinfo=UTC)
SOURCE = "openexchangerates"


def _cells(line: str) -> list[str]:
    return line.split(",")  # the simulated rates hold no comma, quote or line break


def ingest_and_rewrite(stack, change):
    """Ingest one minute, rewrite its raw object's lines with `change(header, rows) -> lines`, process it."""
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = getattr(ingest_handlers, SOURCE)(scheduled_event(SOURCE, AT), None)
    assert good["success_rows"] >= 8, good
    lines = s3.get_object(Bucket=settings.bucket, Key=good["key"])["Body"].read().decode().splitlines()
    body = "\n".join(change(lines[0], lines[1:])) + "\n"
    s3.put_object(Bucket=settings.bucket, Key=good["key"], Body=body.encode())
    runtime = LocalRuntime(aws.client("sqs", settings), stack.queues, stack.dead_letter_queues, sources=[SOURCE])
    runtime.poll(AT)
    assert (runtime.stats[SOURCE].failed_deliveries, runtime.dead_letters()[SOURCE]) == (0, 0)
    sink = get_sink(SOURCE, settings, s3=s3)
    try:
        stored = sink.stored_rows(good["key"], good["key"], None, None)
    finally:
        sink.close()
    (report,) = verify(settings, AT, AT, sources=[SOURCE]).sources
    return good, list(quarantine.records(s3, settings.bucket, SOURCE)), stored, report


def _with_column(name: str):
    def change(header: str, rows: list[str]) -> list[str]:
        first = _cells(rows[0])
        index = _cells(header).index(name) if name else 0
        return [header + f",{name}", *(row + f",{first[index] if name != 'status' else 'error'}" for row in rows)]

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_with_column("status"), "the header names column 'status' twice"),
        (_with_column("rate"), "the header names column 'rate' twice"),
        (_with_column(""), "column 9 of the header has no name"),
        (lambda header, rows: [header.replace("rate_ts", ""), *rows], "raw CSV lacks contract column(s) rate_ts"),
    ],
    ids=["status twice", "rate twice", "a nameless column", "a required column unnamed"],
)
def test_a_header_that_repeats_or_lacks_a_column_name_quarantines_the_object_whole(stack, change, reason):
    _good, records, stored, report = ingest_and_rewrite(stack, change)
    (entry,) = records
    assert entry.scope == "object" and reason in entry.reason and "\n" not in entry.reason
    assert stored == []
    assert report.ok and report.minutes[0].set_aside and reason in report.minutes[0].unreadable


def test_a_header_with_one_more_column_of_its_own_loads(stack):
    """The contract allows columns after its own: a new name is read, the rows load."""
    good, records, stored, report = ingest_and_rewrite(
        stack, lambda header, rows: [header + ",note", *(row + ",x" for row in rows)]
    )
    assert records == [] and len(stored) == good["success_rows"]
    assert report.ok and report.total("sink_rows") == good["success_rows"]


ODD_ROWS = {  # line -> (how the row is rewritten, the quarantine reason)
    2: (lambda cells: [*cells[:4], "Success", *cells[5:]], "status: 'Success' is neither 'success' nor 'error'"),
    3: (lambda cells: [*cells[:4], " success", *cells[5:]], "status: ' success' is neither 'success' nor 'error'"),
    4: (lambda cells: [*cells[:4], "", *cells[5:]], "status: '' is neither 'success' nor 'error'"),
    5: (lambda cells: [*cells, "surplus"], "1 field(s) more than the header"),
    6: (lambda cells: cells[:-2], "2 field(s) fewer than the header"),
}


def test_a_row_with_an_unknown_status_or_its_fields_astray_is_quarantined_and_verify_counts_it(stack):
    def change(header: str, rows: list[str]) -> list[str]:
        out = [header]
        for line, row in enumerate(rows, start=2):
            cells = _cells(row)
            if line in ODD_ROWS:
                cells = ODD_ROWS[line][0](cells)
            if line == 7:  # the source's own error row stays what it is: neither loaded nor quarantined
                cells = [*cells[:2], "", cells[3], "error", "rate of XYZ is missing", *cells[6:]]
            out.append(",".join(cells))
        return out

    good, records, stored, report = ingest_and_rewrite(stack, change)
    (entry,) = records
    assert {r.line: r.reason for r in entry.rows} == {line: reason for line, (_, reason) in ODD_ROWS.items()}
    assert len(stored) == good["success_rows"] - len(ODD_ROWS) - 1
    assert report.ok, report.minutes
    assert (report.total("raw_rows"), report.total("quarantined"), report.total("missing")) == (
        good["success_rows"] - 1, len(ODD_ROWS), 0,
    )  # fmt: skip


def test_two_rows_with_one_key_and_other_values_are_both_quarantined_and_a_repeat_loads_once(stack):
    def change(header: str, rows: list[str]) -> list[str]:
        other = _cells(rows[0])
        other[2] = str(float(other[2]) * 2)  # the same (base, currency, rate_ts), another rate
        return [header, *rows, ",".join(other), rows[1]]  # lines 2..n+1, then the conflict and an exact repeat

    good, records, stored, report = ingest_and_rewrite(stack, change)
    n = good["success_rows"]
    (entry,) = records
    currency = entry.rows[0].row["currency"]
    key = f"duplicate key base=USD, currency={currency}, rate_ts=2026-11-04T16:05:00Z"
    assert {r.line: r.reason for r in entry.rows} == {
        2: f"{key}: line {n + 2} holds the same key with other values",
        n + 2: f"{key}: line 2 holds the same key with other values",
    }
    assert len(stored) == n - 1 and currency not in {row.key[1] for row in stored}
    assert report.ok, report.minutes
    assert (report.total("sink_rows"), report.total("quarantined"), report.total("missing")) == (n - 1, 2, 0)
