"""Saved payloads (`pipeline parse yahoo_finance FILE`): a chart JSON body run through yfinance's own parsing with
a `ReplaySession` standing in for Yahoo, as the live fetch would have read it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.contracts import floor_minute
from pipeline.sources.base import (
    PayloadError,
    read_json,
)
from pipeline.sources.yahoo_finance.fetch import download
from pipeline.sources.yahoo_finance.payload import CLOSED_GRACE, YahooPayload, _one_line
from pipeline.sources.yahoo_finance.replay import TOO_MANY_REQUESTS

_SYMBOL_IN_NAME = re.compile(r"chart_([A-Za-z0-9.^=-]+?)_")


def _chart_symbol(body: dict[str, Any], path: Path) -> str:
    try:
        return str(body["chart"]["result"][0]["meta"]["symbol"]).upper()
    except (KeyError, IndexError, TypeError):
        match = _SYMBOL_IN_NAME.match(path.name)
        return (match.group(1) if match else path.stem).upper()


def load_chart(path: Path, *, session_factory: Callable[..., Any] | None = None) -> YahooPayload:
    """A saved chart JSON run through yfinance's own parsing (a replay session stands in for Yahoo)."""
    from pipeline.sources.yahoo_finance.replay import Recorded, ReplaySession

    status, document = _saved_answer(path)
    replay = session_factory or ReplaySession
    if isinstance(document, str):
        if status != 429:
            raise PayloadError(f"{path}: a text body with HTTP {status}: not a Yahoo chart answer")
        symbol = _chart_symbol({}, Path(path))
        session = replay({symbol: Recorded(document, status)})
        end = floor_minute(datetime.now(UTC))
        return download([symbol], end - timedelta(minutes=1), end, session=session, workers=1)
    if not isinstance(document, dict) or not isinstance(document.get("chart"), dict):
        raise PayloadError(f"{path}: not a Yahoo chart JSON body (no 'chart' object at the top)")
    symbol = _chart_symbol(document, Path(path))
    start, end = _chart_window(document, path)
    session = replay({symbol: Recorded(document, status)})
    payload = download([symbol], start, end, session=session, workers=1)
    last_trade = recorded_at(document)
    # the last trade proves the bars that ended by then had closed: no grace on top of it
    payload.fetched_at = last_trade + CLOSED_GRACE if last_trade is not None else None
    if payload.fetched_at is not None:  # a chart claiming a last trade after now was not fetched then
        payload.fetched_at = min(payload.fetched_at, datetime.now(UTC))
    return payload


def _saved_answer(path: Path) -> tuple[int, Any]:
    """(HTTP status, body) of a saved file: a chart body (200), `{"status", "body"}` as saved with its status, or
    Yahoo's plain-text 429 as it came."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        document = read_json(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{path}: not a Yahoo chart JSON file ({_one_line(exc)})") from exc
    except json.JSONDecodeError as exc:
        if not text.strip().lower().startswith(TOO_MANY_REQUESTS.lower()):
            raise PayloadError(f"{path}: not a Yahoo chart JSON file ({_one_line(exc)})") from exc
        document = {"status": 429, "body": text.strip()}  # Yahoo's plain-text 429, saved as it came
    if isinstance(document, dict) and "chart" not in document and isinstance(document.get("body"), dict | str):
        return int(document.get("status", 200)), document["body"]
    return 200, document


def _chart_window(document: dict[str, Any], path: Path) -> tuple[datetime, datetime]:
    """The window a saved chart covers: its first bar's start to a minute after its last (a chart without bars:
    the day before now)."""
    stamps = []
    try:
        stamps = [int(t) for t in (document["chart"]["result"] or [{}])[0].get("timestamp") or []]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError):
        stamps = []
    if not stamps:
        end = floor_minute(datetime.now(UTC))
        return end - timedelta(days=1), end
    try:
        start = datetime.fromtimestamp(min(stamps), UTC)
        end = datetime.fromtimestamp(max(stamps), UTC) + timedelta(minutes=1)
    except (OverflowError, ValueError, OSError):
        bad = next(t for t in (min(stamps), max(stamps)) if not _is_time(t))
        raise PayloadError(
            f"{path}: chart timestamp {bad} is not a time (epoch seconds between years 1 and 9999)"
        ) from None
    return start, end


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
