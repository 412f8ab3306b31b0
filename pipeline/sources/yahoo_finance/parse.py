"""The parser: a `YahooPayload` to raw rows, one per (symbol, bar) in the window, then one error row per symbol
without bars (see the package's docstring for what makes a bar a success row)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, iso, to_utc
from pipeline.sources.base import (
    PayloadError,
    RawRow,
    after_fetch,
    fetch_time,
    refused_by_model,
)
from pipeline.sources.yahoo_finance.payload import (
    BAR_COLUMNS,
    BAR_SECONDS,
    CLOSED_GRACE,
    PRICE_COLUMNS,
    VOLUME_BOUND,
    YahooPayload,
    conflicting_bars,
)


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
    A minute a symbol has twice is one bar when both copies agree, and one error row naming both when they do not
    (`_one_bar_per_minute`), never two rows under one natural key nor one copy picked by position.
    """
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    kept = _one_bar_per_minute(*_kept_bars(payload))
    # when the bars were fetched: the payload's own clock, else the later of the scheduled minute and the ingest
    fetched = to_utc(payload.fetched_at) if payload.fetched_at is not None else fetch_time(scheduled_at, ingested_at)
    closed_by = payload.fetched_at - CLOSED_GRACE if payload.fetched_at is not None else None
    rows: list[RawRow] = []
    for symbol, stamp, ohlc, v, note in zip(*kept, strict=True):
        digits = payload.price_hints.get(symbol)
        if digits is not None:
            ohlc = [round(x, digits) for x in ohlc]
        o, h, lo, c = ohlc
        problem = f"bar {stamp.strftime('%H:%M')}Z: {note}" if note else None
        problem = problem or after_fetch(stamp.to_pydatetime(), fetched, "bar")
        problem = problem or bar_problem(stamp, o, h, lo, c, v, closed_by)
        rows.append(
            {
                "symbol": symbol, "ts": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{k: _cell(x) for k, x in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True)},
                "volume": _volume_cell(v),
                "status": STATUS_ERROR if problem else STATUS_SUCCESS, "error": problem or "", **tail,
            }
        )  # fmt: skip
    with_bars = {row["symbol"] for row in rows}
    return refused_by_model("yahoo_finance", [*rows, *_symbols_without_bars(payload, with_bars, tail)])


def _kept_bars(payload: YahooPayload) -> tuple[list[Any], pd.DatetimeIndex, list[Any], list[Any], list[str | None]]:
    """The bars in the window worth a row, as (symbols, starts, [open, high, low, close] lists, volumes, what was
    unreadable in each): a bar with a price, or with a value the chart answer held that is not a number
    (`NullVolumes`: that bar's error, even with no price left)."""
    bars = payload.bars
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise PayloadError(f"yahoo_finance: payload bars lack column(s) {', '.join(missing)}")
    ts = pd.DatetimeIndex(bars["ts"])
    ts = ts.tz_localize(UTC) if ts.tz is None else ts.tz_convert(UTC)
    prices = bars[list(PRICE_COLUMNS)].astype(float)
    notes = bars["unreadable"].tolist() if "unreadable" in bars.columns else [None] * len(bars)
    unread = [n if isinstance(n, str) and n else None for n in notes]
    keep = (
        (ts >= pd.Timestamp(payload.start))
        & (ts < pd.Timestamp(payload.end))
        & (prices.notna().any(axis=1).to_numpy() | np.array([n is not None for n in unread], dtype=bool))
    )
    symbols = bars["symbol"].to_numpy()[keep].tolist()
    values = prices.to_numpy()[keep].tolist()
    volumes = pd.to_numeric(bars["volume"], errors="coerce").astype(float).to_numpy()[keep].tolist()
    reasons = [n for n, kept in zip(unread, keep, strict=True) if kept]
    return symbols, ts[keep], values, volumes, reasons


def _one_bar_per_minute(
    symbols: list[Any], starts: pd.DatetimeIndex, values: list[Any], volumes: list[Any], notes: list[str | None]
) -> tuple[list[Any], pd.DatetimeIndex, list[Any], list[Any], list[str | None]]:
    """The bars of `_kept_bars` with one entry per (symbol, minute), in the order first seen: copies that agree in
    every value are one bar; copies that differ are one bar without values whose note names them all."""
    groups: dict[tuple[Any, pd.Timestamp], list[int]] = {}
    for index, key in enumerate(zip(symbols, starts, strict=True)):
        groups.setdefault(key, []).append(index)
    if len(groups) == len(symbols):
        return symbols, starts, values, volumes, notes
    first = [indexes[0] for indexes in groups.values()]
    out_values, out_volumes, out_notes = [], [], []
    for (symbol, _), indexes in groups.items():
        copies = list(dict.fromkeys(_bar_values(values[i], volumes[i], notes[i]) for i in indexes))
        if len(copies) == 1:
            out_values.append(values[indexes[0]])
            out_volumes.append(volumes[indexes[0]])
            out_notes.append(notes[indexes[0]])
            continue
        out_values.append([math.nan] * len(PRICE_COLUMNS))
        out_volumes.append(math.nan)
        out_notes.append(conflicting_bars(str(symbol), [copy[:-1] for copy in copies]))
    return [symbols[i] for i in first], starts[first], out_values, out_volumes, out_notes


def _bar_values(ohlc: list[float], volume: float, note: str | None) -> tuple[Any, ...]:
    """A bar's values, comparable (a missing value equals a missing value, never a number)."""
    return (*(None if x != x else x for x in (*ohlc, volume)), note)


def _symbols_without_bars(payload: YahooPayload, with_bars: set[str], tail: dict[str, str]) -> list[RawRow]:
    """One error row per symbol asked (or failed) that has no bar row: why it failed, else that no bar came."""
    span = f"[{iso(payload.start)}, {iso(payload.end)})"
    rows: list[RawRow] = []
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
