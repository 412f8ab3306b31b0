"""The monthly budget of a metered API, in primitives the sources share.

CoinMarketCap's API mode counts credits and Open Exchange Rates counts requests against a plan's monthly
allowance; Yahoo tallies its requests by month. Each keeps its own state document, and each document counts in
the month of the wall clock, in UTC:

- `month_key(at)`: the month a count belongs to, `YYYY-MM`; `month_span(at)`: its start and the next month's
  start, 00:00 UTC (a month is whole days in UTC, so no daylight-saving change moves its ends or its length);
- `used_this_month(doc, at, counter)`: the count a document holds for `at`'s month (0 for another month's);
- `pace(monthly, at)`: how many units the month allows by `at` (the allowance times the share of the month gone,
  plus one, so the first minute of a month may call), and `over_pace(...)`, the one-line reason to wait;
- `later(doc, minute, now)`: whether a document was written for a later minute, or at a later time, than this
  invocation's (such a document is never rewritten: the state never moves backwards);
- `reconciled(...)`: once a wall-clock day, the document's count set from the service's own count (never lowered).

Every time must be timezone-aware; a naive one raises `ValueError` (its month is unknown).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.contracts import to_utc


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no timezone: its month is unknown")
    return at.astimezone(UTC)


def month_key(at: datetime) -> str:
    """The month `at` falls in, in UTC: `YYYY-MM`."""
    return f"{_utc(at):%Y-%m}"


def month_span(at: datetime) -> tuple[datetime, datetime]:
    """The start of `at`'s month and the start of the next, 00:00 UTC."""
    at = _utc(at)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    following = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
    return start, following


def next_day(at: datetime) -> datetime:
    """00:00 UTC of the day after `at` (when a daily allowance comes back)."""
    at = _utc(at)
    return datetime(at.year, at.month, at.day, tzinfo=UTC) + timedelta(days=1)


def pace(monthly: int, at: datetime) -> int:
    """The units a monthly allowance allows by `at`: its share of the month gone, plus one, at most the whole."""
    if isinstance(monthly, bool) or not isinstance(monthly, int) or monthly < 0:
        raise ValueError(f"a monthly allowance is a whole number of 0 or more, not {monthly!r}")
    at = _utc(at)
    start, end = month_span(at)
    return min(monthly, 1 + math.floor(monthly * (at - start) / (end - start)))


def over_pace(used: int, monthly: int, at: datetime, unit: str) -> str | None:
    """Why a call at `at` must wait for the month's pace (None: it may call; an allowance of 0 is unlimited)."""
    if monthly == 0:
        return None
    allowed = pace(monthly, at)
    if used >= allowed:
        return f"{used} of {monthly} {unit} used this month; the pace allows {allowed} by now"
    return None


def used_this_month(doc: Mapping[str, Any] | None, at: datetime, counter: str) -> int:
    """The `counter` of a state document written in `at`'s month (0 when it counts another month, or nothing)."""
    key = month_key(at)
    if not doc or doc.get("month") != key:
        return 0
    return int(doc.get(counter, 0))


def later(doc: Mapping[str, Any] | None, minute: datetime, now: datetime) -> bool:
    """Whether the document was written for a later minute, or at a later time, than this invocation's."""
    doc = doc or {}
    return any(doc.get(name) and to_utc(doc[name]) > at for name, at in (("minute", minute), ("last_call", now)))


def reconciled(
    doc: Mapping[str, Any] | None,
    minute: datetime,
    now: datetime,
    *,
    checked: str,
    counter: str,
    read_count: Callable[[dict[str, Any]], int | None],
) -> dict[str, Any] | None:
    """The document with its count set from the service's own, once a wall-clock day (UTC).

    None: nothing to change (already checked today, or the document is from later than this invocation).
    Otherwise a copy with `checked` set to today; `read_count(record)` asks the service (it may add what else it
    learns to `record`) and returns its count for this month, or None when it could not be read: the count then
    stays the document's own. The count is never lowered: the larger of the service's and the document's.
    """
    today = _utc(now).date().isoformat()
    if (doc or {}).get(checked) == today or later(doc, minute, now):
        return None
    record = {**(doc or {}), checked: today}
    count = read_count(record)
    if count is None:
        return record
    record.update({"month": month_key(now), counter: max(count, used_this_month(doc, now, counter))})
    return record
