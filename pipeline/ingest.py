"""One ingest invocation: fetch -> raw CSV in S3 at the scheduled minute's key -> one event on the topic."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.constants import SourceId
from pipeline.contracts import ContractError, Event, floor_minute, iso, raw_key
from pipeline.events import publish
from pipeline.raw import write_raw
from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, get_source
from pipeline.sources.base import MAX_CLOCK_SKEW
from pipeline.state import S3State

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_sns.client import SNSClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    source: SourceId
    scheduled_at: datetime
    key: str | None = None
    rows: int = 0
    success_rows: int = 0
    etag: str | None = None
    message_id: str | None = None
    kept_existing: bool = False
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "scheduled_at": iso(self.scheduled_at),
            "key": self.key,
            "rows": self.rows,
            "success_rows": self.success_rows,
            "message_id": self.message_id,
            "kept_existing": self.kept_existing,
            "skipped": self.skipped,
        }


def ingest(
    source_id: SourceId,
    scheduled_at: datetime,
    *,
    settings: Settings,
    s3: S3Client,
    sns: SNSClient,
    now: datetime | None = None,
) -> IngestResult:
    """Fetch the scheduled minute of one source, write its raw object and publish its event.

    The key comes from the scheduled minute, so a retry or a replay of the same minute writes the same key; the
    raw object is never replaced by one with fewer success rows. A source error propagates (no raw object is
    written, so no garbage goes downstream); a minute with nothing to fetch returns a skipped result. A scheduled
    minute later than the wall clock (`now`) beyond `MAX_CLOCK_SKEW` has not come yet: refused (terminal) before
    anything is fetched, written or kept in a source's state.
    """
    at = floor_minute(scheduled_at)
    clock = now or datetime.now(UTC)
    if at > clock + MAX_CLOCK_SKEW:
        raise ContractError(
            f"{source_id}: scheduled minute {iso(at)} is later than the clock ({iso(clock)}): not ingested, "
            "a minute is ingested once it has come"
        )
    source = get_source(source_id)
    try:
        payload = source.fetch(settings, at, S3State(s3, settings.bucket))
    except NothingToIngest as exc:
        log.info("%s %s: skipped: %s", source_id, iso(at), exc)
        return IngestResult(source_id, at, skipped=str(exc))
    rows = source.parse(payload, scheduled_at=at, ingested_at=now or datetime.now(UTC))
    raw = write_raw(s3, settings.bucket, raw_key(source_id, at), source_id, rows)
    event = Event(bucket=raw.bucket, key=raw.key, source=source_id, scheduled_at=iso(at), rows=raw.success_rows)
    message_id = publish(sns, settings.topic_arn, event, raw.etag)
    return IngestResult(source_id, at, raw.key, raw.rows, raw.success_rows, raw.etag, message_id, raw.kept_existing)
