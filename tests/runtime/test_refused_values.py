"""A value that is not a value (an infinite rate, a NUL in a symbol, a bar from the future) in a raw object: the
process function quarantines that row with the field named, the sink never sees it, the other rows load."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from pipeline import aws, quarantine
from pipeline.handlers import ingest as ingest_handlers
from pipeline.sinks import get_sink
from workbench.local.runtime import LocalRuntime, scheduled_event
from workbench.verify import verify

pytestmark = pytest.mark.stack
AT = datetime(2026, 11, 4, 16, 5, tzinfo=UTC)  # a Wednesday, 11:05 in New York: the market is open


def corrupt(s3, bucket, key, changes):
    """Rewrite cells of success rows ({(line, column): value}, the header is line 1): what a buggy parser or a
    hostile payload could leave in a raw object."""
    rows = list(csv.reader(io.StringIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())))
    for (line, column), value in changes.items():
        assert rows[line - 1][rows[0].index("status")] == "success"
        rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())


# A row whose scheduled_at is another minute than its raw key's (16:06 in the 16:05 object) is refused too.
CASES = {
    "openexchangerates": {
        (3, "rate"): "inf", (5, "rate"): "1e309", (7, "currency"): "EU\x00R", (9, "scheduled_at"): "2026-11-04T16:06Z",
    },
    "yahoo_finance": {
        (2, "symbol"): "AA\x00PL", (3, "close"): "-inf", (4, "ts"): "2031-11-04T16:00:00Z",
        (5, "scheduled_at"): "2026-11-04T16:06:00+00:00",
    },
}  # fmt: skip


@pytest.mark.parametrize("source", list(CASES))
def test_a_value_that_is_not_a_value_is_quarantined_by_field_and_the_other_rows_load(stack, source):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = getattr(ingest_handlers, source)(scheduled_event(source, AT), None)
    assert good["success_rows"] >= 8, good
    changes = CASES[source]
    corrupt(s3, settings.bucket, good["key"], changes)
    runtime = LocalRuntime(aws.client("sqs", settings), stack.queues, stack.dead_letter_queues, sources=[source])

    runtime.poll(AT)

    assert (runtime.stats[source].failed_deliveries, runtime.dead_letters()[source]) == (0, 0)
    (entry,) = quarantine.records(s3, settings.bucket, source)
    assert [r.line for r in entry.rows] == sorted(line for line, _ in changes)
    for rejected in entry.rows:
        (column,) = [c for line, c in changes if line == rejected.line]
        assert rejected.reason.startswith(f"{column}: "), rejected.reason
        assert "\n" not in rejected.reason
    (report,) = verify(settings, AT, AT, sources=[source]).sources
    assert (report.total("sink_rows"), report.total("quarantined"), report.total("missing")) == (
        good["success_rows"] - len(changes), len(changes), 0,
    )  # fmt: skip
    sink = get_sink(source, settings, s3=s3)
    try:
        stored = sink.stored_rows(good["key"], good["key"], None, None)
    finally:
        sink.close()
    assert len(stored) == good["success_rows"] - len(changes)
    assert not any("\x00" in str(part) for row in stored for part in row.key)
