"""What a chart answer holds that yfinance would misread, read from the answers themselves (`NullVolumes`)."""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import UTC
from functools import partial
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd

from pipeline.sources.base import (
    read_json,
)
from pipeline.sources.numbers import shown
from pipeline.sources.yahoo_finance.payload import PRICE_COLUMNS, VOLUME_BOUND, conflicting_bars

_CHART_URL = re.compile(r"/v8/finance/chart/([^/?#]+)")


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
    (`unreadable`): one error row for the symbol naming the field. A bar start the answer names twice with
    different values (yfinance keeps the first, `df.index.duplicated(keep='first')`, and says nothing) is no bar:
    its values are nulled and the bar is an error row naming the copies (`conflicts`); the same values twice are
    one bar.

    `wrap(session)` lets every chart answer that passes through the session be read here (the session is the
    one yfinance is handed: the live one, the metered one, a replay); `restore(symbol, frame)` puts the nulls
    back in that symbol's bars and names each bar's unreadable values (column `unreadable`).
    """

    def __init__(self) -> None:
        self.stamps: dict[str, set[int]] = {}
        self.bad: dict[str, dict[int, dict[str, str]]] = {}  # symbol -> bar start (epoch s) -> {field: why}
        self.unreadable: dict[str, str] = {}  # symbol -> why its answer cannot be read
        self.conflicts: dict[str, dict[int, str]] = {}  # symbol -> bar start named twice with different bars -> why
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
        conflicts = _conflicting_bars(symbol, stamps, quote)  # before cleaning: the values as Yahoo sent them
        nulls, bad_values = _clean(stamps, quote, result["indicators"])
        if bad_values:
            _replace_body(response, document)
        with self._lock:
            if conflicts:
                self.conflicts.setdefault(symbol, {}).update(conflicts)
            if nulls:
                self.stamps.setdefault(symbol, set()).update(nulls)
            for stamp, fields in bad_values.items():
                self.bad.setdefault(symbol, {}).setdefault(stamp, {}).update(fields)

    def restore(self, symbol: str, bars: pd.DataFrame) -> pd.DataFrame:
        with self._lock:
            stamps = sorted(self.stamps.get(symbol.upper(), ()))
            bad = dict(self.bad.get(symbol.upper(), {}))
            conflicts = dict(self.conflicts.get(symbol.upper(), {}))
        if stamps:
            missing = bars["ts"].isin(pd.to_datetime(stamps, unit="s", utc=True))
            bars.loc[missing.to_numpy(), "volume"] = np.nan
        for stamp, why in conflicts.items():  # yfinance kept the first of the bars: every value nulled, one reason
            bad[stamp] = {"bar": why, **dict.fromkeys((*PRICE_COLUMNS, "volume"), "")}
        if bad:  # yfinance filled a nulled volume with 0: each nulled value is missing again, and named
            at = {pd.Timestamp(stamp, unit="s", tz=UTC): fields for stamp, fields in bad.items()}
            found = [at.get(ts) for ts in bars["ts"]]
            for row, fields in enumerate(found):
                for name in fields or ():
                    if name in bars.columns:
                        bars.iloc[row, bars.columns.get_loc(name)] = np.nan
            bars["unreadable"] = ["; ".join(v for v in fields.values() if v) if fields else None for fields in found]
        return bars


def _conflicting_bars(symbol: str, stamps: list[Any], quote: dict[str, Any]) -> dict[int, str]:
    """{bar start: why} for each bar start the answer names twice with different values (yfinance would keep the
    first silently, `df.index.duplicated(keep='first')`); a start named twice with the same values is one bar."""
    at: dict[int, list[int]] = {}
    for index, stamp in enumerate(stamps):
        at.setdefault(int(stamp), []).append(index)
    columns: list[list[Any]] = []
    for name in (*PRICE_COLUMNS, "volume"):
        values = quote.get(name)
        columns.append(values if isinstance(values, list) else [])
    out: dict[int, str] = {}
    for stamp, indexes in at.items():
        if len(indexes) < 2:
            continue
        copies = [tuple(values[i] if i < len(values) else None for values in columns) for i in indexes]
        distinct = list({json.dumps(copy): copy for copy in copies}.values())
        if len(distinct) > 1:
            out[stamp] = conflicting_bars(symbol, distinct)
    return out


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


def _clean(
    stamps: list[int], quote: dict[str, Any], indicators: dict[str, Any]
) -> tuple[set[int], dict[int, dict[str, str]]]:
    """Null, in place, every value of a chart answer's quote that is not a number; ({bar starts with a null volume
    beside prices}, {bar start: why its values were nulled})."""
    bad = _null_bad_values(stamps, quote)
    _null_bad_adjclose(indicators)
    return _null_volumes(stamps, quote, bad), bad


def _null_bad_values(stamps: list[int], quote: dict[str, Any]) -> dict[int, dict[str, str]]:
    """Null each volume or price that is not a number; {bar start: {field: why}}."""
    bad: dict[int, dict[str, str]] = {}
    for name in ("volume", *PRICE_COLUMNS):
        values = quote.get(name)
        if not isinstance(values, list):
            continue
        for index, (stamp, value) in enumerate(zip(stamps, values, strict=False)):
            if (why := _number_problem(name, value)) is not None:
                values[index] = None
                bad.setdefault(stamp, {})[name] = why
    return bad


def _null_bad_adjclose(indicators: dict[str, Any]) -> None:
    """Null each adjusted close that is not a number: yfinance reads it too, though it is no bar's value."""
    for entry in indicators.get("adjclose") or []:
        values = entry.get("adjclose") if isinstance(entry, dict) else None
        for index, value in enumerate(values if isinstance(values, list) else []):
            if _number_problem("adjclose", value) is not None:
                values[index] = None  # type: ignore[index]


def _null_volumes(stamps: list[int], quote: dict[str, Any], bad: dict[int, dict[str, str]]) -> set[int]:
    """The bar starts whose volume Yahoo sent as null beside a price (bars already named in `bad` aside)."""
    prices: list[list[Any]] = [quote[c] if isinstance(quote.get(c), list) else [] for c in PRICE_COLUMNS]
    volumes: list[Any] = quote["volume"] if isinstance(quote.get("volume"), list) else []
    return {
        stamp
        for index, stamp in enumerate(stamps)
        if index < len(volumes) and volumes[index] is None and stamp not in bad
        and any(index < len(p) and p[index] is not None for p in prices)
    }  # fmt: skip


def _replace_body(response: Any, document: Any) -> None:
    """Give yfinance the cleaned answer: a requests response keeps its body in `_content`, curl_cffi's in `content`."""
    body = json.dumps(document).encode()
    if hasattr(response, "_content"):
        response._content = body
    else:
        response.content = body
