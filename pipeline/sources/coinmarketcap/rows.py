"""What both ways in (the page, the API) produce: the payload, the row checks, the raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeGuard

from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, ContractError, iso, to_utc
from pipeline.sources.base import PayloadError, RawRow, after_fetch, fetch_time, refused_by_model
from pipeline.sources.numbers import NotANumber, json_number, shown

FIELDS = (
    "rank", "name", "symbol", "price_usd", "change_1h_pct", "change_24h_pct", "change_7d_pct",
    "market_cap_usd", "volume_24h_usd", "circulating_supply", "coin_id", "last_updated",
)  # fmt: skip
NUMBERS = FIELDS[3:10]
AMOUNTS = ("market_cap_usd", "volume_24h_usd", "circulating_supply")  # never below 0
ERROR = "error"  # the key of a coin row's reason when a value of it cannot be read (the row becomes an error row)


@dataclass(frozen=True)
class CmcPayload:
    kind: Literal["html", "api"]
    body: str
    top_n: int = 10


def _number(value: Any) -> TypeGuard[int | float]:
    """A JSON number (true and false are not, though Python counts them as ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def field_problem(field: str, value: Any) -> str | None:
    """Why one number of a coin cannot be stored (None when it can): a price that is missing, not a finite number
    or not above 0; another number that is there but is not a finite number, or an amount below 0."""
    if value is None and field != "price_usd":
        return None  # an absent change or supply stays an empty cell, never a 0
    try:
        amount = json_number(value, field)
    except NotANumber as exc:
        return str(exc)
    if field == "price_usd" and not amount > 0:
        return f"price_usd is {shown(value)}, not above 0"
    if field in AMOUNTS and amount < 0:
        return f"{field} is {shown(value)}, below 0"
    return None


def value_problem(row: dict[str, Any]) -> str | None:
    """The first of a coin's numbers that cannot be stored, named (None when all can)."""
    return next((p for p in (field_problem(f, row.get(f)) for f in NUMBERS) if p), None)


def check_rows(rows: list[dict[str, Any]], where: str) -> None:
    """Refuse a listing that is not one (a coin without a name or symbol, ranks out of order: the markup changed);
    mark each coin whose values cannot be read with its reason (`row[ERROR]`), the others left as they are."""
    previous = 0
    for i, row in enumerate(rows, 1):
        label = f"{where} row {i} ({row.get('symbol') or row.get('name') or '?'})"
        name, symbol = row.get("name"), row.get("symbol")
        if not isinstance(name, str) or not name.strip() or not isinstance(symbol, str) or not symbol.strip():
            raise PayloadError(f"{label}: no coin name or symbol; the listing markup changed")
        if len(symbol.strip()) > 32:
            raise PayloadError(f"{label}: a symbol of {len(symbol.strip())} characters; the listing markup changed")
        rank = row.get("rank")
        if not _number(rank) or int(rank) <= previous:
            raise PayloadError(f"{label}: rank {rank!r} does not follow rank {previous}; the listing markup changed")
        previous = int(rank)
        if not row.get(ERROR):
            problem = value_problem(row)
            if problem:
                row[ERROR] = f"{label}: {problem}"


def check_top(rows: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The rows, if their ranks are exactly 1..N: anything else is not the top of the listing."""
    ranks = [int(r["rank"]) for r in rows]
    if ranks != list(range(1, len(rows) + 1)):
        shown = ", ".join(map(str, ranks[:10]))
        raise PayloadError(f"{where}: ranks {shown} are not the top {len(rows)} (1..{len(rows)}); the listing changed")
    return rows


def _time(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        try:
            return iso(to_utc(value))
        except ContractError:
            return None
    return None


def _coin_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _cell(value: Any) -> float | None:
    """A number cell: the value when it is a finite number, else empty (an error row names why)."""
    try:
        return json_number(value, "")
    except NotANumber:
        return None


def _last_updated(value: Any, fetched: datetime) -> tuple[str | None, str | None]:
    """The quote's time as a raw cell, and why it cannot be stored (unreadable, or dated after the fetch)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    at = _time(value)
    if at is None:
        return None, f"last_updated {shown(value)} is not a time"
    late = after_fetch(to_utc(at), fetched, "last_updated")
    return (None, late) if late else (at, None)


def to_raw(rows: list[dict[str, Any]], *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    """Raw rows: a coin whose values were read is a success row; a coin with a value that cannot be read, or a
    quote dated after the fetch (`last_updated`, the row's own time: that row only), is an error row naming it."""
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    fetched = fetch_time(scheduled_at, ingested_at)
    out = []
    for row in rows:
        raw = {field: row.get(field) for field in FIELDS}
        raw["rank"] = int(row["rank"])
        for field in NUMBERS:  # a number that cannot be stored is an empty cell of an error row, never a value
            raw[field] = None if field_problem(field, raw[field]) else _cell(raw[field])
        raw["coin_id"] = _coin_id(row.get("coin_id"))
        raw["last_updated"], late = _last_updated(row.get("last_updated"), fetched)
        symbol = row.get("symbol") or row.get("name")
        error = row.get(ERROR) or (f"{symbol}: {late}" if late else "")
        out.append({**raw, "status": STATUS_ERROR if error else STATUS_SUCCESS, "error": error, **tail})
    return refused_by_model("coinmarketcap", out)
