"""Fixtures of the source tests: a builder of Yahoo chart bodies, the fixture folders, a yfinance cache per session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
NEW_YORK = ZoneInfo("America/New_York")


def chart_body(
    symbol: str,
    first_bar: datetime,
    closes: Sequence[float | None],
    *,
    volume: int = 1200,
) -> dict[str, Any]:
    """A /v8/finance/chart/<symbol> body of one-minute bars from `first_bar` (UTC), in Yahoo's shape.

    A `None` close makes an all-null bar (a minute without trades), as Yahoo sends them.
    """
    local = first_bar.astimezone(NEW_YORK)
    offset = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
    zone = local.tzname()
    opens = datetime.combine(local.date(), datetime.min.time(), NEW_YORK).replace(hour=9, minute=30)
    regular = {
        "timezone": zone, "start": int(opens.timestamp()),
        "end": int((opens + timedelta(hours=6, minutes=30)).timestamp()), "gmtoffset": offset,
    }  # fmt: skip
    stamps, o, h, lo, c, v = [], [], [], [], [], []
    previous = next((x for x in closes if x is not None), 100.0)
    for i, close in enumerate(closes):
        stamps.append(int((first_bar + timedelta(minutes=i)).timestamp()))
        if close is None:
            for series in (o, h, lo, c, v):
                series.append(None)
            continue
        o.append(previous)
        h.append(round(max(previous, close) + 0.05, 4))
        lo.append(round(min(previous, close) - 0.05, 4))
        c.append(close)
        v.append(volume + 10 * i)
        previous = close
    meta = {
        "currency": "USD", "symbol": symbol, "exchangeName": "NMS", "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY", "firstTradeDate": 345479400, "regularMarketTime": stamps[-1],
        "hasPrePostMarketData": True, "gmtoffset": offset, "timezone": zone,
        "exchangeTimezoneName": "America/New_York", "regularMarketPrice": previous,
        "chartPreviousClose": o[0] if o and o[0] is not None else previous, "priceHint": 2,
        "currentTradingPeriod": {
            "pre": {**regular, "start": regular["start"] - 19800, "end": regular["start"]},
            "regular": regular,
            "post": {**regular, "start": regular["end"], "end": regular["end"] + 14400},
        },
        "tradingPeriods": [[regular]], "dataGranularity": "1m", "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }  # fmt: skip
    result = {
        "meta": meta,
        "timestamp": stamps,
        "indicators": {"quote": [{"open": o, "high": h, "low": lo, "close": c, "volume": v}]},
    }
    return {"chart": {"result": [result], "error": None}}


@pytest.fixture
def chart() -> Callable[..., dict[str, Any]]:
    """The chart-body builder (see `chart_body`)."""
    return chart_body


@pytest.fixture(autouse=True, scope="session")
def _yfinance_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """yfinance keeps timezones and cookies in SQLite files: give the tests their own folder."""
    from pipeline.sources.yahoo_finance import fetch as yahoo_finance

    yf = yahoo_finance._yfinance()
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))


@pytest.fixture
def shared() -> Path:
    """The recorded reference payloads next to the repository (skips the test when they are absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"no reference payloads at {SHARED}")
    return SHARED
