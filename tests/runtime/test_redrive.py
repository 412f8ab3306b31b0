"""Emptying a dead-letter queue: good events go back to their queue in order, garbage is kept or archived."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from pipeline import aws, clients
from pipeline.handlers import ingest as ingest_handlers
from pipeline.redrive import redrive
from workbench.local.demo import use_stack
from workbench.local.runtime import LocalRuntime, scheduled_event

pytestmark = pytest.mark.stack
AT = datetime(2026, 11, 4, 16, 0, tzinfo=UTC)
POISON = '{"note": "not a pipeline event"}'


@pytest.fixture
def dead_lettered(clean_stack):
    """GIVEN a poison message and a good event behind it, both dead-lettered after `maxReceiveCount` receives."""
    use_stack(clean_stack)
    clients.reset()
    settings = clean_stack.settings()
    sqs = aws.client("sqs", settings)
    queue, dlq = clean_stack.queues["coinmarketcap"], clean_stack.dead_letter_queues["coinmarketcap"]
    sqs.send_message(
        QueueUrl=queue, MessageBody=POISON, MessageGroupId="coinmarketcap", MessageDeduplicationId=uuid.uuid4().hex
    )
    good = ingest_handlers.coinmarketcap(scheduled_event("coinmarketcap", AT), None)

    def down(event, context):  # a process function that fails every record (its sink down, say)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    failing = LocalRuntime(
        sqs,
        clean_stack.queues,
        clean_stack.dead_letter_queues,
        sources=["coinmarketcap"],
        process_handlers={"coinmarketcap": down},
        redrive=lambda source: 0,  # no scheduled redrive here: the test redrives by hand
    )
    failing.poll(AT)
    failing.settle(AT)
    assert failing.dead_letters() == {"coinmarketcap": 2}
    runtime = LocalRuntime(
        sqs, clean_stack.queues, clean_stack.dead_letter_queues, sources=["coinmarketcap"], redrive=lambda source: 0
    )
    return SimpleNamespace(
        sqs=sqs, s3=aws.client("s3", settings), bucket=settings.bucket, runtime=runtime, queue=queue, dlq=dlq, good=good
    )


def test_redrive_sends_the_good_event_back_and_keeps_the_garbage(dead_lettered):
    d = dead_lettered

    result = redrive(d.sqs, "coinmarketcap", d.queue, d.dlq)

    assert result.redriven == [d.good["key"]]
    assert (result.kept, result.archived) == (1, [])
    d.runtime.poll(AT.replace(hour=17))
    assert d.runtime.stats["coinmarketcap"].rows_processed == d.good["success_rows"]
    assert d.runtime.dead_letters() == {"coinmarketcap": 1}
    left = d.sqs.receive_message(QueueUrl=d.dlq, VisibilityTimeout=0)["Messages"]
    assert [m["Body"] for m in left] == [POISON]


def test_redrive_with_archive_copies_the_garbage_to_s3_before_deleting_it(dead_lettered):
    d = dead_lettered

    result = redrive(d.sqs, "coinmarketcap", d.queue, d.dlq, s3=d.s3, archive_to=d.bucket)

    assert len(result.redriven) == 1 and result.kept == 0
    (key,) = result.archived
    assert key.startswith("dead-letters/coinmarketcap/")
    archived = json.loads(d.s3.get_object(Bucket=d.bucket, Key=key)["Body"].read())
    assert archived["body"] == POISON
    assert archived["problem"].startswith("not a pipeline event")
    assert d.runtime.dead_letters() == {"coinmarketcap": 0}
