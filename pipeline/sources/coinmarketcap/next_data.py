"""The home page's embedded `<script id="__NEXT_DATA__">` JSON, searched for a listing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pipeline.sources.base import PayloadError

_KEYS = {
    "rank": ("cmcrank", "rank"),
    "name": ("name",),
    "symbol": ("symbol",),
    "price_usd": ("price",),
    "change_1h_pct": ("percentchange1h",),
    "change_24h_pct": ("percentchange24h",),
    "change_7d_pct": ("percentchange7d",),
    "market_cap_usd": ("marketcap",),
    "volume_24h_usd": ("volume24h",),
    "circulating_supply": ("circulatingsupply",),
}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"quote": {"USD": {"price": 1}}} -> {"quote.usd.price": 1}; a list of quotes is keyed by their name."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{str(key).lower().replace('_', '')}."))
    elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        for item in value:
            out.update(_flatten(item, f"{prefix}{str(item['name']).lower()}."))
    else:
        out[prefix[:-1]] = value
    return out


def _record(flat: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field, names in _KEYS.items():
        row[field] = None
        for name in names:
            matches = [k for k in flat if k == name or k.endswith("." + name)]
            if field not in ("name", "symbol", "rank"):
                matches = [k for k in matches if k == name or ".usd." in f".{k}"] or matches
            else:
                matches = [k for k in matches if "." not in k]
            if matches:
                row[field] = flat[matches[0]]
                break
    return row


def _is_coin(item: Any) -> bool:
    return isinstance(item, dict) and "symbol" in item and "name" in item


def _listings(value: Any, depth: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Every listing-shaped value inside a JSON document (JSON held in strings is opened too)."""
    if depth > 40:
        return
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 2 and text[0] in "[{" and ("keysArr" in text or '"symbol"' in text):
            try:
                yield from _listings(json.loads(text), depth + 1)
            except json.JSONDecodeError:
                return
        return
    if isinstance(value, list):
        head = value[0] if value else None
        if isinstance(head, dict) and isinstance(head.get("keysArr"), list):
            keys = [str(k) for k in head["keysArr"]]
            rows = [dict(zip(keys, item, strict=False)) for item in value[1:] if isinstance(item, list)]
            yield [_record({k.lower().replace("_", ""): v for k, v in r.items()}) for r in rows]
            return
        coins = [item for item in value if _is_coin(item)]
        if coins and len(coins) == len(value):
            yield [_record(_flatten(item)) for item in coins]
            return
        for item in value:
            yield from _listings(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _listings(item, depth + 1)


def next_data_rows(soup: Any, top_n: int) -> list[dict[str, Any]] | None:
    """Coin rows of the embedded __NEXT_DATA__ listing (None when the page has no such script)."""
    script = soup.find("script", id="__NEXT_DATA__")
    if script is None:
        return None
    try:
        document = json.loads(script.string or script.get_text())
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap page: __NEXT_DATA__ is not JSON ({exc.msg} at {exc.pos})") from exc
    best: list[dict[str, Any]] = []
    for listing in _listings(document):
        usable = [r for r in listing if r.get("price_usd") is not None]
        if len(usable) > len(best):
            best = usable
    if best and all(isinstance(r.get("rank"), int | float) for r in best):
        best = sorted(best, key=lambda r: r["rank"])
    return best[:top_n]
