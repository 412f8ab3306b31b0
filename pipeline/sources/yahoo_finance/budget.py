"""What Yahoo tolerates: which symbols a minute asks for, how many requests go out, and when none may.

Yahoo enforces rate limits (its users report HTTP 429 from about 950 requests in a burst), so the universe is not
fetched every minute:

- **Rotation.** The universe is split into K shares (`yahoo_rotation_minutes`); minute m fetches share m mod K
  (m counted in minutes since the epoch, so any replay of a minute asks the same), each symbol with a window
  reaching back to the end of its own last window minus `LATE_MINUTES`, and at least `yahoo_lookback_minutes`
  (K + 2 by default). Every symbol is fetched every K minutes and each bar is fetched more than once, so a bar
  that appears late or is revised lands in a later raw object too (the sink's MERGE keeps the later one).
- **A request budget.** At most `yahoo_requests_per_minute` symbols a minute (default 120: 2 requests a second).
  Symbols that missed their turn (a cool-down, a time budget that ran out) come first the next minute, with a
  window reaching back to what they last delivered (at most `MAX_CATCH_UP`).
- **A time budget.** No request is started `yahoo_time_budget_seconds` after the invocation began; the rest wait
  for the next minute.
- **A circuit breaker.** After `yahoo_breaker_429s` answers of HTTP 429 the minute stops sending; the state
  records a cool-down of `yahoo_cooldown_minutes`, doubled on each trip that follows another (up to
  `yahoo_cooldown_max_minutes`), and no request goes out until it ends. A minute without a 429 resets it.
- **Not found.** A symbol answering 404 is skipped for the rest of its New York day.
- **One run at a time.** The state document carries a lease, taken with a conditional write (`put_if`), so of
  two runs that read it at once only one wins; a run that finds another's live lease fetches nothing. (The
  first guard is the function's reserved concurrency of 1; the lease catches what slips past it, such as a run
  still going when the next minute's starts.)

All of it lives in one state document, `state/yahoo_finance.json` (`pipeline.state`), with the month's tally of
requests, 429s and cool-downs counted in the month of `pipeline.sources.budget.month_key`, as the metered APIs
count theirs. Yahoo sells no monthly allowance, so there is no pace to keep: the limits above are per minute.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pipeline.calendar import NEW_YORK
from pipeline.contracts import iso, to_utc
from pipeline.sources.base import NothingToIngest
from pipeline.sources.budget import month_key
from pipeline.state import StateConflict, StateStore

STATE_NAME: Final = "yahoo_finance"
LATE_MINUTES: Final = 2  # a bar may appear, or be revised, this long after it closed
MAX_CATCH_UP: Final = timedelta(hours=8)  # a symbol long unfetched asks for at most this much (one request)
LEASE_MARGIN: Final = timedelta(seconds=30)  # a lease outlives the time budget by this much


class BreakerOpen(Exception):
    """Raised in place of a request while the circuit breaker is open: nothing was sent."""


@dataclass(frozen=True)
class Plan:
    """What one scheduled minute fetches: symbols in order, each with the start of its window, and why others not."""

    at: datetime
    end: datetime
    starts: dict[str, datetime]
    share: int
    skipped_not_found: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()  # over the minute's budget: their turn comes first next minute

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.starts)

    @property
    def start(self) -> datetime:
        return min(self.starts.values(), default=self.end)


def minute_index(at: datetime) -> int:
    return int(to_utc(at).timestamp() // 60)


def share_of(symbols: Sequence[str], at: datetime, rotation: int) -> tuple[int, tuple[str, ...]]:
    """The share of the universe minute `at` fetches: (its number, its symbols) (every rotation-th symbol)."""
    k = minute_index(at) % rotation
    return k, tuple(symbols[k::rotation])


COOLDOWN_REACH: Final = timedelta(hours=1)  # how far before its trip a cool-down holds minutes back


@dataclass
class YahooState:
    """The state document: per-symbol progress, the cool-down, today's 404s, the lease."""

    through: dict[str, str] = field(default_factory=dict)  # symbol -> end of the last window it was fetched for
    not_found: dict[str, str] = field(default_factory=dict)  # symbol -> New York date it answered 404
    cooldown_until: str | None = None
    cooldown_from: str | None = None  # the minute that tripped it: a minute before it is not in the cool-down
    cooldown_level: int = 0
    lease: dict[str, str] | None = None  # {"owner", "expires", "scheduled_at"}
    last: dict[str, Any] = field(default_factory=dict)  # what the last minute did (for people and metrics)
    month: dict[str, Any] = field(default_factory=dict)  # this month's tally: requests, 429s, cool-downs
    version: str | None = None  # the document's version when read (a conditional write needs it)

    @classmethod
    def load(cls, store: StateStore | None) -> YahooState:
        versioned = store.read(STATE_NAME) if store is not None else None
        doc = (versioned.doc if versioned is not None else None) or {}
        return cls(
            version=versioned.version if versioned is not None else None,
            through=dict(doc.get("through") or {}),
            not_found=dict(doc.get("not_found") or {}),
            cooldown_until=doc.get("cooldown_until"),
            cooldown_from=doc.get("cooldown_from"),
            cooldown_level=int(doc.get("cooldown_level") or 0),
            lease=doc.get("lease"),
            last=dict(doc.get("last") or {}),
            month=dict(doc.get("month") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "through": self.through,
            "not_found": self.not_found,
            "cooldown_until": self.cooldown_until,
            "cooldown_from": self.cooldown_from,
            "cooldown_level": self.cooldown_level,
            "lease": self.lease,
            "last": self.last,
            "month": self.month,
        }

    def tally(self, at: datetime, requests: int, rate_limited: int, cooldown: bool) -> None:
        """Add one minute's requests, 429s and cool-down to the month of scheduled minute `at` (a new month
        starts from zero)."""
        month = month_key(at)
        if self.month.get("month") != month:
            self.month = {"month": month, "requests": 0, "rate_limited": 0, "cooldowns": 0}
        self.month["requests"] = int(self.month.get("requests", 0)) + requests
        self.month["rate_limited"] = int(self.month.get("rate_limited", 0)) + rate_limited
        self.month["cooldowns"] = int(self.month.get("cooldowns", 0)) + int(cooldown)

    def save(self, store: StateStore | None) -> bool:
        """Write the document if nobody wrote it since this run read (or last wrote) it; False if somebody did
        (a run that took over an expired lease: its state stands, this run's progress is dropped, and the
        symbols it fetched are simply fetched again)."""
        if store is None:
            return True
        try:
            self.version = store.put_if(STATE_NAME, self.as_dict(), self.version)
        except StateConflict:
            return False
        return True

    # ------------------------------------------------------------------------------------------ the breaker

    def cooling_down(self, at: datetime) -> datetime | None:
        """The end of the cool-down if scheduled minute `at` falls in one: any minute before its end, back to an hour
        before the minute that tripped it (a retry of a recent minute waits too; a replay of another day, a backfill
        or the local demo's day after the soak's, is not held back by a cool-down that began long after it)."""
        if self.cooldown_until is None:
            return None
        until = to_utc(self.cooldown_until)
        began = to_utc(self.cooldown_from) if self.cooldown_from else None
        return until if at < until and (began is None or began - COOLDOWN_REACH <= at) else None

    def trip(self, at: datetime, first_minutes: int, max_minutes: int) -> datetime:
        """Open the breaker at minute `at`: a cool-down twice the last one's length (the first: first_minutes)."""
        self.cooldown_level += 1
        minutes = min(max_minutes, first_minutes * 2 ** (self.cooldown_level - 1))
        until = at + timedelta(minutes=minutes)
        self.cooldown_until, self.cooldown_from = iso(until), iso(at)
        return until

    def calm(self) -> None:
        """A minute went by without a 429: the next trip starts from the first cool-down again."""
        self.cooldown_level = 0

    # ------------------------------------------------------------------------------------------ 404s

    def known_missing(self, at: datetime) -> set[str]:
        today = at.astimezone(NEW_YORK).date().isoformat()
        self.not_found = {s: d for s, d in self.not_found.items() if d == today}
        return set(self.not_found)

    def mark_missing(self, symbols: Sequence[str], at: datetime) -> None:
        today = at.astimezone(NEW_YORK).date().isoformat()
        self.not_found.update({s: today for s in symbols})

    # ------------------------------------------------------------------------------------------ the lease

    def acquire(self, store: StateStore | None, at: datetime, now: datetime, hold: timedelta) -> str:
        """Take the lease (a conditional write: of two runs that read the same document, one wins) or raise
        NothingToIngest if another run holds it."""
        if self.lease is not None and to_utc(self.lease["expires"]) > now:
            raise NothingToIngest(
                f"yahoo_finance: another ingest run (minute {self.lease.get('scheduled_at')}) is still under way, "
                f"its lease ends {self.lease['expires']}: nothing fetched for this minute"
            )
        owner = uuid.uuid4().hex
        self.lease = {"owner": owner, "expires": iso(now + hold), "scheduled_at": iso(at)}
        if not self.save(store):  # another run wrote the document between our read and our write
            raise NothingToIngest("yahoo_finance: another ingest run took the lease at the same time")
        return owner

    def release(self, owner: str) -> None:
        if self.lease is not None and self.lease.get("owner") == owner:
            self.lease = None


def plan(
    symbols: Sequence[str],
    at: datetime,
    end: datetime,
    state: YahooState,
    *,
    rotation: int,
    lookback: int,
    per_minute: int,
) -> Plan:
    """The symbols minute `at` fetches (overdue ones first, then its share, within the budget) and their windows."""
    share, turn = share_of(symbols, at, rotation)
    missing = state.known_missing(at)
    regular = end - timedelta(minutes=lookback)
    due = at - timedelta(minutes=rotation)  # a symbol fetched for a window ending before this missed its turn
    through = {s: to_utc(t) for s, t in state.through.items()}
    overdue = sorted(
        (s for s in symbols if s not in missing and s in through and through[s] < due), key=lambda s: through[s]
    )
    late = set(overdue)
    wanted = [*overdue, *(s for s in turn if s not in missing and s not in late)]
    chosen, deferred = wanted[:per_minute], wanted[per_minute:]
    starts: dict[str, datetime] = {}
    for symbol in chosen:
        start = regular
        if symbol in through:
            start = min(start, through[symbol] - timedelta(minutes=LATE_MINUTES))
        starts[symbol] = max(start, end - MAX_CATCH_UP)
    return Plan(at, end, starts, share, tuple(s for s in symbols if s in missing), tuple(deferred))


@dataclass
class Meter:
    """Counts every HTTP request yfinance sends through a session, and refuses to send once the breaker is open.

    `wrap(session)` replaces the session's `get` and `post` (the two methods yfinance calls) with counting ones.
    The minute's circuit breaker opens after `trip_after` answers of HTTP 429, or at the deadline (`clock()`
    past it): from then on a request raises `BreakerOpen` before anything is sent.
    """

    trip_after: int = 3
    deadline: float | None = None
    clock: Callable[[], float] | None = None
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    chart_status: dict[str, int] = field(default_factory=dict)  # symbol -> status of its last chart answer
    refused: int = 0
    tripped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rate_limited(self) -> int:
        return self.by_status[429]

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock is not None and self.clock() >= self.deadline

    def may_send(self) -> bool:
        return not self.tripped and not self.out_of_time()

    def _send(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self.tripped:
                self.refused += 1
                raise BreakerOpen("the circuit breaker is open: no request sent")
            self.requests += 1
        response = method(*args, **kwargs)
        status = int(getattr(response, "status_code", 0) or 0)
        url = str(kwargs.get("url") or (args[0] if args else ""))
        with self._lock:
            self.by_status[status] += 1
            if "/v8/finance/chart/" in url:
                symbol = url.split("/v8/finance/chart/", 1)[1].split("?", 1)[0].upper()
                self.chart_status[symbol] = status
            if status == 429 and self.by_status[429] >= self.trip_after:
                self.tripped = True
        return response

    def wrap(self, session: Any) -> Any:
        for name in ("get", "post"):
            original = getattr(type(session), name)

            def send(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                return self._send(_original, session, *args, **kwargs)

            setattr(session, name, send)
        return session

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "refused": self.refused,
            "breaker_tripped": self.tripped,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


def not_found_symbols(chart_status: Mapping[str, int]) -> list[str]:
    return sorted(s for s, status in chart_status.items() if status == 404)
