"""yahoo_finance: one-minute bars of the stock universe (default the S&P 500), from Yahoo Finance via yfinance.

Window: a scheduled minute T asks for the bars whose start lies in [T - yahoo_lookback_minutes, T) (default one
bar), with `period1`/`period2` on the chart API: never a whole day per call. A window outside the US regular
session (09:30-16:00 America/New_York, weekdays) raises `NothingToIngest` before any request.

Payload (what `fetch` returns, live or simulated, and what `parse` reads) is a `YahooPayload`:

    start, end   the window of bar starts [start, end), UTC
    symbols      the symbols asked for, in universe order (Yahoo spelling: BRK-B)
    bars         a pandas DataFrame, one row per (symbol, bar) as yfinance returned it:
                 symbol, ts (bar start, tz-aware UTC), open, high, low, close, volume
    errors       {symbol: one-line reason} for every symbol whose fetch raised

Live: yfinance sends one chart request per symbol; they run in a thread pool, each `Ticker(symbol).history(
start, end, interval="1m")` with yfinance's exceptions switched on (`yf.config.debug.hide_exceptions = False`)
so a failing symbol raises instead of coming back as an empty frame; `keepna=True` so that a bar of zeros reaches
the checks below instead of vanishing, `rounding=True` so that prices carry the chart's `priceHint` decimals. HTTP
429 (`YFRateLimitError`) is not retried here (yfinance already tries any 4xx once more with its other cookie
strategy): the symbol gets an error row.
Simulated: the same payload from `pipeline.sources.simulator` (a deterministic random walk per symbol and day).

Raw rows (`parse`): one row per (symbol, bar) inside the window. A bar is a `success` row only if it is real and
closed: it ended at least `CLOSED_GRACE` before the fetch, starts on a minute boundary (Yahoo stamps the live,
unfinished minute with the time of its last trade, e.g. 14:30:47), has every price above 0, low <= open, close <=
high and a volume of 0 or more; any other bar is an `error` row that names why, so processing never sees it as
data. A volume Yahoo sent as null beside real prices is missing (yfinance fills it with 0; `NullVolumes` reads
the nulls from the chart answers and puts them back), so that bar is an error row. A value that is not a number
(a string, a boolean, 1e400, a fractional volume or one of 2**63 or more) is made null in the answer before yfinance
reads it, and its bar is an error row naming the field and the value; chart timestamps that are not whole seconds
make one error row for the symbol. A bar Yahoo sends with null
prices, a minute without trades, is no bar and is left out. One `error` row per
symbol that failed or returned no bar in the window, naming why (a delisted symbol's 404 "Not Found" chart body is
such a failure). `ts` is the bar start in UTC.

Yahoo's error answers are named as what they are in the symbol's error row: HTTP 404 "Not Found" (possibly
delisted); HTTP 422 "Unprocessable Entity" for a 1-minute window starting beyond the ~30 days Yahoo keeps (yfinance
raises its description as `YFPricesMissingError`: "1m data not available for startTime=... Only 30 days worth of
1m granularity data are allowed to be fetched per request."); HTTP 429 "Too Many Requests", a plain-text body that
yfinance raises as `YFRateLimitError` (rate limited: the budget's circuit breaker counts it).

Saved payloads (`pipeline parse yahoo_finance FILE`): a chart JSON body as the API returns it (or
`{"status": 404, "body": {...}}`, `{"status": 429, "body": "Too Many Requests"}`, or the 429's plain text itself,
the symbol then taken from a file name like chart_AAPL_...), run through yfinance's own parsing with a
`ReplaySession`, then `parse`; a chart saved mid-session was fetched at its `regularMarketTime` (its last trade),
so its live last minute is no success row.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd

from pipeline import calendar
from pipeline.constants import SourceId
from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, floor_minute, iso, to_utc
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sources import simulator
from pipeline.sources.base import (
    NothingToIngest,
    PayloadError,
    RawRow,
    UpstreamError,
    after_fetch,
    fetch_time,
    read_json,
    refused_by_model,
)
from pipeline.sources.numbers import shown
from pipeline.sources.universe import universe
from pipeline.sources.yahoo_budget import (
    LEASE_MARGIN,
    BreakerOpen,
    Meter,
    Plan,
    YahooState,
    not_found_symbols,
    plan,
)
from pipeline.sources.yahoo_metrics import emit, emit_cooldown
from pipeline.sources.yahoo_replay import TOO_MANY_REQUESTS, Faults, SimulatedYahoo
from pipeline.state import StateStore

INTERVAL = "1m"
UNFETCHED = "\x00not fetched"  # download's marker for a symbol it did not ask for (never a row)
BAR_SECONDS = 60
# A bar is closed once its minute has ended this long before the fetch (trades of its last seconds still arrive).
CLOSED_GRACE = timedelta(seconds=5)
WORKERS = 8
EXCHANGE_TIMEZONE = "America/New_York"
BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass
class YahooPayload:
    start: datetime
    end: datetime
    symbols: tuple[str, ...]
    bars: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)
    # When the bars were fetched: a bar counts as closed only if it ended CLOSED_GRACE before this (None: all are)
    fetched_at: datetime | None = None
    price_hints: dict[str, int] = field(default_factory=dict)  # symbol -> the chart's meta.priceHint (decimals)
    unfetched: tuple[str, ...] = ()  # planned but not asked for (breaker open, time budget spent): next minute
    stats: dict[str, Any] = field(default_factory=dict)  # requests, 429s, cool-down: what the metrics report


def window(scheduled_at: datetime, lookback_minutes: int) -> tuple[datetime, datetime]:
    """The bar starts a scheduled minute needs: [scheduled_at - lookback, scheduled_at)."""
    end = floor_minute(scheduled_at)
    return end - timedelta(minutes=lookback_minutes), end


def empty_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "ts": pd.Series(dtype="datetime64[ns, UTC]"),
            **{c: pd.Series(dtype=float) for c in PRICE_COLUMNS},
            "volume": pd.Series(dtype=np.int64),
        }
    )


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(exc)}"


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


# ---------------------------------------------------------------------------------------------------- live


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


class NullVolumes:
    """What a chart answer holds that yfinance would turn into another value, read from the answers themselves and
    made null before yfinance sees them; the bars are told afterwards (`restore`).

    A null volume beside real prices: yfinance turns it into 0 before anyone sees the bar (`df.loc[f_na, 'Volume']
    = 0` and `df['Volume'].fillna(0)` in `yfinance/scrapers/history.py`), so a volume Yahoo did not send would be
    stored as "no shares traded". Yahoo marks a minute without trades by nulls in every field (prices included:
    such a bar is left out, see `parse_payload`); nothing in Yahoo's or yfinance's documentation, nor in yfinance's
    issue tracker, says that a null volume beside real prices means zero. A value that was not sent is missing,
    not 0: such a bar is an error row ("volume is missing"), never a success row with volume 0.

    A value that is not a number: an indicator value that is not a finite JSON number (a string, a boolean, an
    object, 1e400), a volume that is not a whole number or is 2**63 or more. yfinance would raise for the whole
    symbol (`could not convert string to float`, `Python int too large to convert to C long`) or store another
    number (its `astype(int64)` makes 1e30 into -9223372036854775808). Each such value is made null in the answer
    and remembered as (symbol, bar, field, value): that bar becomes an error row naming the field and the value,
    and the other bars stay. Timestamps that are not whole numbers make the symbol's whole answer unreadable
    (`unreadable`): one error row for the symbol naming the field.

    `wrap(session)` lets every chart answer that passes through the session be read here (the session is the
    one yfinance is handed: the live one, the metered one, a replay); `restore(symbol, frame)` puts the nulls
    back in that symbol's bars and names each bar's unreadable values (column `unreadable`).
    """

    def __init__(self) -> None:
        self.stamps: dict[str, set[int]] = {}
        self.bad: dict[str, dict[int, dict[str, str]]] = {}  # symbol -> bar start (epoch s) -> {field: why}
        self.unreadable: dict[str, str] = {}  # symbol -> why its answer cannot be read
        self._lock = threading.Lock()

    def wrap(self, session: Any) -> Any:
        current = session.get
        if getattr(current, "_records_null_volumes", False):  # an earlier fetch's recorder: the session's own get
            current = partial(type(session).get, session)

        def get(*args: Any, **kwargs: Any) -> Any:
            response = current(*args, **kwargs)
            self.record(str(args[0] if args else kwargs.get("url", "")), response)
            return response

        get._records_null_volumes = True  # type: ignore[attr-defined]
        session.get = get
        return session

    def record(self, url: str, response: Any) -> None:
        match = _CHART_URL.search(url)
        if match is None or getattr(response, "status_code", None) != 200:
            return
        symbol = unquote(match.group(1)).upper()
        try:
            document = read_json(response.content)
            result = document["chart"]["result"][0]
            quote = result["indicators"]["quote"][0]
        except Exception:  # an answer yfinance cannot read either: its own error names it
            return
        stamps = result.get("timestamp")
        if stamps is None:
            return
        if not isinstance(stamps, list) or not all(_whole(t) for t in stamps):
            bad = stamps if not isinstance(stamps, list) else next(t for t in stamps if not _whole(t))
            with self._lock:
                self.unreadable[symbol] = f"chart timestamp is not a whole number of seconds: {shown(bad)}"
            result["timestamp"], result["indicators"]["quote"] = [], [{}]
            _replace_body(response, document)
            return
        nulls, bad_values = _clean(stamps, quote, result["indicators"])
        if bad_values:
            _replace_body(response, document)
        with self._lock:
            if nulls:
                self.stamps.setdefault(symbol, set()).update(nulls)
            for stamp, fields in bad_values.items():
                self.bad.setdefault(symbol, {}).setdefault(stamp, {}).update(fields)

    def restore(self, symbol: str, bars: pd.DataFrame) -> pd.DataFrame:
        with self._lock:
            stamps = sorted(self.stamps.get(symbol.upper(), ()))
            bad = dict(self.bad.get(symbol.upper(), {}))
        if stamps:
            missing = bars["ts"].isin(pd.to_datetime(stamps, unit="s", utc=True))
            bars.loc[missing.to_numpy(), "volume"] = np.nan
        if bad:  # yfinance filled a nulled volume with 0: each nulled value is missing again, and named
            at = {pd.Timestamp(stamp, unit="s", tz=UTC): fields for stamp, fields in bad.items()}
            found = [at.get(ts) for ts in bars["ts"]]
            for row, fields in enumerate(found):
                for name in fields or ():
                    bars.iloc[row, bars.columns.get_loc(name)] = np.nan
            bars["unreadable"] = ["; ".join(fields.values()) if fields else None for fields in found]
        return bars


def _whole(value: Any) -> bool:
    """A whole number of seconds (1727877600, or 1727877600.0 as some answers write it)."""
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _number_problem(field: str, value: Any) -> str | None:
    """Why one indicator value of a chart answer is not a number yfinance can hold (None for a number or null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{field} is not a number: {shown(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{field} is not a finite number: {shown(value)}"
    if field == "volume" and not (isinstance(value, int) or value.is_integer()):
        return f"volume is not a whole number: {shown(value)}"
    if field == "volume" and abs(value) >= VOLUME_BOUND:
        return f"volume is not a 64-bit integer: {shown(value)}"
    return None


VOLUME_BOUND = 2**63  # what yfinance's int64 volume column holds


def _clean(
    stamps: list[int], quote: dict[str, Any], indicators: dict[str, Any]
) -> tuple[set[int], dict[int, dict[str, str]]]:
    """Null, in place, every value of a chart answer's quote that is not a number; ({bar starts with a null volume
    beside prices}, {bar start: why its values were nulled})."""
    bad: dict[int, dict[str, str]] = {}
    for name in ("volume", *PRICE_COLUMNS):
        values = quote.get(name)
        if not isinstance(values, list):
            continue
        for index, (stamp, value) in enumerate(zip(stamps, values, strict=False)):
            if (why := _number_problem(name, value)) is not None:
                values[index] = None
                bad.setdefault(stamp, {})[name] = why
    for entry in indicators.get("adjclose") or []:  # yfinance reads it too: a non-number there is no bar's value
        values = entry.get("adjclose") if isinstance(entry, dict) else None
        for index, value in enumerate(values if isinstance(values, list) else []):
            if _number_problem("adjclose", value) is not None:
                values[index] = None  # type: ignore[index]
    prices: list[list[Any]] = [quote[c] if isinstance(quote.get(c), list) else [] for c in PRICE_COLUMNS]
    volumes: list[Any] = quote["volume"] if isinstance(quote.get("volume"), list) else []
    nulls = {
        stamp
        for index, stamp in enumerate(stamps)
        if index < len(volumes) and volumes[index] is None and stamp not in bad
        and any(index < len(p) and p[index] is not None for p in prices)
    }  # fmt: skip
    return nulls, bad


def _replace_body(response: Any, document: Any) -> None:
    """Give yfinance the cleaned answer: a requests response keeps its body in `_content`, curl_cffi's in `content`."""
    body = json.dumps(document).encode()
    if hasattr(response, "_content"):
        response._content = body
    else:
        response.content = body


_CHART_URL = re.compile(r"/v8/finance/chart/([^/?#]+)")


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


# ---------------------------------------------------------------------------------------------------- simulated


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


# ---------------------------------------------------------------------------------------------------- parse


def _fmt_price(value: float) -> str:
    return "missing" if value != value else f"{value:g}"


def bar_problem(
    ts: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float, closed_by: datetime | None
) -> str | None:
    """Why a bar is not a real, closed bar (None when it is one): checked in this order."""
    if ts.second or ts.microsecond or ts.nanosecond:
        return f"bar stamped {ts.strftime('%H:%M:%S')}Z is not on a minute boundary (the live, unfinished minute)"
    if closed_by is not None and ts + pd.Timedelta(seconds=BAR_SECONDS) > pd.Timestamp(closed_by):
        return (
            f"bar of {ts.strftime('%H:%M')}Z had not closed when fetched "
            f"(it ends {(ts + pd.Timedelta(seconds=BAR_SECONDS)).strftime('%H:%M:%S')}Z)"
        )
    prices = (o, h, lo, c)
    shown = "(open {}, high {}, low {}, close {})".format(*map(_fmt_price, prices))
    if any(p != p for p in prices):
        return f"bar lacks a price {shown}"
    if not all(math.isfinite(p) for p in prices):
        return f"bar has a price that is not finite {shown}"
    if min(prices) <= 0:
        return f"bar has a price of 0 or less {shown}"
    if not (lo <= min(o, c) and max(o, c) <= h):
        return f"bar prices are inconsistent: low <= open, close <= high fails {shown}"
    if v != v:
        return f"bar volume is missing (null in Yahoo's answer) {shown}"
    if v < 0 or not math.isfinite(v):
        return f"bar has a volume of {_fmt_price(v)}: expected 0 or more"
    return None


def _cell(value: float) -> float | None:
    """A price as the raw layer keeps it: the number, or empty when there is none to keep (missing, not finite)."""
    return value if math.isfinite(value) else None


def _volume_cell(value: float) -> int | None:
    """A volume as the raw layer keeps it: a whole number below 2**63, else empty (never a cast of something else)."""
    return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < VOLUME_BOUND else None


def parse_payload(payload: YahooPayload, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    """Raw rows: one per (symbol, bar) in the window, then one error row per symbol without bars.

    A bar is a success row only if it is a real, closed bar (`bar_problem`); any other bar in the window is an
    error row naming why, so one bad bar never travels as data: a price or the volume missing (null) in a bar
    that has other prices, a bar that had not closed, a bar dated after the fetch (a row's own time: that row
    only, the other bars stay). The fetch is `payload.fetched_at`, else the later of the scheduled minute and the
    ingest (`fetch_time`). A bar whose prices are all missing is a minute without trades, no bar at all: it is
    left out, never written as zeros or as the previous minute's. Prices are rounded to the chart's `priceHint`.
    """
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    bars = payload.bars
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise PayloadError(f"yahoo_finance: payload bars lack column(s) {', '.join(missing)}")
    ts = pd.DatetimeIndex(bars["ts"])
    ts = ts.tz_localize(UTC) if ts.tz is None else ts.tz_convert(UTC)
    prices = bars[list(PRICE_COLUMNS)].astype(float)
    # what the chart answer held that is not a number (`NullVolumes`): that bar's error, even with no price left
    notes = bars["unreadable"].tolist() if "unreadable" in bars.columns else [None] * len(bars)
    unread = [n if isinstance(n, str) and n else None for n in notes]
    keep = (
        (ts >= pd.Timestamp(payload.start))
        & (ts < pd.Timestamp(payload.end))
        & (prices.notna().any(axis=1).to_numpy() | np.array([n is not None for n in unread], dtype=bool))
    )
    # when the bars were fetched: the payload's own clock, else the later of the scheduled minute and the ingest
    fetched = to_utc(payload.fetched_at) if payload.fetched_at is not None else fetch_time(scheduled_at, ingested_at)
    closed_by = payload.fetched_at - CLOSED_GRACE if payload.fetched_at is not None else None
    rows: list[RawRow] = []
    with_bars: set[str] = set()
    symbols = bars["symbol"].to_numpy()[keep].tolist()
    stamps = ts[keep]
    values = prices.to_numpy()[keep]
    volumes = pd.to_numeric(bars["volume"], errors="coerce").astype(float).to_numpy()[keep]
    reasons = [n for n, kept in zip(unread, keep, strict=True) if kept]
    for symbol, stamp, (o, h, lo, c), v, note in zip(
        symbols, stamps, values.tolist(), volumes.tolist(), reasons, strict=True
    ):
        digits = payload.price_hints.get(symbol)
        if digits is not None:
            o, h, lo, c = (round(x, digits) for x in (o, h, lo, c))
        problem = f"bar {stamp.strftime('%H:%M')}Z: {note}" if note else None
        problem = problem or after_fetch(stamp.to_pydatetime(), fetched, "bar")
        problem = problem or bar_problem(stamp, o, h, lo, c, v, closed_by)
        with_bars.add(symbol)
        rows.append(
            {
                "symbol": symbol, "ts": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{k: _cell(x) for k, x in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True)},
                "volume": _volume_cell(v),
                "status": STATUS_ERROR if problem else STATUS_SUCCESS, "error": problem or "", **tail,
            }
        )  # fmt: skip
    span = f"[{iso(payload.start)}, {iso(payload.end)})"
    for symbol in [*payload.symbols, *(s for s in payload.errors if s not in payload.symbols)]:
        if symbol in with_bars:
            continue
        reason = payload.errors.get(symbol) or f"no 1-minute bar from Yahoo with a start in {span}"
        rows.append(
            {
                "symbol": symbol, "ts": "", "open": None, "high": None, "low": None, "close": None,
                "volume": None, "status": STATUS_ERROR, "error": reason, **tail,
            }
        )  # fmt: skip
    return refused_by_model("yahoo_finance", rows)


# ---------------------------------------------------------------------------------------------------- saved payloads

_SYMBOL_IN_NAME = re.compile(r"chart_([A-Za-z0-9.^=-]+?)_")


def _chart_symbol(body: dict[str, Any], path: Path) -> str:
    try:
        return str(body["chart"]["result"][0]["meta"]["symbol"]).upper()
    except (KeyError, IndexError, TypeError):
        match = _SYMBOL_IN_NAME.match(path.name)
        return (match.group(1) if match else path.stem).upper()


def load_chart(path: Path, *, session_factory: Callable[..., Any] | None = None) -> YahooPayload:
    """A saved chart JSON run through yfinance's own parsing (a replay session stands in for Yahoo)."""
    from pipeline.sources.yahoo_replay import Recorded, ReplaySession

    try:
        text = Path(path).read_text(encoding="utf-8")
        document = read_json(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{path}: not a Yahoo chart JSON file ({_one_line(exc)})") from exc
    except json.JSONDecodeError as exc:
        if not text.strip().lower().startswith(TOO_MANY_REQUESTS.lower()):
            raise PayloadError(f"{path}: not a Yahoo chart JSON file ({_one_line(exc)})") from exc
        document = {"status": 429, "body": text.strip()}  # Yahoo's plain-text 429, saved as it came
    status = 200
    if isinstance(document, dict) and "chart" not in document and isinstance(document.get("body"), dict | str):
        status, document = int(document.get("status", 200)), document["body"]
    if isinstance(document, str):
        if status != 429:
            raise PayloadError(f"{path}: a text body with HTTP {status}: not a Yahoo chart answer")
        symbol = _chart_symbol({}, Path(path))
        session = (session_factory or ReplaySession)({symbol: Recorded(document, status)})
        end = floor_minute(datetime.now(UTC))
        return download([symbol], end - timedelta(minutes=1), end, session=session, workers=1)
    if not isinstance(document, dict) or not isinstance(document.get("chart"), dict):
        raise PayloadError(f"{path}: not a Yahoo chart JSON body (no 'chart' object at the top)")
    symbol = _chart_symbol(document, Path(path))
    stamps = []
    try:
        stamps = [int(t) for t in (document["chart"]["result"] or [{}])[0].get("timestamp") or []]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError):
        stamps = []
    if stamps:
        try:
            start = datetime.fromtimestamp(min(stamps), UTC)
            end = datetime.fromtimestamp(max(stamps), UTC) + timedelta(minutes=1)
        except (OverflowError, ValueError, OSError):
            bad = next(t for t in (min(stamps), max(stamps)) if not _is_time(t))
            raise PayloadError(
                f"{path}: chart timestamp {bad} is not a time (epoch seconds between years 1 and 9999)"
            ) from None
    else:
        end = floor_minute(datetime.now(UTC))
        start = end - timedelta(days=1)
    session = (session_factory or ReplaySession)({symbol: Recorded(document, status)})
    payload = download([symbol], start, end, session=session, workers=1)
    last_trade = recorded_at(document)
    # the last trade proves the bars that ended by then had closed: no grace on top of it
    payload.fetched_at = last_trade + CLOSED_GRACE if last_trade is not None else None
    if payload.fetched_at is not None:  # a chart claiming a last trade after now was not fetched then
        payload.fetched_at = min(payload.fetched_at, datetime.now(UTC))
    return payload


def recorded_at(body: dict[str, Any]) -> datetime | None:
    """When a saved chart was fetched, as far as it tells: its `regularMarketTime` (the last trade) if that lies
    inside the regular session its `currentTradingPeriod` names (a chart saved mid-session, whose last bar may
    still have been open); None for a chart saved while the market was closed (every bar in it had closed)."""
    try:
        meta = body["chart"]["result"][0]["meta"]
        last = int(meta["regularMarketTime"])
        regular = meta["currentTradingPeriod"]["regular"]
        opens, closes = int(regular["start"]), int(regular["end"])
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None
    return datetime.fromtimestamp(last, UTC) if opens <= last < closes and _is_time(last) else None


def _is_time(stamp: int) -> bool:
    """Whether epoch seconds name a time a datetime can hold (and one minute after it)."""
    try:
        datetime.fromtimestamp(stamp, UTC) + timedelta(minutes=1)
    except (OverflowError, ValueError, OSError):
        return False
    return True


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


def _account(doc: YahooState, chosen: Plan, payload: YahooPayload, meter: Meter | None, settings: Settings) -> None:
    """Record in the state what the minute did: who is fetched through when, today's 404s, the breaker."""
    at, end = chosen.at, chosen.end
    limited = {s for s, e in payload.errors.items() if "HTTP 429" in e}
    for symbol in payload.symbols:
        if symbol not in limited:
            doc.through[symbol] = iso(end)
    for symbol in (*payload.unfetched, *chosen.deferred, *limited):
        lookback = timedelta(minutes=settings.yahoo_lookback_minutes)
        doc.through.setdefault(symbol, iso(chosen.starts.get(symbol, end - lookback)))
    missing = [s for s, e in payload.errors.items() if NOT_FOUND in e]
    if meter is not None:
        missing = sorted({*missing, *not_found_symbols(meter.chart_status)} & set(payload.errors))
    doc.mark_missing(missing, at)
    until = None
    if meter is not None and meter.tripped and meter.rate_limited:
        until = doc.trip(at, settings.yahoo_cooldown_minutes, settings.yahoo_cooldown_max_minutes)
    elif not limited:
        doc.calm()
    payload.stats.update(
        {
            "scheduled_at": iso(at), "share": chosen.share, "planned": len(chosen.symbols),
            "asked": len(payload.symbols), "unfetched": len(payload.unfetched), "deferred": len(chosen.deferred),
            "not_found_skipped": len(chosen.skipped_not_found), "newly_not_found": len(missing),
            "cooldown": until is not None, "cooldown_until": iso(until) if until else None,
            "cooldown_level": doc.cooldown_level,
        }
    )  # fmt: skip
    doc.last = dict(payload.stats)
    doc.tally(
        at, int(payload.stats.get("requests") or 0), int(payload.stats.get("rate_limited") or 0), until is not None
    )


def _fail_if_nothing_came(payload: YahooPayload, doc: YahooState) -> None:
    """A minute whose every asked symbol failed is no success: raise (the state is saved, no raw object written)."""
    asked = payload.symbols
    if asked and not all(s in payload.errors for s in asked):
        return
    if not asked and not payload.unfetched:
        return
    cooling = f"; cooling down until {doc.cooldown_until}" if payload.stats.get("cooldown") else ""
    first = next(iter(payload.errors.values()), "the circuit breaker opened before any symbol was asked")
    emit(payload, rows=None)
    raise UpstreamError(
        f"yahoo_finance {payload.stats.get('scheduled_at')}: every one of the {len(asked)} symbol(s) asked failed, "
        f"nothing written ({len(payload.unfetched)} left for the next minute){cooling}: {first}"
    )


class YahooFinance:
    """The source. `session` (live mode) is handed to yfinance: None for its own curl_cffi session; tests and the
    benchmark give a replay session."""

    id: SourceId = "yahoo_finance"

    def __init__(
        self,
        session: Any = None,
        clock: Callable[[], datetime] | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.session = session
        self.clock = clock  # the time of a fetch (default: the wall clock live, T + 10 s simulated)
        self.symbols = tuple(symbols) if symbols is not None else None  # default: the universe file

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> YahooPayload:
        """This minute's share of the universe (`yahoo_budget`), live or from the twin; nothing when the market
        is closed, during a cool-down or while another run holds the lease (NothingToIngest, no request sent)."""
        at = floor_minute(scheduled_at)
        start, end = window(at, settings.yahoo_lookback_minutes)
        closed = calendar.closed_reason(calendar.XNYS, start, end)
        if closed is not None:
            raise NothingToIngest(
                f"yahoo_finance: the US stock market is closed for bars starting in [{iso(start)}, {iso(end)}): "
                f"{closed}"
            )
        doc = YahooState.load(state)
        until = doc.cooling_down(at)
        if until is not None:
            emit_cooldown(until, doc.cooldown_level)
            raise NothingToIngest(
                f"yahoo_finance: cooling down after HTTP 429 from Yahoo until {iso(until)} "
                f"(trip {doc.cooldown_level} in a row): no request sent"
            )
        hold = timedelta(seconds=settings.yahoo_time_budget_seconds) + LEASE_MARGIN
        owner = doc.acquire(state, at, datetime.now(UTC), hold) if state is not None else None
        try:
            return self._fetch_share(settings, at, end, doc)
        finally:
            if owner is not None:
                doc.release(owner)
                doc.save(state)

    def _clock(self, settings: Settings, at: datetime) -> Callable[[], datetime]:
        if self.clock is not None:
            return self.clock
        if settings.mode == "simulated":  # the twin is asked as a scheduled invocation would ask it, just after T
            return lambda: at + SIMULATED_FETCH_DELAY
        return _now

    def _fetch_share(self, settings: Settings, at: datetime, end: datetime, doc: YahooState) -> YahooPayload:
        symbols = self.symbols or universe(settings.universe_limit)
        clock = self._clock(settings, at)
        # ask only for bars that have closed by now (a run starting late in its minute asks for one bar less)
        end = min(end, floor_minute(clock() - CLOSED_GRACE))
        chosen = plan(
            symbols, at, end, doc, rotation=settings.yahoo_rotation_minutes,
            lookback=settings.yahoo_lookback_minutes, per_minute=settings.yahoo_requests_per_minute,
        )  # fmt: skip
        if not chosen.symbols:
            raise NothingToIngest(
                f"yahoo_finance: every symbol of share {chosen.share} answered 404 earlier today: nothing to fetch"
            )
        twin = _twin(settings, symbols) if settings.mode == "simulated" else None
        if settings.mode == "simulated" and twin is None:
            payload = simulate(
                settings.seed, chosen.symbols, chosen.start, end, starts=chosen.starts, population=symbols
            )
            payload.fetched_at = clock()
            payload.stats.update({"requests": 0, "rate_limited": 0, "breaker_tripped": False})
            meter = None
        else:
            budget = settings.yahoo_time_budget_seconds
            meter = Meter(settings.yahoo_breaker_429s, time.monotonic() + budget, time.monotonic)
            if twin is not None:
                twin.clock = clock
            session = twin.session() if twin is not None else self.session
            payload = download(
                chosen.symbols, chosen.start, end, session=session, clock=clock, starts=chosen.starts, meter=meter
            )
        _account(doc, chosen, payload, meter, settings)
        _fail_if_nothing_came(payload, doc)
        return payload

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, YahooPayload):
            raise PayloadError(f"yahoo_finance: expected a YahooPayload, got {type(payload).__name__}")
        rows = parse_payload(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)
        if payload.stats:  # a fetched minute (not a saved chart): its figures go to CloudWatch
            emit(payload, rows)
        return rows

    def load_payload(self, path: Path) -> YahooPayload:
        return load_chart(path)

    def saved_at(self, payload: Any) -> datetime | None:
        """A saved chart is of the minute after its last bar (the window's end)."""
        return to_utc(payload.end) if isinstance(payload, YahooPayload) else None


SOURCE = YahooFinance()
