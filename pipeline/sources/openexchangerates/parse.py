"""The parser: a latest.json body to one raw row per currency (see the package's docstring)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, iso
from pipeline.schemas import EARLIEST, LATEST
from pipeline.sources.base import (
    PayloadError,
    RawRow,
    UpstreamError,
    after_fetch,
    fetch_time,
    refused_by_model,
    repeated_values,
)
from pipeline.sources.numbers import NotANumber, json_number, shown
from pipeline.sources.openexchangerates.fetch import error_message, upstream_error

# Top-level fields no row is made of: a body naming one of them twice still has one meaning.
_UNREAD = frozenset({"disclaimer", "license"})


def _listed(values: list[Any]) -> str:
    """The values of a repeated key for a message: the first three, each cut short."""
    return ", ".join([*(shown(v, 40) for v in values[:3]), *(["…"] if len(values) > 3 else [])])


def _refuse_repeated_fields(body: Any) -> None:
    """A body naming one of its fields twice with different values (two `timestamp`s, two `base`s, two `rates`
    objects) is refused: every row would carry a value picked by position, not one the service meant."""
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        values = repeated_values(value)
        if values is not None and key not in _UNREAD:
            raise PayloadError(
                f"openexchangerates body names {shown(key, 40)} {len(values)} times with different values "
                f"({_listed(values)}): which one is meant cannot be told"
            )


def rates_time(body: Any) -> datetime:
    """The time of a latest.json body's rates; an error body, or one without rates or a timestamp, or one naming
    a field twice with different values, raises."""
    _refuse_repeated_fields(body)
    if error_message(body, None):
        raise upstream_error(body, None) or UpstreamError("openexchangerates error body")
    if not isinstance(body, dict) or not isinstance(body.get("rates"), dict) or not body["rates"]:
        raise PayloadError("openexchangerates body has no 'rates' object: not a latest.json answer")
    stamp = body.get("timestamp")
    seconds = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
    if isinstance(stamp, float) and math.isfinite(stamp) and stamp.is_integer():
        seconds = int(stamp)
    if seconds is None:
        raise PayloadError(
            f"openexchangerates body has no usable 'timestamp' (whole epoch seconds): {shown(stamp)}"
        )  # fractional seconds would be truncated: not a time this API writes
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None or not EARLIEST <= when < LATEST:
        raise PayloadError(
            f"openexchangerates body's 'timestamp' {shown(stamp)} is not a time of rates "
            f"(years {EARLIEST.year}..{LATEST.year - 1})"
        )
    return when


_CURRENCY = re.compile(r"[A-Z]{3,8}")  # ISO 4217 codes, and the few longer ones the Rate row allows


def rate_problem(currency: Any, rate: Any) -> str | None:
    """Why one currency's rate cannot be stored (None when it can): the code is not a currency code, or the rate
    is given twice with different values, missing, not a finite number (true, "abc", an object, 1e400) or not
    above 0."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        return f"{shown(currency)} is not a currency code"
    values = repeated_values(rate)
    if values is not None:
        return (
            f"rate of {currency} is given {len(values)} times with different values "
            f"({_listed(values)}): which one is meant cannot be told"
        )
    try:
        value = json_number(rate, f"rate of {currency}")
    except NotANumber as exc:
        return str(exc)
    return None if value > 0 else f"rate of {currency} is {shown(rate)}, not above 0"


def parse_body(body: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    """One row per currency. A rate that cannot be read is an error row for that currency, naming the rate (also
    a currency the body names twice with different rates: neither is stored); the others stay success rows. The
    body as a whole is refused (`PayloadError`) when it cannot be read at all (no rates object, no timestamp, a
    base that is not a currency, a `timestamp`, `base` or `rates` given twice with different values) or when its
    own `timestamp` lies after the fetch
    (`fetch_time`) by more than `MAX_CLOCK_SKEW`: every rate in it carries that time."""
    rates_at = rates_time(body)
    late = after_fetch(rates_at, fetch_time(scheduled_at, ingested_at), "timestamp")
    if late:
        raise PayloadError(f"openexchangerates body refused: its {late}")
    rate_ts = iso(rates_at)
    base = body.get("base")  # the currency every rate is quoted against: never assumed
    if "base" not in body:
        raise PayloadError("openexchangerates body has no 'base': the rates' currency is unknown")
    if not isinstance(base, str) or not _CURRENCY.fullmatch(base):
        raise PayloadError(f"openexchangerates body: base {shown(base, 40)} is not a currency code")
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    rows = []
    for currency, rate in sorted(body["rates"].items()):
        problem = rate_problem(currency, rate)
        code = "".join(ch for ch in str(currency) if ch.isprintable())[:16]
        rows.append(
            {
                "base": base, "currency": code, "rate": None if problem else float(rate), "rate_ts": rate_ts,
                "status": STATUS_ERROR if problem else STATUS_SUCCESS, "error": problem or "", **tail,
            }
        )  # fmt: skip
    return refused_by_model("openexchangerates", rows)
