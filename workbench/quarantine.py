"""Retrying the quarantine: each quarantined raw object of a source processed again (`pipeline quarantine retry`);
a record whose object now loads in full is removed. The records themselves are `pipeline.quarantine`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import Event, check_event, iso, parse_raw_key
from pipeline.errors import kind_of, one_line
from pipeline.process import accept_event, process_event
from pipeline.quarantine import Record, stored


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
    result = RetryResult()
    for stored_key, entry, problem in list(stored(s3, bucket, source)):
        if entry is None:
            result.still_failing.append((stored_key, problem))
            continue
        try:
            # a message record: its body is judged again (still not this pipeline's event: the record stays); a raw
            # object's record: that object of this bucket, whatever bucket its message named
            if entry.raw_key is None:
                event = accept_event(entry.message, source=source, bucket=bucket)
            else:
                event = _event_for(entry, bucket)
            outcome = process_event(event, s3=s3, sink=sink)
        except Exception as exc:
            if kind_of(exc) == "transient":
                raise
            result.still_failing.append((stored_key, one_line(exc)))
            continue
        if outcome.rejected:
            result.still_failing.append((stored_key, outcome.rejected[0].reason))
            continue
        s3.delete_object(Bucket=bucket, Key=stored_key)
        result.resolved.append(stored_key)
    return result


def _event_for(entry: Record, bucket: str) -> Event:
    """The event of a raw object's record, for that object in `bucket` (a ContractError if the key is not one)."""
    _, minute = parse_raw_key(entry.raw_key or "")
    event = Event(bucket=bucket, key=entry.raw_key or "", source=entry.source, scheduled_at=iso(minute), rows=0)
    check_event(event, bucket=bucket, source=entry.source)
    return event
