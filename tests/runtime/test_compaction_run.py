"""The compaction on the local schedule, as the stack runs it: a run across midnight ends with the finished day
in one file, `verify` clean across compacted and uncompacted minutes, and a replay after compaction changes no
count and duplicates nothing a reader sees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import aws, clients
from pipeline.contracts import Event, iso, raw_key
from pipeline.sinks.s3parquet.dataset import ProcessedDataset, compacted_key
from workbench.local.demo import use_stack
from workbench.local.runtime import LocalRuntime
from workbench.replay import raw_objects
from workbench.verify import verify

pytestmark = [pytest.mark.stack, pytest.mark.slow]
SOURCE = "coinmarketcap"
START = datetime(2026, 11, 2, 23, 45, tzinfo=UTC)
MINUTES = 90  # to 01:14 of the next day: the 2nd is finished (an hour past its end) at 01:00; compacted at 01:05
END = START + timedelta(minutes=MINUTES - 1)


def counts(report) -> tuple[int, int, int, int]:
    (source,) = report.sources
    return source.total("raw_rows"), source.total("sink_rows"), source.total("missing"), source.total("extra")


def test_a_run_across_midnight_compacts_the_day_and_stays_reconciled(clean_stack, local_env):
    clients.reset()
    use_stack(clean_stack)
    sqs, s3 = aws.client("sqs", local_env), aws.client("s3", local_env)
    runtime = LocalRuntime(
        sqs, clean_stack.queues, clean_stack.dead_letter_queues, sources=[SOURCE], compact_every=timedelta(minutes=10)
    )

    report = runtime.run(MINUTES, START)

    assert report.ok, report.as_dict()
    day = START.date()
    assert [c["day"] for c in runtime.compactions] == [day.isoformat()]
    assert runtime.compactions[0]["minutes"] == runtime.compactions[0]["deleted"] == 15
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=local_env.bucket, Prefix="processed/")["Contents"]]
    assert [k for k in listed if k.startswith(f"processed/{SOURCE}/2026/11/02/")] == [compacted_key(day)]
    assert len([k for k in listed if k.startswith(f"processed/{SOURCE}/2026/11/03/")]) == MINUTES - 15

    checked = verify(local_env, START, END, sources=[SOURCE])
    assert checked.ok, checked.as_dict()
    raw_rows, sink_rows, missing, extra = counts(checked)
    assert raw_rows == sink_rows > 0 and (missing, extra) == (0, 0)
    assert counts(verify(local_env, sources=[SOURCE])) == counts(checked)  # the open window too

    # a replay after compaction: every raw object's event again (a new deduplication id, as after SNS's window)
    for key, at in raw_objects(s3, local_env.bucket, SOURCE, START, END):
        event = Event(bucket=local_env.bucket, key=key, source=SOURCE, scheduled_at=iso(at), rows=0)
        sqs.send_message(
            QueueUrl=clean_stack.queues[SOURCE],
            MessageBody=event.model_dump_json(),
            MessageGroupId=SOURCE,
            MessageDeduplicationId=uuid.uuid4().hex,
            MessageAttributes={"source": {"DataType": "String", "StringValue": SOURCE}},
        )
    runtime.poll(END + timedelta(minutes=5))
    assert runtime.stats[SOURCE].process_errors == []

    replayed = verify(local_env, START, END, sources=[SOURCE])
    assert replayed.ok, replayed.as_dict()
    assert counts(replayed) == counts(checked)
    table = ProcessedDataset(s3, local_env.bucket).read(raw_key(SOURCE, START), raw_key(SOURCE, END))
    assert table is not None and table.num_rows == raw_rows
    pairs = list(zip(table.column("raw_key").to_pylist(), table.column("symbol").to_pylist(), strict=True))
    assert len(set(pairs)) == len(pairs)  # no minute twice for a reader

    runtime.scheduled_compaction(END + timedelta(hours=2))  # the next run folds the replayed minutes back in
    assert counts(verify(local_env, START, END, sources=[SOURCE])) == counts(checked)
    clients.reset()
