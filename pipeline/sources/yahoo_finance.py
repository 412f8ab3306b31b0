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
so a failing symbol raises instead of coming back as an empty frame. HTTP 429 (`YFRateLimitError`) is retried
with jittered exponential backoff (tenacity); a symbol still limited after `RATE_LIMIT_ATTEMPTS` gets an error row.
Simulated: the same payload from `pipeline.sources.simulator` (a deterministic random walk per symbol and day).

Raw rows (`parse`): one `success` row per (symbol, bar) inside the window whose prices are all present (a bar
Yahoo sends with null prices, a minute without trades, is no bar: yfinance drops it and so does the parser);
one `error` row per symbol that failed or returned no bar in the window, naming why (a delisted symbol's
404 "Not Found" chart body is such a failure). `ts` is the bar start in UTC.

Saved payloads (`pipeline parse yahoo_finance FILE`): a chart JSON body as the API returns it (or
`{"status": 404, "body": {...}}`), run through yfinance's own parsing with a `ReplaySession`, then `parse`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from pipeline.constants import SourceId
from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, floor_minute, iso, to_utc
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sources import simulator
from pipeline.sources.base import NothingToIngest, PayloadError, RawRow
from pipeline.sources.universe import universe
from pipeline.state import StateStore

INTERVAL = "1m"
WORKERS = 8
RATE_LIMIT_ATTEMPTS = 4
BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass
class YahooPayload:
    start: datetime
    end: datetime
    symbols: tuple[str, ...]
    bars: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)


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


def _reason(symbol: str, exc: BaseException) -> str:
    """Why a symbol failed, on one line (query strings, which carry the crumb, left out)."""
    from yfinance.exceptions import YFTzMissingError

    if getattr(getattr(exc, "response", None), "status_code", None) == 404:
        return f"Yahoo has no data for {symbol} (HTTP 404 Not Found): possibly delisted"
    if isinstance(exc, YFTzMissingError):  # the chart answered without an exchange timezone (404 "Not Found")
        return f"Yahoo has no data for {symbol} (no exchange timezone): possibly delisted"
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
    return yf


def _history(symbol: str, start: datetime, end: datetime, session: Any, wait: Any) -> pd.DataFrame:
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
    from yfinance.exceptions import YFRateLimitError

    yf = _yfinance()
    retrying = Retrying(
        retry=retry_if_exception_type(YFRateLimitError),
        # full jitter, as botocore does: the worker threads limited together do not retry in step
        wait=wait if wait is not None else wait_random_exponential(multiplier=1, min=1, max=8),
        stop=stop_after_attempt(RATE_LIMIT_ATTEMPTS),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            ticker = yf.Ticker(symbol, session=session)
            return ticker.history(  # type: ignore[no-any-return]
                start=start, end=end, interval=INTERVAL, prepost=False, actions=False,
                auto_adjust=False, keepna=False, timeout=10,
            )  # fmt: skip
    raise AssertionError("unreachable: tenacity reraises")


def _long(symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A yfinance history frame (exchange-time index, Open..Volume) as rows of (symbol, ts UTC, ...)."""
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": index,
            **{c: frame[c.capitalize()].to_numpy(dtype=float) for c in PRICE_COLUMNS},
            "volume": frame["Volume"].fillna(0).to_numpy(dtype=np.int64),
        }
    )


def download(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    session: Any = None,
    workers: int = WORKERS,
    wait: Any = None,
) -> YahooPayload:
    """One-minute bars for `symbols` with bar starts in [start, end), live from Yahoo (one request a symbol).

    `session` is handed to yfinance (a requests or curl_cffi session; default: yfinance's own curl_cffi one);
    `wait` overrides the tenacity wait between rate-limited attempts.
    """
    from yfinance.data import YfData

    _yfinance()
    start, end = to_utc(start), to_utc(end)
    # Responses for past windows are memoised by yfinance per URL: a new fetch must ask again.
    YfData.cache_get.cache_clear()

    def one(symbol: str) -> tuple[str, pd.DataFrame | None, str | None]:
        from yfinance.exceptions import YFRateLimitError

        try:
            return symbol, _long(symbol, _history(symbol, start, end, session, wait)), None
        except YFRateLimitError:
            return symbol, None, f"rate limited by Yahoo (HTTP 429) {RATE_LIMIT_ATTEMPTS} times in a row"
        except Exception as exc:  # one symbol's failure must not lose the others
            return symbol, None, _reason(symbol, exc)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(symbols)))) as pool:
        results = list(pool.map(one, symbols))
    frames = [f for _, f, _ in results if f is not None and not f.empty]
    errors = {s: e for s, _, e in results if e is not None}
    bars = pd.concat(frames, ignore_index=True) if frames else empty_bars()
    return YahooPayload(start, end, tuple(symbols), bars, errors)


# ---------------------------------------------------------------------------------------------------- simulated


def simulate(seed: int, symbols: Sequence[str], start: datetime, end: datetime) -> YahooPayload:
    """The simulated twin: the payload `download` would return, from the deterministic simulated market."""
    start, end = to_utc(start), to_utc(end)
    symbols = tuple(symbols)
    names = np.asarray(symbols, dtype=object)
    parts = []
    for day, session_open, minutes in simulator.stock_sessions(start, end):
        bars = simulator.stock_day(seed, symbols, day)
        if bars is None:
            continue
        count = minutes.stop - minutes.start
        first = np.datetime64(session_open.replace(tzinfo=None), "ns")
        stamps = first + np.arange(minutes.start, minutes.stop) * np.timedelta64(60, "s")
        parts.append(
            pd.DataFrame(
                {
                    "symbol": np.repeat(names, count),
                    "ts": pd.DatetimeIndex(np.tile(stamps, len(symbols))).tz_localize(UTC),
                    "open": bars.open[:, minutes].ravel(),
                    "high": bars.high[:, minutes].ravel(),
                    "low": bars.low[:, minutes].ravel(),
                    "close": bars.close[:, minutes].ravel(),
                    "volume": bars.volume[:, minutes].ravel(),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else empty_bars()
    return YahooPayload(start, end, symbols, frame)


# ---------------------------------------------------------------------------------------------------- parse


def parse_payload(payload: YahooPayload, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    """Raw rows: one per (symbol, bar) in the window, then one error row per symbol without bars."""
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    bars = payload.bars
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise PayloadError(f"yahoo_finance payload: bars lack column(s) {', '.join(missing)}")
    ts = pd.DatetimeIndex(bars["ts"])
    ts = ts.tz_localize(UTC) if ts.tz is None else ts.tz_convert(UTC)
    keep = (
        (ts >= pd.Timestamp(payload.start)) & (ts < pd.Timestamp(payload.end))
        & bars[list(PRICE_COLUMNS)].notna().all(axis=1).to_numpy()
    )  # fmt: skip
    good = bars.loc[keep]
    stamps = ts[keep].strftime("%Y-%m-%dT%H:%M:%SZ")
    volume = good["volume"].fillna(0).to_numpy(dtype=np.int64).tolist()
    columns = [good[c].to_numpy(dtype=float).tolist() for c in PRICE_COLUMNS]
    rows: list[RawRow] = [
        {
            "symbol": symbol, "ts": stamp, "open": o, "high": h, "low": lo, "close": c, "volume": v,
            "status": STATUS_SUCCESS, "error": "", **tail,
        }
        for symbol, stamp, o, h, lo, c, v in zip(good["symbol"].tolist(), stamps, *columns, volume, strict=True)
    ]  # fmt: skip
    with_bars = set(good["symbol"].unique().tolist())
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
    return rows


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
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"{path}: not a Yahoo chart JSON file ({_one_line(exc)})") from exc
    status = 200
    if isinstance(document, dict) and "chart" not in document and isinstance(document.get("body"), dict):
        status, document = int(document.get("status", 200)), document["body"]
    if not isinstance(document, dict) or not isinstance(document.get("chart"), dict):
        raise PayloadError(f"{path}: not a Yahoo chart JSON body (no 'chart' object at the top)")
    symbol = _chart_symbol(document, Path(path))
    stamps = []
    try:
        stamps = [int(t) for t in (document["chart"]["result"] or [{}])[0].get("timestamp") or []]
    except (KeyError, IndexError, TypeError, ValueError):
        stamps = []
    if stamps:
        start = datetime.fromtimestamp(min(stamps), UTC)
        end = datetime.fromtimestamp(max(stamps), UTC) + timedelta(minutes=1)
    else:
        end = floor_minute(datetime.now(UTC))
        start = end - timedelta(days=1)
    session = (session_factory or ReplaySession)({symbol: Recorded(document, status)})
    return download([symbol], start, end, session=session, workers=1)


class YahooFinance:
    id: SourceId = "yahoo_finance"

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> YahooPayload:
        start, end = window(scheduled_at, settings.yahoo_lookback_minutes)
        if not simulator.stock_sessions(start, end):
            raise NothingToIngest(
                f"yahoo_finance: the US stock market is closed for bars starting in [{iso(start)}, {iso(end)})"
            )
        symbols = universe(settings.universe_limit)
        if settings.mode == "simulated":
            return simulate(settings.seed, symbols, start, end)
        return download(symbols, start, end)

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, YahooPayload):
            raise PayloadError(f"yahoo_finance: expected a YahooPayload, got {type(payload).__name__}")
        return parse_payload(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def load_payload(self, path: Path) -> YahooPayload:
        return load_chart(path)


SOURCE = YahooFinance()
