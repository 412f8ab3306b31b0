"""What both ways in (the page, the API) produce: the payload, the row checks, the raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pipeline.contracts import STATUS_SUCCESS, iso
from pipeline.sources.base import PayloadError, RawRow

FIELDS = (
    "rank", "name", "symbol", "price_usd", "change_1h_pct", "change_24h_pct", "change_7d_pct",
    "market_cap_usd", "volume_24h_usd", "circulating_supply",
)  # fmt: skip


@dataclass(frozen=True)
class CmcPayload:
    kind: Literal["html", "api"]
    body: str
    top_n: int = 10


def check_rows(rows: list[dict[str, Any]], where: str) -> None:
    previous = 0
    for i, row in enumerate(rows, 1):
        label = f"{where} row {i} ({row.get('symbol') or row.get('name') or '?'})"
        if not row.get("name") or not row.get("symbol"):
            raise PayloadError(f"{label}: no coin name or symbol; the listing markup changed")
        price = row.get("price_usd")
        if not isinstance(price, int | float) or not price > 0:
            raise PayloadError(f"{label}: no price; the listing markup changed")
        rank = row.get("rank")
        if not isinstance(rank, int | float) or int(rank) <= previous:
            raise PayloadError(f"{label}: rank {rank!r} does not follow rank {previous}; the listing markup changed")
        previous = int(rank)


def to_raw(rows: list[dict[str, Any]], *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    tail = {"status": STATUS_SUCCESS, "error": "", "scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    out = []
    for row in rows:
        raw = {field: row.get(field) for field in FIELDS}
        raw["rank"] = int(row["rank"])
        for field in FIELDS[3:]:
            value = raw[field]
            raw[field] = float(value) if isinstance(value, int | float) else None
        out.append({**raw, **tail})
    return out
