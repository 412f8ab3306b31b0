"""Emptying a dead-letter queue the careful way: good events back to their queue, garbage set aside, none lost.

A poison message in a FIFO queue can drag the good events received in the same batches into the dead-letter queue
with it (every receive counts towards `maxReceiveCount`). Once the cause is fixed, `redrive` sends each message
that is a pipeline event (one this pipeline wrote: the configured bucket, a raw key of the source in the contract
layout, the same check as the process function's) back to the source queue, in order, under a new deduplication
id (or the queue would drop it as a duplicate of the original), and leaves what is not an event in the dead-letter
queue, or, with `archive_to`, copies it to `dead-letters/<source>/<message id>.json` in the bucket before deleting it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.constants import SOURCE_ATTRIBUTE, SourceId
from pipeline.contracts import ContractError, Event
from pipeline.errors import one_line
from pipeline.process import accept_event

DEAD_LETTER_PREFIX = "dead-letters"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receive_count: int
    event: Event | None
    problem: str | None

    @property
    def verdict(self) -> str:
        return f"a pipeline event for {self.event.key}" if self.event else str(self.problem)


@dataclass
class RedriveResult:
    redriven: list[str] = field(default_factory=list)  # raw keys of the events sent back, in order
    archived: list[str] = field(default_factory=list)  # S3 keys of the garbage set aside
    kept: int = 0  # garbage left in the dead-letter queue

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": len(self.redriven), "archived": len(self.archived), "kept": self.kept}


def judge(message: dict[str, Any], source: SourceId, bucket: str) -> DeadLetter:
    """What a dead-lettered message is: the process function's own check decides (an event this pipeline wrote
    for `bucket` and a raw key of `source`, or garbage), without reading anything it names."""
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
    try:
        event = accept_event(message["Body"], source=source, bucket=bucket)
        return DeadLetter(message["MessageId"], message["Body"], count, event, None)
    except ContractError as exc:
        return DeadLetter(message["MessageId"], message["Body"], count, None, str(exc))


def redrive(
    sqs: Any,
    source: SourceId,
    queue_url: str,
    dead_letter_queue_url: str,
    *,
    s3: Any = None,
    archive_to: str | None = None,
    max_messages: int = 10_000,
    bucket: str | None = None,
) -> RedriveResult:
    """Move the pipeline events of a dead-letter queue back to `queue_url`; see the module docstring.

    An event is one this pipeline wrote for `bucket` (default: the configured bucket) and a raw key of `source`;
    any other message is garbage, kept or archived like a body that is not an event.
    """
    if bucket is None:
        from pipeline import clients

        bucket = clients.settings().bucket
    result = RedriveResult()
    held: list[str] = []  # receipt handles of garbage left in the queue, made visible again at the end
    seen: set[str] = set()
    while len(seen) < max_messages:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            letter = judge(message, source, bucket)
            if letter.event is not None:
                sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=letter.body,
                    MessageGroupId=source,
                    MessageDeduplicationId=f"redrive-{letter.message_id}",
                    MessageAttributes={SOURCE_ATTRIBUTE: {"DataType": "String", "StringValue": source}},
                )
                result.redriven.append(letter.event.key)
            elif archive_to is not None and s3 is not None:
                key = f"{DEAD_LETTER_PREFIX}/{source}/{letter.message_id}.json"
                s3.put_object(
                    Bucket=archive_to,
                    Key=key,
                    Body=json.dumps({"message_id": letter.message_id, "problem": letter.problem, "body": letter.body}),
                    ContentType="application/json",
                )
                result.archived.append(key)
            else:
                held.append(message["ReceiptHandle"])
                result.kept += 1
                continue
            sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
    for handle in held:
        sqs.change_message_visibility(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return result


# --- the scheduled redrive -------------------------------------------------------------------------------------

PROBE_KEY_FORMAT = "raw/{source}/1970/01/01/0000.csv"  # a valid key before every real one: an empty window


def probe(sink: Any, source: SourceId) -> str | None:
    """None if the sink answers (a reconciliation read of an empty window), else the one-line reason it does not."""
    key = PROBE_KEY_FORMAT.format(source=source)
    try:
        sink.stored_rows(key, key, None, None)
    except Exception as exc:
        return one_line(exc)
    return None


def waiting(sqs: Any, dead_letter_queue_url: str) -> int:
    """Messages in a dead-letter queue (visible or not)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=dead_letter_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@dataclass
class AutoRedriveResult(RedriveResult):
    waiting: int = 0  # messages found in the dead-letter queue
    unhealthy: str | None = None  # why nothing was redriven: the sink's answer to the probe

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | {"waiting": self.waiting, "unhealthy": self.unhealthy}


def auto_redrive(
    sqs: Any, source: SourceId, queue_url: str, dead_letter_queue_url: str, *, sink: Any, bucket: str | None = None
) -> AutoRedriveResult:
    """What the scheduled redrive function does for one source: nothing when the dead-letter queue is empty;
    nothing but a log line when the sink does not answer its probe; otherwise `redrive` (garbage stays)."""
    count = waiting(sqs, dead_letter_queue_url)
    if not count:
        return AutoRedriveResult(waiting=0)
    reason = probe(sink, source)
    if reason is not None:
        return AutoRedriveResult(waiting=count, unhealthy=reason)
    moved = redrive(sqs, source, queue_url, dead_letter_queue_url, bucket=bucket)
    return AutoRedriveResult(moved.redriven, moved.archived, moved.kept, waiting=count)
