"""Typed rows: what a process function makes of a raw file's success rows before a sink sees them.

A row model refuses what is not a value, and the refusal names the field (`describe` gives it in one line, the
process function quarantines the row with it):

- numbers: only finite decimal numbers in ASCII digits (`150`, `1.5E+2`, `  100 `; never `inf`, `nan`, `1e309`,
  which reads as infinity, `1_000` or a boolean), within the column's type in its sink: prices, rates and amounts
  are doubles (a rate is also a normal double: SQL Server's FLOAT takes no subnormal number), a Yahoo volume is an
  integer below 2**63 (Snowflake's column is NUMBER(38, 0), but the sink binds its rows as one JSON document whose
  integers are exact only up to 2**63 - 1; `100.0` is read as 100, `100.5` is refused), a rank an int32,
  a coin id an int64; prices are above 0, amounts (market cap, volume, supply) 0 or more, a percentage change
  -100 or more;
- times: ISO-8601 (`2026-11-02T14:45:00Z`, `+00:00`, a space for the `T`; naive means UTC), from 1970 up to
  2100 (`EARLIEST`, `LATEST`); a bar start (`ts`) and a scheduled minute (`scheduled_at`) on the minute; no time of
  a row later than its own `ingested_at` by more than `CLOCK_SKEW`; a bar starts before its scheduled minute, and
  a bar or a rate is no more than `MAX_AGE` older than the minute that fetched it;
- identifiers (symbol, name, base, currency): no control or format character (NUL, C0, C1, DEL, line breaks,
  bidirectional overrides, zero-width characters), within the sink column's length; a currency or a base is
  three uppercase letters (ISO 4217).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from pipeline.constants import SourceId
from pipeline.contracts import ContractError, to_utc
from pipeline.errors import TerminalError

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)  # no market data of this pipeline is older
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
CLOCK_SKEW: Final = timedelta(minutes=5)  # how far a row's times may run ahead of its `ingested_at`
MAX_AGE: Final = timedelta(days=31)  # Yahoo keeps 1-minute bars about 30 days; latest.json is at most hours old
VOLUME_LIMIT: Final = 2**63  # the sink's JSON binding reads integers exactly up to 2**63 - 1 (NUMBER(38, 0) holds more)
INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1
SMALLEST_NORMAL: Final = sys.float_info.min  # SQL Server FLOAT: 2.23E-308 to 1.79E+308, and 0

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class FieldProblem(ValueError):
    """A row-level check that blames one field (so `describe` can name it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- numbers ---------------------------------------------------------------------------------------------------


def _number_text(value: Any) -> Any:
    """A number, or text that is one decimal number in ASCII digits; anything else is refused before pydantic."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        text = value.strip(" ")
        if not _NUMBER.fullmatch(text):
            raise ValueError("not a finite decimal number")
        return text
    return value


def _integral(value: Any) -> Any:
    """An integer from an integral number written any way (`100`, `100.0`, `1.5E+2`); a fraction is refused."""
    value = _number_text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str | float):
        try:
            exact = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            raise ValueError("not a decimal number") from None
        if not exact.is_finite():
            raise ValueError("not a finite number")
        if exact.adjusted() >= 40:  # far beyond any column's type: refused before building a huge integer
            raise ValueError(f"has {exact.adjusted() + 1} digits, more than the column's type holds")
        if exact != exact.to_integral_value():
            raise ValueError("not a whole number")
        return int(exact)
    return value


def _normal(value: float) -> float:
    if value != 0 and abs(value) < SMALLEST_NORMAL:
        raise ValueError(f"{value!r} is smaller than the sink's FLOAT holds (a subnormal number)")
    return value


Number = Annotated[float, BeforeValidator(_number_text)]
Price = Annotated[Number, Field(gt=0)]
Amount = Annotated[Number, Field(ge=0)]
Percent = Annotated[Number, Field(ge=-100)]


def _int64(value: int) -> int:
    if value >= VOLUME_LIMIT:
        raise ValueError("2**63 or more: beyond a 64-bit integer, which the sink binds exactly")
    return value


Volume = Annotated[int, BeforeValidator(_integral), Field(ge=0), AfterValidator(_int64)]
Rank = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=INT32_MAX)]
CoinId = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=INT64_MAX)]


# --- times -----------------------------------------------------------------------------------------------------


def _instant(value: Any) -> datetime:
    """A UTC datetime from a datetime or ISO-8601 text (not a bare number), between EARLIEST and LATEST."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip(" ")):
        raise ValueError("a bare number is not an ISO-8601 time")
    if isinstance(value, str) and value != value.strip(" ").strip():
        raise ValueError("has a control character or a line break around the time")
    if not isinstance(value, str | datetime):
        raise ValueError("not an ISO-8601 time")
    try:
        moment = to_utc(value)
    except (ContractError, OverflowError):
        raise ValueError("not an ISO-8601 time within the calendar") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{_stamp(moment)} is outside the years {EARLIEST.year}..{LATEST.year - 1}")
    return moment


def _on_the_minute(value: datetime) -> datetime:
    if value.second or value.microsecond:
        raise ValueError(f"{_stamp(value)} is not on a minute boundary")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_instant)]
UtcMinute = Annotated[datetime, BeforeValidator(_instant), AfterValidator(_on_the_minute)]


def _stamp(value: datetime) -> str:
    fraction = f".{value.microsecond:06d}" if value.microsecond else ""
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}{fraction}Z"


# --- identifiers -----------------------------------------------------------------------------------------------


def _printable(value: str) -> str:
    for i, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValueError(f"holds the control or format character U+{ord(char):04X} at position {i}")
    return value


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value):
        raise ValueError("not a currency code (three uppercase letters, ISO 4217)")
    return value


def _text(value: Any) -> Any:
    """Text, checked before the spaces around it are stripped (a tab or a line break is never stripped away)."""
    if not isinstance(value, str):  # a number is not a name: no str(42) behind the row's back
        raise ValueError("not text")
    return _printable(value)


Symbol = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=32)]
Name = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=200)]
Currency = Annotated[str, BeforeValidator(_text), AfterValidator(_currency)]


# --- rows ------------------------------------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: _blank_to_none(v) for k, v in data.items()}
        return data


def _not_after_fetch(field: str, value: datetime | None, ingested_at: datetime | None) -> None:
    """A time later than the row's own fetch (beyond the clock skew) is not data yet."""
    if value is not None and ingested_at is not None and value > ingested_at + CLOCK_SKEW:
        raise FieldProblem(field, f"{_stamp(value)} is later than the fetch (ingested_at {_stamp(ingested_at)})")


def _fetched_by(field: str, value: datetime, scheduled_at: datetime | None) -> None:
    """A time more than MAX_AGE older than the minute that fetched it: that minute did not fetch it."""
    if scheduled_at is not None and scheduled_at - value > MAX_AGE:
        raise FieldProblem(
            "scheduled_at",
            f"{_stamp(scheduled_at)} is {(scheduled_at - value).days} days after {field} {_stamp(value)}, "
            f"more than the {MAX_AGE.days} a fetch reaches back",
        )


class Bar(_Row):
    """One 1-minute OHLCV bar; `ts` is the bar start in UTC."""

    symbol: Symbol
    ts: UtcMinute
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume
    scheduled_at: UtcMinute | None = None  # the raw row's scheduled minute, checked against `ts`, not stored
    ingested_at: UtcDatetime | None = None  # when the raw row was fetched, checked against `ts`, not stored

    @model_validator(mode="after")
    def _ohlc(self) -> Bar:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(f"inconsistent OHLC for {self.symbol} at {self.ts:%Y-%m-%dT%H:%MZ}")
        _not_after_fetch("scheduled_at", self.scheduled_at, self.ingested_at)
        _not_after_fetch("ts", self.ts, self.ingested_at)
        if self.scheduled_at is not None and self.ts >= self.scheduled_at:
            minute = _stamp(self.scheduled_at)
            raise FieldProblem("ts", f"the bar of {_stamp(self.ts)} starts at or after its scheduled minute {minute}")
        _fetched_by("ts", self.ts, self.scheduled_at)
        return self


class Coin(_Row):
    """One cryptocurrency snapshot."""

    rank: Rank
    name: Name
    symbol: Symbol
    price_usd: Price
    change_1h_pct: Percent | None = None
    change_24h_pct: Percent | None = None
    change_7d_pct: Percent | None = None
    market_cap_usd: Amount | None = None
    volume_24h_usd: Amount | None = None
    circulating_supply: Amount | None = None
    coin_id: CoinId | None = None  # CoinMarketCap's permanent id (a symbol can be renamed or reused)
    last_updated: UtcDatetime | None = None  # when CoinMarketCap last updated the quote (staleness)
    scheduled_at: UtcMinute
    ingested_at: UtcDatetime | None = None  # when the raw row was fetched, checked against the times, not stored

    @model_validator(mode="after")
    def _times(self) -> Coin:
        _not_after_fetch("scheduled_at", self.scheduled_at, self.ingested_at)
        _not_after_fetch("last_updated", self.last_updated, self.ingested_at)
        return self


class Rate(_Row):
    """One exchange rate: units of `currency` per one `base`, as published at `rate_ts`."""

    base: Currency
    currency: Currency
    rate: Annotated[Number, Field(gt=0), AfterValidator(_normal)]
    rate_ts: UtcDatetime
    scheduled_at: UtcMinute | None = None  # the raw row's scheduled minute, checked against `rate_ts`, not stored
    ingested_at: UtcDatetime | None = None  # when the raw row was fetched, checked against `rate_ts`, not stored

    @model_validator(mode="after")
    def _times(self) -> Rate:
        _not_after_fetch("scheduled_at", self.scheduled_at, self.ingested_at)
        _not_after_fetch("rate_ts", self.rate_ts, self.ingested_at)
        _fetched_by("rate_ts", self.rate_ts, self.scheduled_at)
        return self


def describe(exc: ValidationError) -> str:
    """The first error of a pydantic validation, in one line: `field: message (got value)`."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    message, value = first["msg"], first.get("input")
    problem = (first.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem) and not field:
        field, message = problem.field, problem.message
        value = value.get(field) if isinstance(value, dict) else getattr(value, field, value)
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    got = repr(value)
    return f"{field or 'row'}: {message} (got {got if len(got) <= 80 else got[:77] + '...'})".replace("\n", " ")


class RowValidationError(TerminalError, ValueError):
    """A raw file whose success rows do not validate: retrying cannot help."""


def validate_rows(source: SourceId, rows: list[dict[str, Any]], where: str = "") -> list[Any]:
    """Every row typed, or one error naming the first bad row (line numbers count the header as line 1)."""
    from pipeline.registry import get

    model = get(source).model()
    typed = []
    for line, row in enumerate(rows, start=2):
        try:
            typed.append(model.model_validate(row))
        except ValidationError as exc:
            raise RowValidationError(f"{where or source}: line {line}: {describe(exc)}") from None
    return typed
