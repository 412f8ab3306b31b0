"""Emptying the local stack's queues, in-flight messages included.

SQS allows one `PurgeQueue` a minute per queue. Receiving and deleting what is visible is not a substitute: a
message an earlier consumer received and did not delete stays in flight until its visibility timeout ends, and on
a FIFO queue it holds back every later message of its group until then. So when a purge is refused and anything is
left, the purge is tried again until the minute is over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

PURGE_INTERVAL_SECONDS = 60
"""SQS accepts one PurgeQueue per queue in this many seconds."""

_RETRY_SECONDS = 2

_log = logging.getLogger(__name__)

_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def empty_queues(sqs: Any, urls: Iterable[str], *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Leave every queue in `urls` with no message at all: visible, in flight or delayed."""
    for url in urls:
        empty_queue(sqs, url, sleep=sleep)


def empty_queue(sqs: Any, url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Purge `url`; if SQS refuses (a purge ran in the last minute), delete what is visible, and if messages are
    still left (in flight, delayed, or behind an in-flight one in their FIFO group), purge once the minute is up."""
    refused = sqs.exceptions.PurgeQueueInProgress
    try:
        sqs.purge_queue(QueueUrl=url)
        return
    except refused:
        _delete_visible(sqs, url)
    left = _left(sqs, url)
    if not left:
        return
    _log.warning(
        "%d message(s) of %s are in flight or delayed and a purge ran in the last minute: waiting up to %d s to purge",
        left, url.rsplit("/", 1)[-1], PURGE_INTERVAL_SECONDS,
    )  # fmt: skip
    for attempt in Retrying(
        retry=retry_if_exception(lambda error: isinstance(error, refused)),
        wait=wait_fixed(_RETRY_SECONDS),
        stop=stop_after_attempt((PURGE_INTERVAL_SECONDS + 10) // _RETRY_SECONDS),
        sleep=sleep,
        reraise=True,
    ):
        with attempt:
            sqs.purge_queue(QueueUrl=url)


def _left(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _COUNTS)


def _delete_visible(sqs: Any, url: str) -> None:
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
