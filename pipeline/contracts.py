"""The contracts other parts rely on: raw layout and columns, the event, natural keys, scheduled time."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from pipeline.constants import PROCESSED_PREFIX, RAW_PREFIX, SourceId
from pipeline.errors import TerminalError

STATUS_SUCCESS: Final = "success"
STATUS_ERROR: Final = "error"

# ASCII digits only, matched whole (no trailing newline, no other Unicode digits): the exact contract layout.
_RAW_KEY = re.compile(
    r"raw/(?P<source>[a-z_]+)/(?P<y>[0-9]{4})/(?P<m>[0-9]{2})/(?P<d>[0-9]{2})/(?P<hh>[0-9]{2})(?P<mm>[0-9]{2})\.csv"
)
_LAYOUT = "raw/<source>/YYYY/MM/DD/HHMM.csv"


class ContractError(TerminalError, ValueError):
    """Input that breaks one of the contracts (a key, an event, a time)."""


def check_source(source: str) -> SourceId:
    from pipeline.registry import source_ids

    if source not in source_ids():
        raise ContractError(f"unknown source {source!r}: expected one of {', '.join(source_ids())}")
    return source


def to_utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 string (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ContractError(f"not an ISO-8601 time: {value!r}") from exc
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past datetime.max in UTC
        raise ContractError(f"not a time in range: {value.isoformat()!r}") from exc


def floor_minute(value: datetime | str) -> datetime:
    return to_utc(value).replace(second=0, microsecond=0)


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second: the format of every timestamp in a raw file."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_minute(event: Mapping[str, Any]) -> datetime:
    """The scheduled minute of an EventBridge scheduled event (its `time`), never the wall clock."""
    try:
        return floor_minute(event["time"])
    except KeyError as exc:
        raise ContractError("the scheduled event has no 'time': is this an EventBridge event?") from exc


def raw_key(source: str, scheduled_at: datetime) -> str:
    at = floor_minute(scheduled_at)
    return f"{RAW_PREFIX}/{check_source(source)}/{at:%Y/%m/%d/%H%M}.csv"


def parse_raw_key(key: str) -> tuple[SourceId, datetime]:
    match = _RAW_KEY.fullmatch(key)
    if not match:
        raise ContractError(f"not a raw object key: {key!r} (expected {_LAYOUT})")
    g = match.groupdict()
    try:
        at = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["hh"]), int(g["mm"]), tzinfo=UTC)
    except ValueError as exc:
        raise ContractError(f"not a raw object key: {key!r} ({exc}; expected {_LAYOUT})") from None
    return check_source(g["source"]), at


def processed_key(key: str) -> str:
    """The processed object derived 1:1 from a raw key: processed/<source>/YYYY/MM/DD/HHMM.parquet."""
    parse_raw_key(key)
    return PROCESSED_PREFIX + key[len(RAW_PREFIX) : -len(".csv")] + ".parquet"


class Event(BaseModel):
    """The event published for every raw object: the body of the SNS FIFO message."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str
    key: str
    source: SourceId
    scheduled_at: str
    rows: int = Field(ge=0)  # informational: the success rows the ingest wrote; counts come from what is loaded

    def deduplication_id(self, etag: str) -> str:
        return deduplication_id(self.bucket, self.key, etag)


def check_event(event: Event, *, bucket: str, source: str) -> datetime:
    """The scheduled minute of an event this pipeline can have written for `source`'s consumer, else a ContractError.

    An event is an instruction to read one object: it is trusted only for the configured `bucket` and a key under
    `raw/<source>/` in the exact contract layout, whose minute is the event's `scheduled_at`. The process and redrive
    functions both ask here, before anything is read; what fails is a poison message.
    """
    if event.source != source:
        raise ContractError(f"event for {event.source!r} reached the {source!r} consumer")
    if event.bucket != bucket:
        raise ContractError(f"event names bucket {event.bucket!r}, not this pipeline's bucket {bucket!r}")
    prefix = f"{RAW_PREFIX}/{source}/"
    if not event.key.startswith(prefix):
        raise ContractError(f"event key {event.key!r} is not under {prefix}")
    _, minute = parse_raw_key(event.key)
    at = to_utc(event.scheduled_at)
    if at != minute:
        raise ContractError(f"event scheduled_at {event.scheduled_at!r} is not its key's minute {iso(minute)}")
    return minute


def deduplication_id(bucket: str, key: str, etag: str) -> str:
    """A re-ingest with new content is a new event; a duplicate publish of the same content is not."""
    return hashlib.sha256(f"{bucket}/{key}@{etag.strip(chr(34))}".encode()).hexdigest()[:128]
