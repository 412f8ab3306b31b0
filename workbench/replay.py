"""Publish the events of stored raw objects again: after an outage of a sink, or to rebuild one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.aws import list_objects
from pipeline.constants import META_SUCCESS_ROWS, RAW_PREFIX, SourceId
from pipeline.contracts import ContractError, Event, check_source, iso, parse_raw_key, raw_key
from pipeline.events import publish

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client


def raw_objects(
    s3: S3Client, bucket: str, source: SourceId, start: datetime | None = None, end: datetime | None = None
) -> Iterator[tuple[str, datetime]]:
    """Keys (and scheduled minutes) of the raw objects of `source`, oldest first, within [start, end].

    Keys sort by time, so the listing starts at the window's first key and stops at the first key past its end;
    a stray file under the prefix that is not a raw object is skipped.
    """
    first = raw_key(source, start) if start is not None else None
    for item in list_objects(s3, bucket, f"{RAW_PREFIX}/{source}/", first):
        try:
            _, at = parse_raw_key(item["Key"])
        except ContractError:
            continue
        if start is not None and at < start:
            continue
        if end is not None and at > end:
            return
        yield item["Key"], at


def replay(
    s3: Any,
    sns: Any,
    bucket: str,
    topic_arn: str,
    *,
    sources: Iterable[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Publish one event per stored raw object; returns how many.

    The deduplication id is the same as the original publish (bucket, key, ETag), so within SNS FIFO's
    five-minute deduplication window a replay of an unchanged object is dropped; after it, the event is
    delivered again and the idempotent sinks leave one row per natural key.
    """
    count = 0
    for source in sources:
        sid = check_source(source)
        for key, at in raw_objects(s3, bucket, sid, start, end):
            head = s3.head_object(Bucket=bucket, Key=key)
            rows = int(head.get("Metadata", {}).get(META_SUCCESS_ROWS, "0"))
            event = Event(bucket=bucket, key=key, source=sid, scheduled_at=iso(at), rows=rows)
            publish(sns, topic_arn, event, head["ETag"])
            count += 1
    return count
