"""Terminal errors set aside: what can never succeed is written under `quarantine/` in the bucket, never retried.

A process function that meets a terminal error (`pipeline.errors.kind_of(exc) == "terminal"`) does not fail the
record: it writes one JSON document and reports the record as done, so the FIFO message group moves on.

- `quarantine/<source>/YYYY/MM/DD/HHMM-<message id>.json` for a record of a raw object (its scheduled minute);
- `quarantine/<source>/messages/<hash of the message id and body>.json` for a message that is not an event this
  pipeline wrote (another bucket, a key of another source or outside the layout, a time that is not its key's):
  such a record names no raw object and is never filed where a raw object's record goes;
- `scope`: `rows` (some success rows of the raw object do not validate: the others were loaded, these are listed
  with their line numbers and reasons), `object` (the whole raw object: gone, unreadable, or refused by the sink
  for its content) or `message` (a message body that is not a pipeline event);
- `raw_key`, `reason`, `message_id`, `message` (the body as received), `quarantined_at`.

`verify` counts quarantined rows in their own column, never as lost, and only from a raw object's own record: filed
under that object's minute, its message an event this pipeline wrote for that very key. Once the cause is fixed
(the raw object re-ingested, the parser or the sink corrected), `workbench.quarantine.retry` processes the raw
object again and removes the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.constants import QUARANTINE_PREFIX, SourceId
from pipeline.contracts import ContractError, Event, check_event, iso, parse_raw_key
from pipeline.errors import one_line

Scope = Literal["rows", "object", "message"]


@dataclass(frozen=True)
class RejectedRow:
    """One success row of a raw object that cannot validate: its CSV line (the header is line 1) and why."""

    line: int
    reason: str
    row: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One quarantined message (or part of its raw object)."""

    source: SourceId
    scope: Scope
    reason: str
    message_id: str
    raw_key: str | None = None
    message: str = ""
    rows: tuple[RejectedRow, ...] = ()
    quarantined_at: str = ""

    @property
    def key(self) -> str:
        """Under its raw object's minute; a record that names no raw object of its source, under its message's
        hash (so it can never stand in for a legitimate minute's record)."""
        minute = _minute(self.raw_key, self.source) if self.scope != "message" else None
        if minute is None:
            digest = hashlib.sha256(f"{self.message_id}\n{self.message}".encode(errors="surrogatepass")).hexdigest()
            return f"{QUARANTINE_PREFIX}/{self.source}/{MESSAGES}/{digest[:40]}.json"
        return f"{QUARANTINE_PREFIX}/{self.source}/{minute:%Y/%m/%d/%H%M}-{_safe(self.message_id)}.json"

    @property
    def row_count(self) -> int:
        """Rows this record keeps out of the sink (an `object` record counts the object, a message nothing)."""
        return len(self.rows)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        data = json.loads(text)
        rows = tuple(RejectedRow(int(r["line"]), str(r["reason"]), dict(r.get("row") or {})) for r in data["rows"])
        return cls(
            source=data["source"],
            scope=data["scope"],
            reason=data["reason"],
            message_id=data["message_id"],
            raw_key=data.get("raw_key"),
            message=data.get("message", ""),
            rows=rows,
            quarantined_at=data.get("quarantined_at", ""),
        )


MESSAGES = "messages"


def _minute(raw_key: str | None, source: str) -> datetime | None:
    """The scheduled minute of `raw_key` if it is a raw object key of `source`, else None."""
    if not raw_key:
        return None
    try:
        owner, minute = parse_raw_key(raw_key)
    except ValueError:
        return None
    return minute if owner == source else None


def _safe(message_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in message_id)[:128] or "unknown"


def record(
    source: SourceId,
    scope: Scope,
    reason: str,
    message_id: str,
    *,
    raw_key: str | None = None,
    message: str = "",
    rows: Sequence[RejectedRow] = (),
    now: datetime | None = None,
) -> Record:
    return Record(source, scope, reason, message_id, raw_key, message, tuple(rows), iso(now or datetime.now(UTC)))


def put(s3: Any, bucket: str, entry: Record) -> str:
    """Write the record; a redelivery of the same message writes the same key (idempotent)."""
    s3.put_object(Bucket=bucket, Key=entry.key, Body=entry.to_json().encode(), ContentType="application/json")
    return entry.key


def stored(s3: Any, bucket: str, source: SourceId | None = None) -> Iterator[tuple[str, Record | None, str]]:
    """(S3 key, record, "") of every quarantine object of `source` (or of every source), in key order; an object
    that is not a readable record comes as (S3 key, None, why)."""
    prefix = f"{QUARANTINE_PREFIX}/{source}/" if source else f"{QUARANTINE_PREFIX}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".json"):
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            try:
                yield item["Key"], Record.from_json(body), ""
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                yield item["Key"], None, f"not a quarantine record: {one_line(exc)}"


def records(s3: Any, bucket: str, source: SourceId | None = None) -> Iterator[Record]:
    """Every readable quarantine record of `source` (or of every source), in key order."""
    for _, entry, _ in stored(s3, bucket, source):
        if entry is not None:
            yield entry


def own_event(entry: Record, bucket: str) -> Event | None:
    """The event a raw object's record was written for, if the record is that object's own: the record names a raw
    key of its source, and its message is an event this pipeline wrote for `bucket` and that very key."""
    if entry.scope == "message" or _minute(entry.raw_key, entry.source) is None:
        return None
    try:
        event = Event.model_validate_json(entry.message)
        check_event(event, bucket=bucket, source=entry.source)
    except (ValueError, ContractError):
        return None
    return event if event.key == entry.raw_key else None


@dataclass
class Marks:
    """What the quarantine holds of one raw object: rejected lines, or the whole object."""

    lines: set[int] = field(default_factory=set)
    whole: bool = False

    def covers(self, line: int) -> bool:
        return self.whole or line in self.lines


def marks(s3: Any, bucket: str, source: SourceId) -> dict[str, Marks]:
    """raw key -> the lines (or the whole object) quarantined, for `verify`: only from each raw object's own
    records (filed under its minute, written for an event of this bucket and that key), never because some record
    mentions the key."""
    found: dict[str, Marks] = {}
    for stored_key, entry, _ in stored(s3, bucket, source):
        if entry is None or entry.raw_key is None or stored_key != entry.key or own_event(entry, bucket) is None:
            continue
        mark = found.setdefault(entry.raw_key, Marks())
        mark.lines.update(r.line for r in entry.rows)
        mark.whole = mark.whole or entry.scope == "object"
    return found
