"""What both ways in (the page, the API) produce: the payload, the row checks, the raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeGuard

from pipeline.contracts import STATUS_SUCCESS, ContractError, iso, to_utc
from pipeline.sources.base import PayloadError, RawRow

FIELDS = (
    "rank", "name", "symbol", "price_usd", "change_1h_pct", "change_24h_pct", "change_7d_pct",
    "market_cap_usd", "volume_24h_usd", "circulating_supply", "coin_id", "last_updated",
)  # fmt: skip
NUMBERS = FIELDS[3:10]


@dataclass(frozen=True)
class CmcPayload:
    kind: Literal["html", "api"]
    body: str
    top_n: int = 10


def _number(value: Any) -> TypeGuard[int | float]:
    """A JSON number (true and false are not, though Python counts them as ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_rows(rows: list[dict[str, Any]], where: str) -> None:
    previous = 0
    for i, row in enumerate(rows, 1):
        label = f"{where} row {i} ({row.get('symbol') or row.get('name') or '?'})"
        name, symbol = row.get("name"), row.get("symbol")
        if not isinstance(name, str) or not name.strip() or not isinstance(symbol, str) or not symbol.strip():
            raise PayloadError(f"{label}: no coin name or symbol; the listing markup changed")
        if len(symbol.strip()) > 32:
            raise PayloadError(f"{label}: a symbol of {len(symbol.strip())} characters; the listing markup changed")
        for field in ("market_cap_usd", "volume_24h_usd", "circulating_supply"):
            amount = row.get(field)
            if _number(amount) and amount < 0:
                raise PayloadError(f"{label}: {field} is negative ({amount!r}); the listing markup changed")
        price = row.get("price_usd")
        if not _number(price) or not price > 0:
            raise PayloadError(f"{label}: no price; the listing markup changed")
        rank = row.get("rank")
        if not _number(rank) or int(rank) <= previous:
            raise PayloadError(f"{label}: rank {rank!r} does not follow rank {previous}; the listing markup changed")
        previous = int(rank)


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


def to_raw(rows: list[dict[str, Any]], *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    tail = {"status": STATUS_SUCCESS, "error": "", "scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    out = []
    for row in rows:
        raw = {field: row.get(field) for field in FIELDS}
        raw["rank"] = int(row["rank"])
        for field in NUMBERS:
            value = raw[field]
            raw[field] = float(value) if _number(value) else None
        raw["coin_id"] = _coin_id(row.get("coin_id"))
        raw["last_updated"] = _time(row.get("last_updated"))
        out.append({**raw, **tail})
    return out
