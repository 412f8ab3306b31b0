"""Terminal errors are quarantined, not retried: a bad row costs only itself, a gone object never blocks its group,
verify counts quarantined rows apart from lost ones, and `quarantine retry` loads them once the cause is fixed."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from pipeline import aws, quarantine
from pipeline.contracts import processed_key
from pipeline.handlers import ingest as ingest_handlers
from pipeline.sinks import get_sink
from workbench.cli import app
from workbench.local.runtime import LocalRuntime, scheduled_event
from workbench.quarantine import retry
from workbench.verify import verify

pytestmark = pytest.mark.stack
AT = datetime(2026, 11, 4, 16, 5, tzinfo=UTC)
SOURCE = "coinmarketcap"


def runtime_for(stack):
    return LocalRuntime(aws.client("sqs", stack.settings()), stack.queues, stack.dead_letter_queues, sources=[SOURCE])


def corrupt(s3, bucket, key, line, column, value):
    """Rewrite one cell of a raw object (the row stays a `success` row): what a buggy parser would have written."""
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    rows = list(csv.reader(io.StringIO(original.decode())))
    rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
    return original


def test_a_bad_row_is_quarantined_with_its_line_the_good_rows_load_and_retry_loads_it_once_fixed(stack):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    original = corrupt(s3, settings.bucket, good["key"], line=4, column="price_usd", value="-5")
    runtime = runtime_for(stack)

    runtime.poll(AT)

    stats = runtime.stats[SOURCE]
    assert (stats.failed_deliveries, runtime.dead_letters()[SOURCE]) == (0, 0)  # done, never retried
    (entry,) = quarantine.records(s3, settings.bucket, SOURCE)
    assert entry.scope == "rows" and entry.raw_key == good["key"]
    assert [r.line for r in entry.rows] == [4]
    assert "price_usd" in entry.rows[0].reason and entry.rows[0].row["price_usd"] == "-5"
    assert entry.key.startswith(f"quarantine/{SOURCE}/2026/11/04/1605-")
    checked = verify(settings, AT, AT, sources=[SOURCE])
    (report,) = checked.sources
    assert checked.ok, checked.as_dict()
    assert (report.total("sink_rows"), report.total("quarantined"), report.total("missing")) == (
        good["success_rows"] - 1, 1, 0,
    )  # fmt: skip
    listed = CliRunner().invoke(app, ["quarantine", "list", "--source", SOURCE, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["raw_key"] for r in json.loads(listed.output)] == [good["key"]]

    # the cause fixed (the object written again as the source delivered it): retry loads the row, drops the record
    s3.put_object(Bucket=settings.bucket, Key=good["key"], Body=original)
    sink = get_sink(SOURCE, settings, s3=s3)
    result = retry(s3, settings.bucket, SOURCE, sink)

    assert result.resolved == [entry.key] and result.still_failing == []
    assert list(quarantine.records(s3, settings.bucket, SOURCE)) == []
    (after,) = verify(settings, AT, AT, sources=[SOURCE]).sources
    assert (after.total("sink_rows"), after.total("quarantined"), after.ok) == (good["success_rows"], 0, True)


def test_retry_keeps_a_record_whose_cause_is_not_fixed(stack):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    corrupt(s3, settings.bucket, good["key"], line=2, column="rank", value="first")
    runtime_for(stack).poll(AT)

    result = CliRunner().invoke(app, ["quarantine", "retry", "--source", SOURCE])

    assert result.exit_code == 1
    assert "0 resolved, 1 still failing" in result.output and "rank" in result.output
    assert len(list(quarantine.records(s3, settings.bucket, SOURCE))) == 1


def test_an_event_for_an_object_that_is_gone_is_quarantined_and_the_group_moves_on(stack):
    settings = stack.settings()
    sqs = aws.client("sqs", settings)
    s3 = aws.client("s3", settings)
    gone = {"bucket": settings.bucket, "key": f"raw/{SOURCE}/2026/11/04/1600.csv", "source": SOURCE,
            "scheduled_at": "2026-11-04T16:00:00Z", "rows": 10}  # fmt: skip
    sqs.send_message(
        QueueUrl=stack.queues[SOURCE], MessageBody=json.dumps(gone), MessageGroupId=SOURCE,
        MessageDeduplicationId=uuid.uuid4().hex,
    )  # fmt: skip
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    runtime = runtime_for(stack)

    runtime.poll(AT)

    assert runtime.stats[SOURCE].failed_deliveries == 0
    assert s3.head_object(Bucket=settings.bucket, Key=processed_key(good["key"]))["ContentLength"] > 0
    (entry,) = quarantine.records(s3, settings.bucket, SOURCE)
    assert (entry.scope, entry.raw_key) == ("object", gone["key"])
    assert "NoSuchKey" in entry.reason or "does not exist" in entry.reason
