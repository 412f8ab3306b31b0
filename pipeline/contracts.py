"""The contracts other parts rely on: raw layout and columns, the event, natural keys, scheduled time."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from pipeline.constants import PROCESSED_PREFIX, RAW_PREFIX, SourceId
from pipeline.errors import TerminalError

STATUS_SUCCESS: Final = "success"
STATUS_ERROR: Final = "error"

_RAW_KEY = re.compile(
    r"^raw/(?P<source>[a-z_]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<hh>\d{2})(?P<mm>\d{2})\.csv$"
)


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
    return value.astimezone(UTC)


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
    match = _RAW_KEY.match(key)
    if not match:
        raise ContractError(f"not a raw object key: {key!r} (expected raw/<source>/YYYY/MM/DD/HHMM.csv)")
    g = match.groupdict()
    at = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["hh"]), int(g["mm"]), tzinfo=UTC)
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
    rows: int

    def deduplication_id(self, etag: str) -> str:
        return deduplication_id(self.bucket, self.key, etag)


def deduplication_id(bucket: str, key: str, etag: str) -> str:
    """A re-ingest with new content is a new event; a duplicate publish of the same content is not."""
    return hashlib.sha256(f"{bucket}/{key}@{etag.strip(chr(34))}".encode()).hexdigest()[:128]
