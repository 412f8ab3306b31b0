"""The topology on the local stack routes, deduplicates and dead-letters events as the pipeline relies on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from pipeline.constants import SOURCE_ATTRIBUTE
from pipeline.registry import source_ids
from workbench.cloudformation.template import Template
from workbench.local.servers import LocalStack

SOURCES = source_ids()

pytestmark = pytest.mark.stack


def _clients(stack: LocalStack) -> tuple[Any, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=stack.region
    )
    return (
        session.client("sns", endpoint_url=stack.aws_endpoint_url),
        session.client("sqs", endpoint_url=stack.aws_endpoint_url),
    )


def _publish(sns: Any, stack: LocalStack, source: str, dedup_id: str) -> dict[str, Any]:
    body = {
        "bucket": stack.bucket,
        "key": f"raw/{source}/2024/05/06/1431.csv",
        "source": source,
        "scheduled_at": "2024-05-06T14:31:00Z",
        "rows": 3,
    }
    sns.publish(
        TopicArn=stack.topic_arn,
        Message=json.dumps(body),
        MessageGroupId=source,
        MessageDeduplicationId=dedup_id,
        MessageAttributes={SOURCE_ATTRIBUTE: {"DataType": "String", "StringValue": source}},
    )
    return body


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message visible in the queue (received and deleted)."""
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.mark.parametrize("source", SOURCES)
def test_an_event_for_one_source_reaches_only_that_sources_queue(clean_stack: LocalStack, source: str) -> None:
    # GIVEN the stack, WHEN an event for `source` is published to the topic
    sns, sqs = _clients(clean_stack)
    body = _publish(sns, clean_stack, source, dedup_id=uuid.uuid4().hex)

    # THEN exactly that source's queue holds it, with the published JSON as its body (raw delivery)
    received = {s: _drain(sqs, url) for s, url in clean_stack.queues.items()}
    assert [json.loads(m["Body"]) for m in received[source]] == [body]
    assert all(received[other] == [] for other in SOURCES if other != source)


def test_the_same_deduplication_id_twice_is_one_message(clean_stack: LocalStack) -> None:
    sns, sqs = _clients(clean_stack)
    dedup_id = uuid.uuid4().hex
    _publish(sns, clean_stack, "coinmarketcap", dedup_id)
    _publish(sns, clean_stack, "coinmarketcap", dedup_id)
    _publish(sns, clean_stack, "coinmarketcap", uuid.uuid4().hex)  # a new id is a new event

    assert len(_drain(sqs, clean_stack.queues["coinmarketcap"])) == 2


def test_a_poison_message_is_redriven_to_the_dead_letter_queue_after_max_receive_count(
    clean_stack: LocalStack,
) -> None:
    sns, sqs = _clients(clean_stack)
    max_receive_count = int(Template.load().parameters["MaxReceiveCount"])
    queue, dead_letters = clean_stack.queues["openexchangerates"], clean_stack.dead_letter_queues["openexchangerates"]
    body = _publish(sns, clean_stack, "openexchangerates", uuid.uuid4().hex)

    # WHEN a consumer fails on it `maxReceiveCount` times (received, never deleted, back to visible at once)
    for attempt in range(1, max_receive_count + 1):
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"]
        )["Messages"]
        assert messages[0]["Attributes"]["ApproximateReceiveCount"] == str(attempt)

    # THEN the next receive finds nothing: the message has moved to the dead-letter queue, intact
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages", []) == []
    assert [json.loads(m["Body"]) for m in _drain(sqs, dead_letters)] == [body]
