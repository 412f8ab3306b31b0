"""The live fetch: one chart request a symbol through yfinance, in a thread pool (see the package's docstring).

A failing symbol becomes its one-line reason (`_reason`: 404, 422 beyond Yahoo's history, 429, anything else with
its query string left out, since it carries the crumb); the others stay.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from types import ModuleType
from typing import Any

import pandas as pd

from pipeline.contracts import to_utc
from pipeline.errors import one_line
from pipeline.sources.yahoo_finance.answers import NullVolumes
from pipeline.sources.yahoo_finance.budget import BreakerOpen, Meter
from pipeline.sources.yahoo_finance.payload import (
    EXCHANGE_TIMEZONE,
    INTERVAL,
    PRICE_COLUMNS,
    UNFETCHED,
    YahooPayload,
    _one_line,
    empty_bars,
)

WORKERS = 8

NOT_FOUND = "possibly delisted"

RATE_LIMITED = "rate limited by Yahoo (HTTP 429 Too Many Requests)"

BEYOND_HISTORY = "HTTP 422 Unprocessable Entity"

# What Yahoo's 422 body says when a 1-minute window starts before the ~30 days it keeps
_HISTORY_LIMIT = re.compile(r"data not available for startTime|days worth of 1m granularity", re.IGNORECASE)


def _reason(symbol: str, exc: BaseException) -> str:
    """Why a symbol failed, on one line (query strings, which carry the crumb, left out)."""
    from yfinance.exceptions import YFPricesMissingError, YFTzMissingError

    if getattr(getattr(exc, "response", None), "status_code", None) == 404:
        return f"Yahoo has no data for {symbol} (HTTP 404 Not Found): {NOT_FOUND}"
    if isinstance(exc, YFTzMissingError):  # the chart answered without an exchange timezone (404 "Not Found")
        return f"Yahoo has no data for {symbol} (no exchange timezone): {NOT_FOUND}"
    if isinstance(exc, YFPricesMissingError) and "No data found, symbol may be delisted" in str(exc):
        return f"Yahoo has no data for {symbol} (HTTP 404 Not Found): {NOT_FOUND}"  # the chart's 404 body
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 422 or _HISTORY_LIMIT.search(str(exc)):  # yfinance raises the 422 body as YFPricesMissingError
        return (
            f"Yahoo refused the window for {symbol} ({BEYOND_HISTORY}): 1-minute bars reach back about 30 days; "
            f"Yahoo said: {re.sub(r'^.*?: ', '', one_line(exc), count=1)[:300]}"
        )
    return re.sub(r"\?\S*", "", _one_line(exc))


@lru_cache(maxsize=1)
def _yfinance() -> ModuleType:
    """yfinance, imported on first use (0.7 s), configured to raise per-ticker failures instead of hiding them."""
    import yfinance as yf

    # Its timezone and cookie caches are SQLite files; a Lambda function can only write under /tmp.
    yf.set_tz_cache_location(os.path.join(tempfile.gettempdir(), "market-data-pipeline", "yfinance"))
    yf.config.debug.hide_exceptions = False
    warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")  # its pandas deprecations are not ours to fix
    module: ModuleType = yf
    return module


_seeded: set[tuple[str, str]] = set()


def seed_timezones(symbols: Sequence[str]) -> None:
    """Tell yfinance's timezone cache that every symbol trades in New York, so it sends no lookup request.

    Before its first chart request for a symbol, yfinance looks the exchange timezone up in its SQLite cache
    (`yfinance.cache.get_tz_cache()`) and, on a miss, asks Yahoo for a 1-day chart just to read
    `meta.exchangeTimezoneName`: one extra request per symbol on every cold container. Every S&P 500 stock
    trades on a New York exchange, so the answer is known; stored once per process and cache folder.
    """
    from yfinance import cache

    location = str(cache._TzDBManager.get_location())
    todo = [s for s in symbols if (location, s) not in _seeded]
    if not todo:
        return
    tz = cache.get_tz_cache()
    for symbol in todo:
        if tz.lookup(symbol) != EXCHANGE_TIMEZONE:
            tz.store(symbol, EXCHANGE_TIMEZONE)
        _seeded.add((location, symbol))


def _history(symbol: str, start: datetime, end: datetime, session: Any) -> tuple[pd.DataFrame, int | None]:
    """One chart request through yfinance: the bars as it parses them (all of them: `keepna`, so that a bar of
    zeros reaches the checks instead of vanishing) rounded to the chart's `priceHint`, and that hint."""
    yf = _yfinance()
    ticker = yf.Ticker(symbol, session=session)
    frame = ticker.history(
        start=start, end=end, interval=INTERVAL, prepost=False, actions=False,
        auto_adjust=False, keepna=True, rounding=True, timeout=10,
    )  # fmt: skip
    hint = (ticker.history_metadata or {}).get("priceHint")
    return frame, int(hint) if isinstance(hint, int | float) else None


def _long(symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A yfinance history frame (exchange-time index, Open..Volume) as rows of (symbol, ts UTC, ...)."""
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": index,
            **{c: frame[c.capitalize()].to_numpy(dtype=float) for c in PRICE_COLUMNS},
            "volume": frame["Volume"].to_numpy(dtype=float),
        }
    )


def download(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    session: Any = None,
    workers: int = WORKERS,
    clock: Callable[[], datetime] | None = None,
    starts: Mapping[str, datetime] | None = None,
    meter: Meter | None = None,
) -> YahooPayload:
    """One-minute bars for `symbols` with bar starts in [start, end), live from Yahoo (one request a symbol).

    `session` is handed to yfinance (a requests or curl_cffi session; default: yfinance's own curl_cffi one);
    `clock` tells the time of the fetch (default: the wall clock), which decides which bars have closed;
    `starts` gives a symbol its own window start; `meter` counts the requests and stops the fetch when its
    circuit breaker opens or its deadline passes (the symbols not asked for are the payload's `unfetched`).
    """
    from yfinance.data import YfData

    _yfinance()
    seed_timezones(symbols)
    start, end = to_utc(start), to_utc(end)
    fetched_at = (clock or _now)()
    # Responses for past windows are memoised by yfinance per URL: a new fetch must ask again.
    YfData.cache_get.cache_clear()
    if meter is not None:
        session = meter.wrap(session if session is not None else _live_session())
    nulls = NullVolumes()
    session = nulls.wrap(session if session is not None else _live_session())

    def one(symbol: str) -> tuple[str, pd.DataFrame | None, int | None, str | None]:
        from yfinance.exceptions import YFRateLimitError

        if meter is not None and not meter.may_send():
            return symbol, None, None, UNFETCHED
        try:
            first = to_utc(starts[symbol]) if starts and symbol in starts else start
            frame, hint = _history(symbol, first, end, session)
            if symbol.upper() in nulls.unreadable:
                return symbol, None, None, f"{symbol}: {nulls.unreadable[symbol.upper()]}"
            return symbol, nulls.restore(symbol, _long(symbol, frame)), hint, None
        except YFRateLimitError:
            return symbol, None, None, RATE_LIMITED
        except Exception as exc:  # one symbol's failure must not lose the others
            if _caused_by(exc, BreakerOpen):
                return symbol, None, None, UNFETCHED
            if symbol.upper() in nulls.unreadable:
                return symbol, None, None, f"{symbol}: {nulls.unreadable[symbol.upper()]}"
            return symbol, None, None, _reason(symbol, exc)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(symbols)))) as pool:
        results = list(pool.map(one, symbols))
    unfetched = tuple(s for s, _, _, e in results if e == UNFETCHED)
    frames = [f for _, f, _, _ in results if f is not None and not f.empty]
    errors = {s: e for s, _, _, e in results if e is not None and e != UNFETCHED}
    hints = {s: h for s, _, h, _ in results if h is not None}
    bars = pd.concat(frames, ignore_index=True) if frames else empty_bars()
    asked = tuple(s for s in symbols if s not in set(unfetched))
    payload = YahooPayload(start, end, asked, bars, errors, fetched_at, hints)
    payload.unfetched = unfetched
    if meter is not None:
        payload.stats.update(meter.stats())
    return payload


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@lru_cache(maxsize=1)
def _live_session() -> Any:
    """The session yfinance would make for itself (curl_cffi impersonating a browser), made here so it is metered."""
    from yfinance.data import new_session

    return new_session()


def _now() -> datetime:
    return datetime.now(UTC)
