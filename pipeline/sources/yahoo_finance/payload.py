"""What a fetch of Yahoo hands the parser: the window, the symbols asked, the bars as yfinance returned them, and
why a symbol failed (`YahooPayload`), with the constants every part of the source shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contracts import floor_minute
from pipeline.errors import one_line
from pipeline.sources.numbers import shown

INTERVAL = "1m"

UNFETCHED = "\x00not fetched"  # download's marker for a symbol it did not ask for (never a row)

BAR_SECONDS = 60

# A bar is closed once its minute has ended this long before the fetch (trades of its last seconds still arrive).
CLOSED_GRACE = timedelta(seconds=5)

EXCHANGE_TIMEZONE = "America/New_York"

BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")

PRICE_COLUMNS = ("open", "high", "low", "close")

VOLUME_BOUND = 2**63  # what yfinance's int64 volume column holds


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


def conflicting_bars(symbol: str, copies: list[tuple[Any, ...]]) -> str:
    """Why a minute for which one symbol has different bars (open, high, low, close, volume) is no bar: neither
    is stored, and none is picked by position."""
    listed = "; ".join(
        ", ".join(f"{name} {_value(v)}" for name, v in zip(_FIELDS, copy, strict=False)) for copy in copies[:3]
    )
    more = "; …" if len(copies) > 3 else ""
    return (
        f"{symbol} has {len(copies)} different bars for this minute ({listed}{more}): which one is meant cannot be told"
    )


_FIELDS = (*PRICE_COLUMNS, "volume")


def _value(value: Any) -> str:
    """One value of a bar for a message: 226.1, 1200 (not 1200.0), missing, or what it is ('abc')."""
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    if isinstance(value, float) and value.is_integer() and abs(value) < VOLUME_BOUND:
        return str(int(value))
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else shown(value, 40)
