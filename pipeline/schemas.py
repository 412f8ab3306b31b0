"""Typed rows: what a process function makes of a raw file's success rows before a sink sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.constants import SourceId
from pipeline.contracts import to_utc
from pipeline.errors import TerminalError

UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: _blank_to_none(v) for k, v in data.items()}
        return data


class Bar(_Row):
    """One 1-minute OHLCV bar; `ts` is the bar start in UTC."""

    symbol: str = Field(min_length=1, max_length=32)
    ts: UtcDatetime
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: int = Field(ge=0)

    @model_validator(mode="after")
    def _ohlc(self) -> Bar:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(f"inconsistent OHLC for {self.symbol} at {self.ts:%Y-%m-%dT%H:%MZ}")
        return self


class Coin(_Row):
    """One cryptocurrency snapshot."""

    rank: int = Field(ge=1)
    name: str = Field(min_length=1)
    symbol: str = Field(min_length=1, max_length=32)
    price_usd: float = Field(gt=0)
    change_1h_pct: float | None = None
    change_24h_pct: float | None = None
    change_7d_pct: float | None = None
    market_cap_usd: float | None = Field(None, ge=0)
    volume_24h_usd: float | None = Field(None, ge=0)
    circulating_supply: float | None = Field(None, ge=0)
    coin_id: int | None = Field(None, ge=1)  # CoinMarketCap's permanent id (a symbol can be renamed or reused)
    last_updated: UtcDatetime | None = None  # when CoinMarketCap last updated the quote (staleness)
    scheduled_at: UtcDatetime


class Rate(_Row):
    """One exchange rate: units of `currency` per one `base`, as published at `rate_ts`."""

    base: str = Field(min_length=3, max_length=8)
    currency: str = Field(min_length=3, max_length=8)
    rate: float = Field(gt=0)
    rate_ts: UtcDatetime


def describe(exc: ValidationError) -> str:
    """The first error of a pydantic validation, in one line: `field: message (got value)`."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "row"
    got = repr(first.get("input"))
    return f"{field}: {first['msg']} (got {got if len(got) <= 80 else got[:77] + '...'})"


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
