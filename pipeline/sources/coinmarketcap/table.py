"""The home page's listing table: a `<table class=cmc-table>` whose rows carry star, rank, name, price, 1h/24h/7d %,
market cap, volume, supply and chart cells (columns found by their header when there is one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sources.base import PayloadError
from pipeline.sources.coinmarketcap.numbers import MalformedNumber, dollars, number
from pipeline.sources.coinmarketcap.rows import ERROR
from pipeline.sources.numbers import shown

_HEADERS = {
    "#": "rank", "name": "name", "price": "price_usd", "1h%": "change_1h_pct", "24h%": "change_24h_pct",
    "7d%": "change_7d_pct", "marketcap": "market_cap_usd", "volume(24h)": "volume_24h_usd",
    "circulatingsupply": "circulating_supply",
}  # fmt: skip
_POSITIONS = {
    "rank": 1, "name": 2, "price_usd": 3, "change_1h_pct": 4, "change_24h_pct": 5, "change_7d_pct": 6,
    "market_cap_usd": 7, "volume_24h_usd": 8, "circulating_supply": 9,
}  # fmt: skip


def _classes(tag: Any) -> list[str]:
    value = tag.get("class") or []
    return [value] if isinstance(value, str) else list(value)


def _listing_table(soup: Any) -> Any:
    for table in soup.find_all("table"):
        if any("cmc-table" in c for c in _classes(table)):
            return table
    return None


def _columns(table: Any) -> dict[str, int]:
    head = table.find("thead")
    if head is not None:
        names = ["".join(th.get_text(" ", strip=True).lower().split()) for th in head.find_all("th")]
        found = {}
        for i, label in enumerate(names):
            for prefix, field in _HEADERS.items():
                if field not in found and (label == prefix or (prefix == "volume(24h)" and label.startswith("volume"))):
                    found[field] = i
        if len(found) == len(_POSITIONS):
            return found
    return dict(_POSITIONS)


def _sign(cell: Any) -> int | None:
    """+1 / -1 from an up/down caret's CSS class in the cell, None when there is none."""
    for tag in [cell, *cell.find_all(True)]:
        for name in _classes(tag):
            lowered = name.lower()
            if "caret-down" in lowered or lowered in ("down", "icon-down") or lowered.endswith("-down"):
                return -1
            if "caret-up" in lowered or lowered in ("up", "icon-up") or lowered.endswith("-up"):
                return 1
    return None


def _percent(cell: Any, where: str) -> float | None:
    """A signed % change; None when the cell shows none ("--" for a coin too new to have one), never a 0."""
    text = cell.get_text(" ", strip=True)
    value = number(text, signed=True)
    if value is None:
        return None
    value, sign = abs(value), _sign(cell)
    if text.lstrip().startswith(("-", "−")):
        sign = -1
    if sign is None and value != 0:
        raise PayloadError(f"coinmarketcap page: {where}: no up/down caret gives the sign; the listing markup changed")
    return value * (sign or 1) if value else 0.0


def _values(cells: list[Any], columns: dict[str, int], where: str) -> dict[str, Any]:
    """The number cells of one coin's row; a cell written in another format than the page's (`MalformedNumber`)
    is left empty and names the row's error (`ERROR`): that coin only becomes an error row."""
    readers: dict[str, Callable[[Any], float | None]] = {
        "price_usd": dollars, "market_cap_usd": dollars, "volume_24h_usd": dollars,
        "circulating_supply": lambda cell: number(cell.get_text(" ", strip=True)),  # "19.7M BTC"
        "change_1h_pct": lambda cell: _percent(cell, f"{where} 1h %"),
        "change_24h_pct": lambda cell: _percent(cell, f"{where} 24h %"),
        "change_7d_pct": lambda cell: _percent(cell, f"{where} 7d %"),
    }  # fmt: skip
    values: dict[str, Any] = {}
    for field, read in readers.items():
        cell = cells[columns[field]]
        try:
            values[field] = read(cell)
        except MalformedNumber as exc:
            values[field] = None
            text = cell.get_text(" ", strip=True)
            values.setdefault(ERROR, f"coinmarketcap page: {where}: {field} cell {shown(text)}: {exc}")
    return values


def table_rows(soup: Any, top_n: int) -> list[dict[str, Any]] | None:
    """Coin rows of the listing table (None when the page has no such table)."""
    table = _listing_table(soup)
    if table is None:
        return None
    columns = _columns(table)
    body = table.find("tbody") or table
    rows: list[dict[str, Any]] = []
    for tr in body.find_all("tr", recursive=False) or body.find_all("tr"):
        cells = tr.find_all("td", recursive=False)
        name_tag = tr.find(class_="coin-item-name")
        if len(cells) <= max(columns.values()) or name_tag is None:
            continue  # a placeholder row the page renders lazily
        symbol_tag = tr.find(class_="coin-item-symbol")
        name = name_tag.get_text(strip=True)
        symbol = symbol_tag.get_text(strip=True) if symbol_tag is not None else ""
        where = f"row {len(rows) + 1} ({symbol or name})"
        try:
            rank = number(cells[columns["rank"]].get_text(" ", strip=True), unit=False)
        except MalformedNumber as exc:
            raise PayloadError(
                f"coinmarketcap page: {where}: rank {exc}; another locale or the markup changed"
            ) from None
        row: dict[str, Any] = {"rank": int(rank) if rank is not None else None, "name": name, "symbol": symbol}
        row.update(_values(cells, columns, where))
        rows.append(row)
        if len(rows) >= top_n:
            break
    return rows
