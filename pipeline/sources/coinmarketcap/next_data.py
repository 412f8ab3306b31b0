"""The home page's embedded `<script id="__NEXT_DATA__">` JSON, searched for the listing.

Only US dollar quotes are prices: a quote keyed `USD` (or by USD's convert id, 2781), or a list item of quotes
named `USD` or carrying `convertId` 2781. A listing whose quotes are in another currency is an error, never taken
as dollars. A coin-shaped list is the top N only if its ranks are exactly 1..N (a trending widget with ranks 7,
19, 42 is not), and lists under the known listing paths (`listingLatest`, `cryptoCurrencyList`, `listing`) are
preferred over any other coin-shaped list on the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.sources.base import PayloadError, read_json

USD_CONVERT_ID = 2781
KNOWN_PATHS = ("listinglatest", "cryptocurrencylist", "listing")

_COIN_KEYS = {
    "rank": ("cmcrank", "rank"),
    "name": ("name",),
    "symbol": ("symbol",),
    "coin_id": ("id",),
    "circulating_supply": ("circulatingsupply",),
}
_QUOTE_KEYS = {
    "price_usd": "price",
    "change_1h_pct": "percentchange1h",
    "change_24h_pct": "percentchange24h",
    "change_7d_pct": "percentchange7d",
    "market_cap_usd": "marketcap",
    "volume_24h_usd": "volume24h",
    "last_updated": "lastupdated",
}


@dataclass
class Candidate:
    """One coin-shaped list found in the document, where it was found, and the quote currencies it carries."""

    path: tuple[str, ...]
    rows: list[dict[str, Any]]
    currencies: set[str] = field(default_factory=set)

    @property
    def known(self) -> bool:
        return any(part in KNOWN_PATHS for part in self.path)


@dataclass(frozen=True)
class Listing:
    """What __NEXT_DATA__ gave: the top rows, or why no list on the page is the top-N dollar listing."""

    rows: list[dict[str, Any]]
    problem: str | None = None


def _norm(key: object) -> str:
    text = str(key).lower().replace("_", "")
    return "usd" if text == str(USD_CONVERT_ID) else text


def _quote_label(item: dict[str, Any]) -> str | None:
    """The currency a quote in a list of quotes is in ("usd" for US dollars), None when it names none."""
    convert = item.get("convertId", item.get("convert_id"))
    if str(convert) == str(USD_CONVERT_ID) or str(item.get("name", "")).upper() == "USD":
        return "usd"
    label = item.get("name", item.get("symbol", convert))
    return None if label is None else _norm(label)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"quote": {"USD": {"price": 1}}} -> {"quote.usd.price": 1}; a list of quotes is keyed by its currency."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{_norm(key)}."))
        return out
    labels = [_quote_label(v) if isinstance(v, dict) else None for v in value] if isinstance(value, list) else []
    if labels and all(labels):
        for label, item in zip(labels, value, strict=True):
            out.update(_flatten(item, f"{prefix}{label}."))
    else:
        out[prefix[:-1]] = value
    return out


def _record(flat: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A coin row from a flattened coin object (US dollar quotes only), and the other currencies it is quoted in."""
    row: dict[str, Any] = {}
    for name, keys in _COIN_KEYS.items():
        row[name] = next((flat[k] for k in keys if k in flat), None)
    for name, key in _QUOTE_KEYS.items():
        row[name] = next((v for k, v in flat.items() if f".{k}".endswith(f".usd.{key}")), None)
    if row["last_updated"] is None:
        row["last_updated"] = flat.get("lastupdated")
    currencies = {k.split(".")[-2] if "." in k else "unnamed" for k in flat if k.split(".")[-1] == "price"}
    return row, currencies - {"usd"}


def _is_coin(item: Any) -> bool:
    return isinstance(item, dict) and "symbol" in item and "name" in item


def _candidate(path: tuple[str, ...], flats: list[dict[str, Any]]) -> Candidate:
    found = Candidate(path, [])
    for flat in flats:
        row, currencies = _record(flat)
        found.rows.append(row)
        found.currencies |= currencies
    return found


def _opened(text: str) -> Any:
    """JSON held in a string (the 2023 form keeps the state as a string), or None."""
    text = text.strip()
    if len(text) > 2 and text[0] in "[{" and ("keysArr" in text or '"symbol"' in text):
        try:
            return read_json(text)
        except json.JSONDecodeError:
            return None
    return None


def _listings(value: Any, path: tuple[str, ...] = ()) -> Iterator[Candidate]:
    """Every coin-shaped list inside a JSON document, with its path (JSON held in strings is opened too)."""
    if len(path) > 40:
        return
    if isinstance(value, str):
        opened = _opened(value)
        if opened is not None:
            yield from _listings(opened, path)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _listings(item, (*path, _norm(key)))
        return
    if not isinstance(value, list):
        return
    head = value[0] if value else None
    if isinstance(head, dict) and isinstance(head.get("keysArr"), list):
        keys = [str(k) for k in head["keysArr"]]
        rows = [dict(zip(keys, item, strict=False)) for item in value[1:] if isinstance(item, list)]
        yield _candidate(path, [{".".join(map(_norm, k.split("."))): v for k, v in r.items()} for r in rows])
        return
    if value and all(_is_coin(item) for item in value):
        yield _candidate(path, [_flatten(item) for item in value])
        return
    for item in value:
        yield from _listings(item, path)


def _ranks(rows: list[dict[str, Any]]) -> list[Any]:
    return [r.get("rank") for r in rows]


def _top(candidate: Candidate, top_n: int) -> list[dict[str, Any]] | None:
    """The candidate's first `top_n` coins by rank, if they are exactly ranks 1..N and quoted in dollars (a coin
    without a price is kept: `check_rows` makes it an error row; a list without any dollar price is no listing)."""
    rows = [r for r in candidate.rows if isinstance(r.get("rank"), int | float) and not isinstance(r["rank"], bool)]
    if len(rows) != len(candidate.rows) or not rows:
        return None
    rows = sorted(rows, key=lambda r: r["rank"])[:top_n]
    if _ranks(rows) != list(range(1, len(rows) + 1)) or all(r.get("price_usd") is None for r in rows):
        return None
    return rows


def _problem(candidates: list[Candidate], top_n: int) -> str | None:
    """Why none of the coin lists on the page is the top-N dollar listing (None when there is no coin list)."""
    for group in ([c for c in candidates if c.known], candidates):
        for c in group:
            if c.currencies and all(r.get("price_usd") is None for r in c.rows):
                currencies = ", ".join(sorted(x.upper() for x in c.currencies))
                return (
                    f"coinmarketcap __NEXT_DATA__ listing is quoted in {currencies}, not US dollars (no USD quote, "
                    f"no convert id {USD_CONVERT_ID}): prices in another currency are not taken as dollars"
                )
    if not candidates:
        return None
    shown = sorted(candidates, key=lambda c: (not c.known, -len(c.rows)))[0]
    ranks = ", ".join(str(r) for r in _ranks(shown.rows)[:10])
    return (
        f"coinmarketcap __NEXT_DATA__: the only coin list (at {'.'.join(shown.path) or 'the top'}, ranks {ranks}) "
        f"is not a top-{top_n} listing (ranks 1..N), e.g. a trending widget; the page layout changed: "
        "save the page and update pipeline/sources/coinmarketcap/"
    )


def next_data_listing(soup: Any, top_n: int) -> Listing | None:
    """The top coins of the embedded __NEXT_DATA__ listing (None when the page has no such script)."""
    script = soup.find("script", id="__NEXT_DATA__")
    if script is None:
        return None
    try:
        document = read_json(script.string or script.get_text())
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap page: __NEXT_DATA__ is not JSON ({exc.msg} at {exc.pos})") from exc
    candidates = list(_listings(document))
    for group in ([c for c in candidates if c.known], [c for c in candidates if not c.known]):
        tops = [rows for rows in (_top(c, top_n) for c in group) if rows]
        if tops:
            return Listing(max(tops, key=len))
    return Listing([], _problem(candidates, top_n))
