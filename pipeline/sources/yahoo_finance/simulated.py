"""The simulated twin, shipped for `Mode=simulated` and apart from the live code.

Without faults, `simulate` builds the payload `download` would return straight from the simulated market
(`pipeline.sources.simulator`: a deterministic random walk per symbol and day), with no HTTP at all. With any fault
on (`PIPELINE_YAHOO_TWIN_*`), yfinance's real requests go to `SimulatedYahoo`, Yahoo's chart API over the same
market answered through a `ReplaySession`, with Yahoo's faults on demand: rate limits answered with the plain-text
429, the live tail, late, revised and bad bars, symbols that answer 404, and, always, HTTP 422 for a 1-minute
window starting more than 30 days back. The tests, the soak and the benchmark send yfinance to it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contracts import to_utc
from pipeline.settings import Settings
from pipeline.sources import simulator
from pipeline.sources.yahoo_finance.fetch import _now
from pipeline.sources.yahoo_finance.payload import PRICE_COLUMNS, YahooPayload, empty_bars
from pipeline.sources.yahoo_finance.replay import (
    HISTORY_DAYS,
    NOT_FOUND_BODY,
    TOO_MANY_REQUESTS,
    Recorded,
    ReplaySession,
    beyond_history_body,
)


def simulate(
    seed: int,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    starts: Mapping[str, datetime] | None = None,
    population: Sequence[str] | None = None,
) -> YahooPayload:
    """The simulated twin: the payload `download` would return, from the deterministic simulated market.

    `starts` gives a symbol its own window start; `population` (default `symbols`) is the set of symbols whose
    day is drawn at once (the universe: one cached draw a day, whichever share a minute asks for).
    """
    start, end = to_utc(start), to_utc(end)
    symbols = tuple(symbols)
    population = tuple(population) if population is not None else symbols
    position = {s: i for i, s in enumerate(population)}
    rows = np.asarray([position[s] for s in symbols], dtype=np.int64)
    names = np.asarray(symbols, dtype=object)
    parts = []
    for day, session_open, minutes in simulator.stock_sessions(start, end):
        bars = simulator.stock_day(seed, population, day)
        if bars is None or not len(rows):
            continue
        count = minutes.stop - minutes.start
        first = np.datetime64(session_open.replace(tzinfo=None), "ns")
        stamps = first + np.arange(minutes.start, minutes.stop) * np.timedelta64(60, "s")
        parts.append(
            pd.DataFrame(
                {
                    "symbol": np.repeat(names, count),
                    "ts": pd.DatetimeIndex(np.tile(stamps, len(symbols))).tz_localize(UTC),
                    **{c: getattr(bars, c)[rows][:, minutes].ravel() for c in (*PRICE_COLUMNS, "volume")},
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else empty_bars()
    if starts:
        own = frame["symbol"].map(lambda s: pd.Timestamp(starts.get(s, start))).astype("datetime64[ns, UTC]")
        frame = frame.loc[(frame["ts"] >= own).to_numpy()].reset_index(drop=True)
    return YahooPayload(start, end, symbols, frame)


SIMULATED_FETCH_DELAY = timedelta(seconds=10)  # when a scheduled invocation reaches the twin after its minute

_TWINS: dict[tuple[Any, ...], SimulatedYahoo] = {}


def twin_faults(settings: Settings) -> Faults:
    return Faults(
        rate_limit=settings.yahoo_twin_rate_limit,
        live_tail=settings.yahoo_twin_live_tail,
        late=settings.yahoo_twin_late_rate,
        revise=settings.yahoo_twin_revise_rate,
        bad=settings.yahoo_twin_bad_rate,
        not_found=frozenset(s.strip().upper() for s in settings.yahoo_twin_not_found.split(",") if s.strip()),
    )


def _twin(settings: Settings, population: tuple[str, ...]) -> SimulatedYahoo | None:
    """The simulated Yahoo that yfinance is sent to when any fault is on (one per process and configuration, so
    its per-minute rate limit counts across invocations); None for the clean twin, which skips HTTP altogether."""
    faults = twin_faults(settings)
    if not faults.any:
        return None
    key = (settings.seed, population, faults)
    if key not in _TWINS:
        _TWINS[key] = SimulatedYahoo(settings.seed, population, faults, _now)
    return _TWINS[key]


@dataclass(frozen=True)
class Faults:
    """How the simulated Yahoo misbehaves (all off by default).

    rate_limit   answer 429 to every request past this many in one minute of the twin's clock (0: never)
    live_tail    share of chart answers, during a session, that end with the live minute stamped off the minute
    late         share of bars that appear only a minute after they close
    revise       share of bars first served with other values, corrected a minute after they close
    bad          share of bars first served with every price 0 or with high and low swapped, corrected later
    not_found    symbols that answer 404 "Not Found" (delisted)
    """

    rate_limit: int = 0
    live_tail: float = 0.0
    late: float = 0.0
    revise: float = 0.0
    bad: float = 0.0
    not_found: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return bool(self.rate_limit or self.live_tail or self.late or self.revise or self.bad or self.not_found)


FIX_AFTER = 120  # seconds after a bar's start when a late bar appears and a revised or bad one is corrected


class SimulatedYahoo:
    """Yahoo's chart API over the simulated market, as yfinance's requests reach it through a `ReplaySession`.

    `clock()` is the twin's now: bars that have not closed by then are not served (bar the live tail), and the
    rate limit counts requests per minute of it. Which bars are late, revised or bad is drawn per (seed, symbol,
    bar), so every fetch of a bar sees the same fate. `counts` tallies the requests by kind and status.
    """

    def __init__(self, seed: int, population: Sequence[str], faults: Faults, clock: Callable[[], datetime]) -> None:
        self.seed, self.population, self.faults, self.clock = seed, tuple(population), faults, clock
        self._index = {s: i for i, s in enumerate(self.population)}
        self._minute: int | None = None
        self._in_minute = 0
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.per_minute: dict[int, int] = {}

    def session(self) -> ReplaySession:
        return ReplaySession(responder=self.answer)

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def answer(self, host: str, path: str, query: dict[str, list[str]]) -> Recorded | None:
        now = self.clock()
        minute = int(now.timestamp() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._in_minute = minute, 0
            self._in_minute += 1
            self.per_minute[minute] = self.per_minute.get(minute, 0) + 1
            self._count("requests")
            limited = bool(self.faults.rate_limit) and self._in_minute > self.faults.rate_limit
            if limited:
                self._count("429")
        if limited:
            return Recorded(TOO_MANY_REQUESTS, 429)
        if not path.startswith("/v8/finance/chart/"):
            return None  # cookie, crumb, consent pages: the replay's fixed answers
        symbol = path.rsplit("/", 1)[-1].upper()
        if symbol in self.faults.not_found or symbol not in self._index:
            self._count("404")
            return Recorded(NOT_FOUND_BODY, 404)
        first, last = query.get("period1"), query.get("period2")
        if not first or not last:  # a range query (yfinance's timezone lookup): a day's bars
            end = int(now.timestamp())
            return Recorded(self.chart(symbol, end - 86400, end, now))
        if int(first[0]) < now.timestamp() - HISTORY_DAYS * 86400:  # as Yahoo: 1-minute bars only so far back
            self._count("422")
            return Recorded(beyond_history_body(int(first[0]), int(last[0])), 422)
        return Recorded(self.chart(symbol, int(first[0]), int(last[0]), now))

    def _draw(self, symbol: str, stamp: int, what: str) -> float:
        from pipeline.sources.simulator import _key

        return (_key(self.seed, "yahoo-twin", what, symbol, stamp) % 1_000_000) / 1_000_000

    def chart(self, symbol: str, period1: int, period2: int, now: datetime) -> dict[str, Any]:
        """The chart body for bars of `symbol` starting in [period1, period2) as they stand at `now`."""
        from pipeline.sources import simulator

        start = datetime.fromtimestamp(period1, UTC)
        end = min(datetime.fromtimestamp(period2, UTC), now)
        row = self._index[symbol]
        stamps: list[int] = []
        quote: dict[str, list[Any]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
        sessions = simulator.stock_sessions(start, end)
        regular: tuple[int, int] | None = None
        seconds_now = now.timestamp()
        for day, session_open, minutes in sessions:
            bars = simulator.stock_day(self.seed, self.population, day)
            if bars is None:
                continue
            session = simulator.stock_session(day)
            if session is not None:
                regular = (int(session[0].timestamp()), int(session[1].timestamp()))
            for m in range(minutes.start, minutes.stop):
                stamp = int(session_open.timestamp()) + 60 * m
                age = seconds_now - stamp
                if age < 60:
                    continue  # not closed yet
                o, h, lo, c = (float(getattr(bars, k)[row, m]) for k in ("open", "high", "low", "close"))
                v = int(bars.volume[row, m])
                fresh = age < FIX_AFTER
                if fresh and self._draw(symbol, stamp, "late") < self.faults.late:
                    continue
                if fresh and self._draw(symbol, stamp, "revise") < self.faults.revise:
                    c = round(c * 1.003, 2)
                    h, v = max(h, c), int(v * 0.6)
                if fresh and self._draw(symbol, stamp, "bad") < self.faults.bad:
                    if self._draw(symbol, stamp, "bad-kind") < 0.5:
                        o = h = lo = c = 0.0
                    else:
                        h, lo = lo - 0.01, h + 0.01
                stamps.append(stamp)
                for k, x in zip(("open", "high", "low", "close", "volume"), (o, h, lo, c, v), strict=True):
                    quote[k].append(x)
        tail = self._live_tail(symbol, row, period2, now)
        if tail is not None:
            stamps.append(tail[0])
            for k, x in zip(("open", "high", "low", "close", "volume"), tail[1:], strict=True):
                quote[k].append(x)
        return _chart_body(symbol, stamps, quote, now, regular)

    def _live_tail(self, symbol: str, row: int, period2: int, now: datetime) -> tuple[Any, ...] | None:
        """The live minute, stamped at `now` (its last trade), if a session is on and the window reaches it."""
        from pipeline.sources import simulator

        if not self.faults.live_tail:
            return None
        minute = int(now.timestamp() // 60) * 60
        if self._draw(symbol, minute, "tail") >= self.faults.live_tail:  # Yahoo appends it whatever period2 says
            return None
        begins = datetime.fromtimestamp(minute, UTC)
        sessions = simulator.stock_sessions(begins, begins + timedelta(minutes=1))
        if not sessions:
            return None
        day, _, minutes = sessions[0]
        bars = simulator.stock_day(self.seed, self.population, day)
        if bars is None:
            return None
        m = minutes.start
        o = float(bars.open[row, m])
        return (int(now.timestamp()), o, o + 0.01, o - 0.01, o, int(bars.volume[row, m] // 3))


def _chart_body(
    symbol: str, stamps: list[int], quote: dict[str, list[Any]], now: datetime, regular: tuple[int, int] | None
) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("America/New_York"))
    offset = int(local.utcoffset().total_seconds()) if local.utcoffset() is not None else 0  # type: ignore[union-attr]
    zone = local.tzname() or "EST"
    opens, closes = regular if regular is not None else (int(now.timestamp()), int(now.timestamp()))
    period = {"timezone": zone, "start": opens, "end": closes, "gmtoffset": offset}
    meta = {
        "currency": "USD", "symbol": symbol, "exchangeName": "NYQ", "fullExchangeName": "NYSE",
        "instrumentType": "EQUITY", "firstTradeDate": 345479400, "regularMarketTime": int(now.timestamp()),
        "hasPrePostMarketData": True, "gmtoffset": offset, "timezone": zone,
        "exchangeTimezoneName": "America/New_York", "priceHint": 2,
        "regularMarketPrice": next((c for c in reversed(quote["close"]) if c), 0.0),
        "chartPreviousClose": next((c for c in quote["open"] if c), 0.0),
        "currentTradingPeriod": {
            "pre": {**period, "start": opens - 19800, "end": opens},
            "regular": period,
            "post": {**period, "start": closes, "end": closes + 14400},
        },
        "tradingPeriods": [[period]], "dataGranularity": "1m", "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }  # fmt: skip
    result: dict[str, Any] = {"meta": meta}
    if stamps:
        result["timestamp"] = stamps
        result["indicators"] = {"quote": [quote]}
    else:
        result["indicators"] = {"quote": [{}]}
    return {"chart": {"result": [result], "error": None}}
