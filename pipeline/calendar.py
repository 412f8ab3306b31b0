"""When a market is open: the New York Stock Exchange's sessions (holidays, early closes), and 24/7 markets.

One answer for the live ingest, the simulated twin, the demo and `verify` alike. The NYSE calendar comes from
`exchange_calendars` (XNYS: maintained holiday rules plus the one-off closures and early closes, such as the
13:00 close of the day after Thanksgiving), built one calendar year at a time and cached, so a question costs a
dictionary look-up after the first (building a year takes about a second; the library's default of twenty years
would take several).

    is_open("XNYS", minute)      is a bar starting at `minute` (UTC) inside a regular session?
    sessions("XNYS", start, end) the sessions that have bars starting in [start, end)
    closed_reason("XNYS", start, end)
                                 why no bar of [start, end) is in a session, in words ("Thanksgiving Day")
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from pipeline.errors import TerminalError

XNYS: Final = "XNYS"
ALWAYS: Final = "24/7"
NEW_YORK: Final = ZoneInfo("America/New_York")


class CalendarError(TerminalError):
    """A market this module does not know, or a date outside what its calendar covers."""


@dataclass(frozen=True)
class Session:
    """One trading day: its exchange date and its regular hours in UTC, [open, close)."""

    day: date
    open: datetime
    close: datetime

    @property
    def minutes(self) -> int:
        return int((self.close - self.open).total_seconds() // 60)

    @property
    def early_close(self) -> bool:
        return self.close.astimezone(NEW_YORK).hour < 16


@lru_cache(maxsize=8)
def _year(year: int) -> dict[date, Session]:
    """The XNYS sessions of one calendar year, by date."""
    import exchange_calendars as xc

    try:
        calendar = xc.get_calendar(XNYS, start=f"{year}-01-01", end=f"{year}-12-31")
    except Exception as exc:  # the library refuses dates outside its rules with its own error types
        raise CalendarError(f"no {XNYS} calendar for {year}: {exc}") from exc
    schedule = calendar.schedule
    return {
        day.date(): Session(day.date(), opens.to_pydatetime(), closes.to_pydatetime())
        for day, opens, closes in zip(schedule.index, schedule["open"], schedule["close"], strict=True)
    }


@lru_cache(maxsize=8)
def _holiday_names(year: int) -> dict[date, str]:
    import exchange_calendars as xc
    import pandas as pd

    calendar = xc.get_calendar(XNYS, start=f"{year}-01-01", end=f"{year}-12-31")
    named = calendar.regular_holidays.holidays(f"{year}-01-01", f"{year}-12-31", return_name=True)
    names = {pd.Timestamp(day).date(): str(name) for day, name in named.items()}
    for day in calendar.adhoc_holidays:
        if pd.Timestamp(day).year == year:
            names.setdefault(pd.Timestamp(day).date(), "an unscheduled closure")
    return names


def _check(market: str) -> str:
    if market not in (XNYS, ALWAYS):
        raise CalendarError(f"unknown market {market!r}: expected {XNYS} or {ALWAYS}")
    return market


def session_of(day: date) -> Session | None:
    """The XNYS session of an exchange date, or None when the exchange does not open that day."""
    return _year(day.year).get(day)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.astimezone(NEW_YORK).date()
    last = (end - timedelta(microseconds=1)).astimezone(NEW_YORK).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def sessions(market: str, start: datetime, end: datetime) -> list[Session]:
    """The sessions with at least one bar starting in [start, end) (UTC); 24/7 markets have one per UTC day."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    if _check(market) == ALWAYS:
        out, day = [], start.date()
        while datetime.combine(day, datetime.min.time(), UTC) < end:
            opens = datetime.combine(day, datetime.min.time(), UTC)
            out.append(Session(day, opens, opens + timedelta(days=1)))
            day += timedelta(days=1)
        return out
    found = [s for day in _days(start, end) if (s := session_of(day)) is not None]
    return [s for s in found if s.open < end and s.close > start]


def is_open(market: str, minute: datetime) -> bool:
    """Whether a bar starting at `minute` (UTC) lies inside a regular session of `market`."""
    if _check(market) == ALWAYS:
        return True
    at = minute.astimezone(UTC)
    session = session_of(at.astimezone(NEW_YORK).date())
    return session is not None and session.open <= at < session.close


def closed_reason(market: str, start: datetime, end: datetime) -> str | None:
    """Why no bar starting in [start, end) lies in a session of `market`, in words; None if one does."""
    if sessions(market, start, end):
        return None
    day = (end - timedelta(microseconds=1)).astimezone(NEW_YORK).date()
    if day.weekday() >= 5:
        return f"{day:%A %Y-%m-%d} is a weekend day"
    if (name := _holiday_names(day.year).get(day)) is not None:
        return f"{day:%A %Y-%m-%d} is an exchange holiday ({name})"
    session = session_of(day)
    if session is None:
        return f"the exchange does not open on {day:%A %Y-%m-%d}"
    local_open, local_close = session.open.astimezone(NEW_YORK), session.close.astimezone(NEW_YORK)
    if end <= session.open:
        return f"before the open ({local_open:%H:%M} New York) of {day:%Y-%m-%d}"
    if session.early_close:
        return f"after the early close ({local_close:%H:%M} New York) of {day:%A %Y-%m-%d}"
    return f"after the close ({local_close:%H:%M} New York) of {day:%Y-%m-%d}"
