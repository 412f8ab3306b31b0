"""Emptying a queue leaves nothing that could reach or block the next test or run, even when SQS refuses the purge
(one a minute): in-flight messages of a FIFO group are what blocked later messages of that group before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs import models as sqs_models

from workbench.local.queues import PURGE_INTERVAL_SECONDS, empty_queue


class _Clock:
    """moto's SQS clock (purge interval, visibility, delay), moved on by the helper's sleeps instead of waited."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(sqs_models, "unix_time", lambda dt=None: clock.now)
    monkeypatch.setattr(sqs_models, "unix_time_millis", lambda dt=None: clock.now * 1000)
    return clock


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _fifo(sqs: Any) -> str:
    return sqs.create_queue(
        QueueName=f"q-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "900"},
    )["QueueUrl"]


def _send(sqs: Any, url: str, group: str = "yahoo_finance", **extra: Any) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=uuid.uuid4().hex, MessageGroupId=group,
                     MessageDeduplicationId=uuid.uuid4().hex, **extra)  # fmt: skip


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def _in_flight(sqs: Any, url: str) -> None:
    """A consumer received the group's message and never deleted it (a failed process function)."""
    _send(sqs, url)
    assert len(_receive(sqs, url)) == 1


LEFT_BEHIND = {
    "nothing": lambda sqs, url: None,
    "visible messages": lambda sqs, url: [_send(sqs, url, group=g) for g in ("yahoo_finance", "coinmarketcap")],
    "an in-flight message": _in_flight,
    "an in-flight message and one behind it in its group": lambda sqs, url: (_in_flight(sqs, url), _send(sqs, url)),
}


@pytest.mark.parametrize("purged_a_moment_ago", [False, True], ids=["purge-allowed", "purge-refused"])
@pytest.mark.parametrize("left", list(LEFT_BEHIND), ids=list(LEFT_BEHIND))
def test_after_emptying_the_next_message_of_a_group_is_delivered(
    sqs: Any, clock: _Clock, left: str, purged_a_moment_ago: bool
) -> None:
    url = _fifo(sqs)
    if purged_a_moment_ago:
        sqs.purge_queue(QueueUrl=url)
    LEFT_BEHIND[left](sqs, url)

    empty_queue(sqs, url, sleep=clock.sleep)

    _send(sqs, url)
    assert len(_receive(sqs, url)) == 1  # the new one, and only it


def test_a_refused_purge_waits_only_when_something_is_still_in_flight(sqs: Any, clock: _Clock) -> None:
    visible_only, in_flight = _fifo(sqs), _fifo(sqs)
    for url in (visible_only, in_flight):
        sqs.purge_queue(QueueUrl=url)
    _send(sqs, visible_only)
    _in_flight(sqs, in_flight)

    empty_queue(sqs, visible_only, sleep=clock.sleep)
    assert clock.slept == 0

    empty_queue(sqs, in_flight, sleep=clock.sleep)
    assert 0 < clock.slept <= PURGE_INTERVAL_SECONDS + 2


def test_a_delayed_message_is_gone_too(sqs: Any, clock: _Clock) -> None:
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)

    empty_queue(sqs, url, sleep=clock.sleep)

    clock.now += 60
    assert _receive(sqs, url) == []
