"""The local runtime does what the SQS event source mapping does: batches, partial failures, FIFO order, DLQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from pipeline import aws
from pipeline.handlers import clients
from pipeline.local.runtime import LocalRuntime

pytestmark = pytest.mark.stack
T0 = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)


@pytest.fixture
def sqs(clean_stack, local_env):
    clients.reset()
    yield aws.client("sqs", local_env)
    clients.reset()


def send(sqs, url, body, group="coinmarketcap"):
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex)


def test_a_poison_message_is_retried_then_redriven_to_the_dead_letter_queue(sqs, clean_stack):
    """GIVEN a message that is not a pipeline event WHEN the real process handler gets it THEN it ends in the DLQ."""
    send(sqs, clean_stack.queues["coinmarketcap"], "this is not an event")
    runtime = LocalRuntime(sqs, clean_stack.queues, clean_stack.dead_letter_queues, sources=["coinmarketcap"])

    runtime.poll(T0)
    runtime.settle(T0)

    stats = runtime.stats["coinmarketcap"]
    assert stats.failed_deliveries == 3  # maxReceiveCount in the template
    assert stats.rows_processed == 0
    assert runtime.dead_letters() == {"coinmarketcap": 1}
    dlq = clean_stack.dead_letter_queues["coinmarketcap"]
    dead = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0)["Messages"]
    assert dead[0]["Body"] == "this is not an event"
    assert "not a pipeline event" in stats.process_errors[0]


def test_a_failed_record_is_retried_in_fifo_order_and_the_rest_of_its_batch_too(sqs, clean_stack):
    """GIVEN four messages of one group WHEN the second fails once THEN all four are processed, in order."""
    url = clean_stack.queues["coinmarketcap"]
    for i in range(4):
        send(sqs, url, f"m{i}")
    processed: list[str] = []
    failed_once: set[str] = set()
    processor = SqsFifoPartialProcessor()

    def record_handler(record):
        if record.body == "m1" and "m1" not in failed_once:
            failed_once.add("m1")
            raise RuntimeError("sink down")
        processed.append(record.body)

    def handler(event, context):
        return process_partial_response(event=event, record_handler=record_handler, processor=processor)

    runtime = LocalRuntime(
        sqs,
        clean_stack.queues,
        clean_stack.dead_letter_queues,
        sources=["coinmarketcap"],
        process_handlers={"coinmarketcap": handler},
    )
    runtime.poll(T0)
    assert processed == ["m0"]  # m1 failed: m2 and m3 were reported failed with it, not processed out of order
    runtime.poll(T0 + timedelta(seconds=10))
    assert processed == ["m0"]  # still invisible: the visibility timeout has not passed on the virtual clock
    runtime.settle(T0)

    assert processed == ["m0", "m1", "m2", "m3"]
    assert runtime.stats["coinmarketcap"].failed_deliveries == 3
    assert runtime.dead_letters() == {"coinmarketcap": 0}
