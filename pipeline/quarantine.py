"""Terminal errors set aside: what can never succeed is written under `quarantine/` in the bucket, never retried.

A process function that meets a terminal error (`pipeline.errors.kind_of(exc) == "terminal"`) does not fail the
record: it writes one JSON document and reports the record as done, so the FIFO message group moves on.

- `quarantine/<source>/YYYY/MM/DD/HHMM-<message id>.json` (the raw object's scheduled minute, or the minute the
  message was quarantined when it names no raw object);
- `scope`: `rows` (some success rows of the raw object do not validate: the others were loaded, these are listed
  with their line numbers and reasons), `object` (the whole raw object: gone, unreadable, or refused by the sink
  for its content) or `message` (a message body that is not a pipeline event);
- `raw_key`, `reason`, `message_id`, `message` (the body as received), `quarantined_at`.

`verify` counts quarantined rows in their own column, never as lost. Once the cause is fixed (the raw object
re-ingested, the parser or the sink corrected), `retry` processes the raw object again and removes the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.constants import QUARANTINE_PREFIX, SourceId
from pipeline.contracts import iso, parse_raw_key
from pipeline.errors import kind_of, one_line

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
        minute = _minute(self.raw_key) or datetime.fromisoformat(self.quarantined_at.replace("Z", "+00:00"))
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


def _minute(raw_key: str | None) -> datetime | None:
    if not raw_key:
        return None
    try:
        return parse_raw_key(raw_key)[1]
    except ValueError:
        return None


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


def records(s3: Any, bucket: str, source: SourceId | None = None) -> Iterator[Record]:
    """Every quarantine record of `source` (or of every source), in key order."""
    prefix = f"{QUARANTINE_PREFIX}/{source}/" if source else f"{QUARANTINE_PREFIX}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                yield Record.from_json(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


@dataclass
class Marks:
    """What the quarantine holds of one raw object: rejected lines, or the whole object."""

    lines: set[int] = field(default_factory=set)
    whole: bool = False

    def covers(self, line: int) -> bool:
        return self.whole or line in self.lines


def marks(s3: Any, bucket: str, source: SourceId) -> dict[str, Marks]:
    """raw key -> the lines (or the whole object) quarantined, over every record of `source` (for `verify`)."""
    found: dict[str, Marks] = {}
    for entry in records(s3, bucket, source):
        if entry.raw_key is None:
            continue
        mark = found.setdefault(entry.raw_key, Marks())
        mark.lines.update(r.line for r in entry.rows)
        mark.whole = mark.whole or entry.scope == "object"
    return found


@dataclass
class RetryResult:
    resolved: list[str] = field(default_factory=list)  # quarantine keys removed: their raw object loaded in full
    still_failing: list[tuple[str, str]] = field(default_factory=list)  # (quarantine key, reason)

    def as_dict(self) -> dict[str, Any]:
        return {"resolved": self.resolved, "still_failing": [list(x) for x in self.still_failing]}


def retry(s3: Any, bucket: str, source: SourceId, sink: Any) -> RetryResult:
    """Process each quarantined raw object of `source` again; a record whose object now loads in full is removed.

    A message record (a body that is not an event) is retried by parsing the body again: it stays unless the
    body is an event after all. The sinks are idempotent, so loading the good rows of an object again is safe.
    """
    from pipeline.contracts import Event
    from pipeline.process import parse_event, process_event

    result = RetryResult()
    for entry in list(records(s3, bucket, source)):
        try:
            if entry.raw_key is None:
                event = parse_event(entry.message, source)  # still garbage: a ContractError, the record stays
            else:
                event = Event(
                    bucket=_bucket_of(entry.message, bucket), key=entry.raw_key, source=source, scheduled_at="", rows=0
                )
            outcome = process_event(event, s3=s3, sink=sink)
        except Exception as exc:
            if kind_of(exc) == "transient":
                raise
            result.still_failing.append((entry.key, one_line(exc)))
            continue
        if outcome.rejected:
            result.still_failing.append((entry.key, outcome.rejected[0].reason))
            continue
        s3.delete_object(Bucket=bucket, Key=entry.key)
        result.resolved.append(entry.key)
    return result


def _bucket_of(message: str, default: str) -> str:
    try:
        return str(json.loads(message).get("bucket") or default)
    except (ValueError, AttributeError):
        return default
