"""An event is trusted only for what this pipeline wrote: the configured bucket, a key under `raw/<own source>/` in
the contract layout, `scheduled_at` its key's minute. Anything else is quarantined with its reason before the object
it names is read, filed under a key derived from the message; counts come from what was loaded; `verify` counts
quarantine only from an object's own record."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from pipeline import aws, clients, quarantine
from pipeline.contracts import processed_key
from pipeline.handlers import ingest as ingest_handlers
from pipeline.handlers import process as process_handlers
from pipeline.redrive import redrive
from tests.lambda_events import load_event
from workbench.cli import app
from workbench.local.runtime import LocalRuntime, scheduled_event

pytestmark = pytest.mark.stack
SOURCE = "coinmarketcap"
AT = datetime(2026, 11, 4, 16, 5, tzinfo=UTC)
KEY = "raw/coinmarketcap/2026/11/04/1605.csv"
OTHER_BUCKET = "someone-elses-bucket"
LAYOUT = "(expected raw/<source>/YYYY/MM/DD/HHMM.csv)"


@pytest.fixture
def reads():
    """The S3 keys the process function reads (GetObject), in order."""
    seen: list[str] = []
    clients.s3().meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: seen.append(params["Key"])
    )
    return seen


def good_event(bucket: str, /, **changes):
    return {"bucket": bucket, "key": KEY, "source": SOURCE, "scheduled_at": "2026-11-04T16:05:00Z", "rows": 10,
            **changes}  # fmt: skip


def deliver(body: str) -> dict:
    """The process function, as Lambda calls it with one SQS FIFO record."""
    record = load_event("sqs_fifo_record", body=body, messageId=str(uuid.uuid4()))
    return process_handlers.coinmarketcap({"Records": [record]}, None)


def hostile(bucket: str) -> list[tuple[dict, str]]:
    """(event changes, the exact reason it is quarantined with)."""
    return [
        ({"bucket": OTHER_BUCKET}, f"event names bucket '{OTHER_BUCKET}', not this pipeline's bucket '{bucket}'"),
        ({"bucket": "no-such-bucket-anywhere"},
         f"event names bucket 'no-such-bucket-anywhere', not this pipeline's bucket '{bucket}'"),
        ({"bucket": bucket.upper()}, f"event names bucket '{bucket.upper()}', not this pipeline's bucket '{bucket}'"),
        ({"bucket": f"{bucket} "}, f"event names bucket '{bucket} ', not this pipeline's bucket '{bucket}'"),
        ({"source": "yahoo_finance"}, "event for 'yahoo_finance' reached the 'coinmarketcap' consumer"),
        ({"key": "raw/yahoo_finance/2026/11/04/1605.csv"},
         "event key 'raw/yahoo_finance/2026/11/04/1605.csv' is not under raw/coinmarketcap/"),
        ({"key": "processed/coinmarketcap/2026/11/04/1605.parquet"},
         "event key 'processed/coinmarketcap/2026/11/04/1605.parquet' is not under raw/coinmarketcap/"),
        ({"key": "state/coinmarketcap_api.json"},
         "event key 'state/coinmarketcap_api.json' is not under raw/coinmarketcap/"),
        ({"key": "/raw/coinmarketcap/2026/11/04/1605.csv"},
         "event key '/raw/coinmarketcap/2026/11/04/1605.csv' is not under raw/coinmarketcap/"),
        ({"key": "raw%2Fcoinmarketcap%2F2026%2F11%2F04%2F1605.csv"},
         "event key 'raw%2Fcoinmarketcap%2F2026%2F11%2F04%2F1605.csv' is not under raw/coinmarketcap/"),
        ({"key": "raw/coinmarketcap/../yahoo_finance/2026/11/04/1605.csv"},
         f"not a raw object key: 'raw/coinmarketcap/../yahoo_finance/2026/11/04/1605.csv' {LAYOUT}"),
        ({"key": "raw/coinmarketcap/2026/11/04/../04/1605.csv"},
         f"not a raw object key: 'raw/coinmarketcap/2026/11/04/../04/1605.csv' {LAYOUT}"),
        ({"key": "raw/coinmarketcap/2026%2F11/04/1605.csv"},
         f"not a raw object key: 'raw/coinmarketcap/2026%2F11/04/1605.csv' {LAYOUT}"),
        ({"key": KEY + "\n"}, f"not a raw object key: '{KEY}\\n' {LAYOUT}"),
        ({"key": KEY + ".gz"}, f"not a raw object key: '{KEY}.gz' {LAYOUT}"),
        ({"key": "raw/coinmarketcap/latest.csv"}, f"not a raw object key: 'raw/coinmarketcap/latest.csv' {LAYOUT}"),
        ({"key": "raw/coinmarketcap/２０２６/11/04/1605.csv"},
         f"not a raw object key: 'raw/coinmarketcap/２０２６/11/04/1605.csv' {LAYOUT}"),
        ({"key": "raw/coinmarketcap/2026/02/30/1605.csv"},
         "not a raw object key: 'raw/coinmarketcap/2026/02/30/1605.csv' (day is out of range for month; "
         "expected raw/<source>/YYYY/MM/DD/HHMM.csv)"),
        ({"key": "raw/coinmarketcap/2026/11/04/2405.csv", "scheduled_at": "2026-11-05T00:05:00Z"},
         "not a raw object key: 'raw/coinmarketcap/2026/11/04/2405.csv' (hour must be in 0..23; "
         "expected raw/<source>/YYYY/MM/DD/HHMM.csv)"),
        ({"key": "raw/coinmarketcap/2026/11/04/1660.csv"},
         "not a raw object key: 'raw/coinmarketcap/2026/11/04/1660.csv' (minute must be in 0..59; "
         "expected raw/<source>/YYYY/MM/DD/HHMM.csv)"),
        ({"scheduled_at": "2031-11-04T16:05:00Z"},
         "event scheduled_at '2031-11-04T16:05:00Z' is not its key's minute 2026-11-04T16:05:00Z"),
        ({"scheduled_at": "2026-11-04T16:05:30Z"},
         "event scheduled_at '2026-11-04T16:05:30Z' is not its key's minute 2026-11-04T16:05:00Z"),
        ({"scheduled_at": "2026-11-04T16:05:00-05:00"},
         "event scheduled_at '2026-11-04T16:05:00-05:00' is not its key's minute 2026-11-04T16:05:00Z"),
        ({"scheduled_at": "9999-12-31T23:00:00-05:00"}, "not a time in range: '9999-12-31T23:00:00-05:00'"),
        ({"scheduled_at": "soon"}, "not an ISO-8601 time: 'soon'"),
        ({"rows": -1}, "not a pipeline event: rows: Input should be greater than or equal to 0 (got -1)"),
    ]  # fmt: skip


def test_every_hostile_event_is_quarantined_unread_with_its_reason_and_filed_by_its_message(stack, reads):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    assert good["key"] == KEY
    s3.create_bucket(Bucket=OTHER_BUCKET)
    s3.put_object(Bucket=OTHER_BUCKET, Key=KEY, Body=s3.get_object(Bucket=settings.bucket, Key=KEY)["Body"].read())
    cases = hostile(settings.bucket)

    for changes, _ in cases:
        assert deliver(json.dumps(good_event(settings.bucket, **changes))) == {"batchItemFailures": []}

    assert reads == []  # not one object named by a hostile event was read
    listed = list(quarantine.stored(s3, settings.bucket, SOURCE))
    by_body = {entry.message: (key, entry) for key, entry, _ in listed if entry is not None}
    assert len(listed) == len(by_body) == len(cases)
    for changes, reason in cases:
        key, entry = by_body[json.dumps(good_event(settings.bucket, **changes))]
        assert (entry.scope, entry.raw_key, entry.reason) == ("message", None, reason), changes
        assert key.startswith(f"quarantine/{SOURCE}/messages/") and key == entry.key
    processed = s3.list_objects_v2(Bucket=settings.bucket, Prefix="processed/").get("Contents", [])
    assert processed == []  # nothing reached the sink
    assert quarantine.marks(s3, settings.bucket, SOURCE) == {}  # no record stands in for the real minute


@pytest.mark.parametrize(
    "body",
    [
        lambda b: json.dumps(good_event(b)),
        lambda b: json.dumps(good_event(b, scheduled_at="2026-11-04T16:05:00+00:00")),
        lambda b: json.dumps(good_event(b, scheduled_at="2026-11-04T11:05:00-05:00")),
        lambda b: json.dumps(good_event(b, scheduled_at="2026-11-04T16:05:00.000Z")),
        lambda b: json.dumps(good_event(b, scheduled_at="2026-11-04 16:05:00Z")),
        lambda b: json.dumps(good_event(b, scheduled_at="2026-11-04T16:05:00")),  # naive: UTC
        lambda b: json.dumps(good_event(b, rows=0)),  # the claim is informational
        lambda b: json.dumps(good_event(b, rows=1_000_000)),
        lambda b: json.dumps(dict(reversed(good_event(b, note="more fields may follow").items())), indent=4),
    ],
    ids=["as-published", "+00:00", "-05:00", "millis", "space", "naive", "rows-0", "rows-huge", "reordered"],
)
def test_an_event_of_this_pipeline_written_another_way_loads(stack, reads, body):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)

    assert deliver(body(settings.bucket)) == {"batchItemFailures": []}

    assert reads == [KEY]
    assert list(quarantine.records(s3, settings.bucket, SOURCE)) == []
    assert s3.head_object(Bucket=settings.bucket, Key=processed_key(KEY))["ContentLength"] > 0


def test_another_buckets_object_never_becomes_ours_and_verify_stays_truthful(stack):
    """The measured bucket swap: another bucket's CSV, named by an event, was loaded as our processed object."""
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    theirs = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)  # a well-formed CSV at KEY...
    s3.create_bucket(Bucket=OTHER_BUCKET)
    body = s3.get_object(Bucket=settings.bucket, Key=theirs["key"])["Body"].read()
    s3.put_object(Bucket=OTHER_BUCKET, Key=KEY, Body=body)
    s3.delete_object(Bucket=settings.bucket, Key=KEY)  # ...that exists only in the other bucket

    assert deliver(json.dumps(good_event(OTHER_BUCKET))) == {"batchItemFailures": []}

    assert s3.list_objects_v2(Bucket=settings.bucket, Prefix="processed/").get("KeyCount") == 0
    (entry,) = quarantine.records(s3, settings.bucket, SOURCE)
    assert entry.reason == f"event names bucket '{OTHER_BUCKET}', not this pipeline's bucket '{settings.bucket}'"
    checked = CliRunner().invoke(app, ["verify", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["ok"] is True


def test_rows_processed_come_from_what_was_loaded_never_from_the_events_claim(stack):
    settings = stack.settings()
    sqs = aws.client("sqs", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)  # publishes the real event
    for body in (good_event(settings.bucket, rows=1_000_000), good_event(OTHER_BUCKET, rows=1_000_000)):
        sqs.send_message(QueueUrl=stack.queues[SOURCE], MessageBody=json.dumps(body), MessageGroupId=SOURCE,
                         MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
    runtime = LocalRuntime(sqs, stack.queues, stack.dead_letter_queues, sources=[SOURCE])

    runtime.poll(AT)

    stats = runtime.stats[SOURCE]
    assert len(stats.events) == 3 and stats.failed_deliveries == 0
    assert stats.rows_processed == good["success_rows"] == 10  # one object's rows, however often it is named


def test_redrive_sends_back_only_this_pipelines_events(stack):
    settings = stack.settings()
    sqs = aws.client("sqs", settings)
    queue, dlq = stack.queues[SOURCE], stack.dead_letter_queues[SOURCE]
    forged = [json.dumps(good_event(OTHER_BUCKET)), json.dumps(good_event(settings.bucket, key=KEY + "\n"))]
    for body in [*forged, json.dumps(good_event(settings.bucket))]:
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageGroupId=SOURCE, MessageDeduplicationId=uuid.uuid4().hex)

    result = redrive(sqs, SOURCE, queue, dlq)

    assert (result.redriven, result.kept) == ([KEY], 2)
    left = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert sorted(m["Body"] for m in left) == sorted(forged)


def test_verify_counts_quarantine_only_from_the_objects_own_record(stack):
    """A minute whose sink rows disappear is missing, whatever other records mention its key."""
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    assert deliver(json.dumps(good_event(settings.bucket))) == {"batchItemFailures": []}
    assert deliver(json.dumps(good_event("no-such-bucket-anywhere"))) == {"batchItemFailures": []}
    # a record filed where this minute's own record goes, but written for an event of another bucket
    forged = quarantine.record(SOURCE, "object", "NoSuchBucket", "forged-1", raw_key=KEY,
                               message=json.dumps(good_event("no-such-bucket-anywhere")))  # fmt: skip
    quarantine.put(s3, settings.bucket, forged)
    s3.delete_object(Bucket=settings.bucket, Key=processed_key(KEY))  # the minute's sink rows disappear

    checked = CliRunner().invoke(app, ["verify", "--json"])

    assert checked.exit_code == 1, checked.output
    (report,) = [s for s in json.loads(checked.output)["sources"] if s["source"] == SOURCE]
    assert (report["missing"], report["quarantined"]) == (good["success_rows"], 0)


def test_verify_reads_any_object_one_line_each_and_keeps_the_rest_of_the_report(stack):
    settings = stack.settings()
    s3 = aws.client("s3", settings)
    good = ingest_handlers.coinmarketcap(scheduled_event(SOURCE, AT), None)
    assert deliver(json.dumps(good_event(settings.bucket))) == {"batchItemFailures": []}
    header = s3.get_object(Bucket=settings.bucket, Key=KEY)["Body"].read().split(b"\n")[0]
    bad = {
        "raw/coinmarketcap/2026/11/04/1606.csv": header + b"\n1,Bit\xffcoin,BTC\n",  # not UTF-8
        "raw/coinmarketcap/2026/11/04/1607.csv": header[:20],  # truncated inside its header
    }
    for key, body in bad.items():
        s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
    huge = "raw/coinmarketcap/2026/11/04/1608.csv"  # a field over the csv module's default 128 KiB limit
    s3.put_object(Bucket=settings.bucket, Key=huge, Body=header + b'\n1,"' + b"x" * 200_000 + b'",BTC\n')

    as_json = CliRunner().invoke(app, ["verify", "--json"])
    as_table = CliRunner().invoke(app, ["verify"])

    assert as_json.exit_code == as_table.exit_code == 1
    assert "Traceback" not in as_table.output and isinstance(as_table.exception, SystemExit)
    (report,) = [s for s in json.loads(as_json.output)["sources"] if s["source"] == SOURCE]
    differences = {d["raw_key"]: d for d in report["differences"]}
    for key in bad:
        assert differences[key]["status"] == "unreadable", differences[key]
        assert differences[key]["note"].startswith("unreadable: ") and "\n" not in differences[key]["note"]
    # read in full (no field limit): its one row, ragged (3 fields for 14 columns), was never processed: missing
    assert differences[huge]["status"] != "unreadable" and differences[huge]["missing"] == 1, differences[huge]
    assert KEY not in differences and report["sink_rows"] == good["success_rows"]  # the rest intact
