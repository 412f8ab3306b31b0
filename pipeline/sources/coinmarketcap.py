"""coinmarketcap: the top N coins (default 10), scraped from the home page, or from the official API with a key.

Payload (what `fetch` returns and `parse` reads) is a `CmcPayload(kind, body, top_n)`:

- `kind="html"`: the home page https://coinmarketcap.com/ (fetched with requests, browser-like headers, a
  timeout). `parse` reads it with BeautifulSoup in two ways:
  1. the listing table: a `<table>` whose class contains `cmc-table`; each rendered `<tbody><tr>` has the cells
     star, rank, name (an `a` holding `p.coin-item-name` and `p.coin-item-symbol`), price, 1h %, 24h %, 7d %,
     market cap, volume (24h), circulating supply, chart (columns are found by their header when there is one).
     Values read like "$1.23T", "$64,123.45", "19.7M BTC"; the sign of a % change is carried by the CSS class of
     an up/down caret icon, not by a minus sign. Rows the page did not render (lazy placeholders) are skipped.
  2. the embedded `<script id="__NEXT_DATA__">` JSON, searched defensively for a listing: either the 2023 form
     (a JSON string holding `[{"keysArr": [...]}, [values], ...]`) or a plain list of coin objects.
  The table is used when it has the N rows; otherwise the JSON if it has more. A page where neither way yields
  rows raises `PayloadError` (never a zero-row file); rows that make no sense (no price, ranks not increasing, a
  % change without its caret) raise too: a changed layout fails loudly.
- `kind="api"`: the body of GET pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest, used when
  `PIPELINE_CMC_API_KEY` (or its secret ARN) is set. A non-zero `status.error_code` raises `UpstreamError`
  naming `status.error_message`.

Simulated: the twin renders a page in the same markup (table and __NEXT_DATA__) from the simulated market, so
the BeautifulSoup parser runs on every simulated minute.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pipeline.constants import SourceId
from pipeline.contracts import STATUS_SUCCESS, iso
from pipeline.settings import Settings
from pipeline.sources.base import PayloadError, RawRow, UpstreamError
from pipeline.state import StateStore

HOME_URL = "https://coinmarketcap.com/"
API_URL = "https://pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest"
TIMEOUT = (5, 20)  # connect, read (seconds)
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Cache-Control": "no-cache",
}
NO_LISTING = (
    "coinmarketcap page: no listing found (no <table class=cmc-table> with coin rows and no __NEXT_DATA__ "
    "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap.py"
)
FIELDS = (
    "rank", "name", "symbol", "price_usd", "change_1h_pct", "change_24h_pct", "change_7d_pct",
    "market_cap_usd", "volume_24h_usd", "circulating_supply",
)  # fmt: skip


@dataclass(frozen=True)
class CmcPayload:
    kind: Literal["html", "api"]
    body: str
    top_n: int = 10


# ---------------------------------------------------------------------------------------------------- numbers

_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?|\.\d+)\s*([KMBT])?(?![A-Za-z])", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUBSCRIPT_ZEROS = re.compile(r"0\.0([₀₁₂₃₄₅₆₇₈₉]+)")


def number(text: str) -> float | None:
    """The first number in a cell's text: "$1.23T" -> 1.23e12, "$64,123.45", "19.7M BTC", "$0.0₄52" -> 0.000052."""
    text = _SUBSCRIPT_ZEROS.sub(lambda m: "0." + "0" * int(m.group(1).translate(_SUBSCRIPT)), text)
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    return value * _SUFFIX[match.group(2).upper()] if match.group(2) else value


def _dollars(cell: Any) -> float | None:
    """The most precise dollar amount in a cell (the full "$1,234,567,890" rather than the short "$1.23B")."""
    best: tuple[int, float] | None = None
    for text in cell.stripped_strings:
        if "$" not in text:
            continue
        value = number(text.split("$", 1)[1])
        digits = sum(ch.isdigit() for ch in text)
        if value is not None and (best is None or digits > best[0]):
            best = (digits, value)
    return best[1] if best else None


# ---------------------------------------------------------------------------------------------------- the table

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


def _percent(cell: Any, where: str) -> float:
    text = cell.get_text(" ", strip=True)
    value = number(text)
    if value is None:
        raise PayloadError(f"coinmarketcap page: {where}: no number in {text!r}; the listing markup changed")
    sign = _sign(cell)
    if text.lstrip().startswith(("-", "−")):
        sign = -1
    if sign is None and value != 0:
        raise PayloadError(f"coinmarketcap page: {where}: no up/down caret gives the sign; the listing markup changed")
    return value * (sign or 1) if value else 0.0


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
        rank = number(cells[columns["rank"]].get_text(" ", strip=True))
        supply_text = cells[columns["circulating_supply"]].get_text(" ", strip=True)
        rows.append(
            {
                "rank": int(rank) if rank is not None else None,
                "name": name,
                "symbol": symbol,
                "price_usd": _dollars(cells[columns["price_usd"]]),
                "change_1h_pct": _percent(cells[columns["change_1h_pct"]], f"{where} 1h %"),
                "change_24h_pct": _percent(cells[columns["change_24h_pct"]], f"{where} 24h %"),
                "change_7d_pct": _percent(cells[columns["change_7d_pct"]], f"{where} 7d %"),
                "market_cap_usd": _dollars(cells[columns["market_cap_usd"]]),
                "volume_24h_usd": _dollars(cells[columns["volume_24h_usd"]]),
                "circulating_supply": number(supply_text),
            }
        )
        if len(rows) >= top_n:
            break
    return rows


# ---------------------------------------------------------------------------------------------------- __NEXT_DATA__

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


# ---------------------------------------------------------------------------------------------------- parse


def _check(rows: list[dict[str, Any]], where: str) -> None:
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


def parse_page(text: str, top_n: int = 10) -> list[dict[str, Any]]:
    """The top `top_n` coins of a home page: from the listing table, or from __NEXT_DATA__ (see module doc)."""
    from bs4 import BeautifulSoup, FeatureNotFound

    try:
        soup = BeautifulSoup(text, "lxml")
    except FeatureNotFound:  # lxml missing: the standard library's parser reads the page too
        soup = BeautifulSoup(text, "html.parser")
    table = table_rows(soup, top_n)
    if table:
        _check(table, "coinmarketcap listing table")
        if len(table) >= top_n:
            return table
    embedded = next_data_rows(soup, top_n)
    if embedded:
        _check(embedded, "coinmarketcap __NEXT_DATA__ listing")
    if table or embedded:
        return max(table or [], embedded or [], key=len)
    if table is not None:
        raise PayloadError(
            "coinmarketcap page: the listing table has no coin rows and no __NEXT_DATA__ listing was found; "
            "the page layout changed: save the page and update pipeline/sources/coinmarketcap.py"
        )
    raise PayloadError(NO_LISTING)


def parse_api(text: str, top_n: int = 10) -> list[dict[str, Any]]:
    """The top `top_n` coins of a /v1/cryptocurrency/listings/latest body, by `cmc_rank`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap API body is not JSON ({exc.msg} at {exc.pos})") from exc
    status = document.get("status") if isinstance(document, dict) else None
    if isinstance(status, dict) and status.get("error_code") not in (0, None, "0"):
        raise UpstreamError(
            f"coinmarketcap API error {status.get('error_code')}: {status.get('error_message') or 'no message'}"
        )
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PayloadError("coinmarketcap API body has no 'data' list of coins")
    rows = []
    for item in data:
        usd = ((item.get("quote") or {}).get("USD") or {}) if isinstance(item, dict) else {}
        rows.append(
            {
                "rank": item.get("cmc_rank"),
                "name": item.get("name"),
                "symbol": item.get("symbol"),
                "price_usd": usd.get("price"),
                "change_1h_pct": usd.get("percent_change_1h"),
                "change_24h_pct": usd.get("percent_change_24h"),
                "change_7d_pct": usd.get("percent_change_7d"),
                "market_cap_usd": usd.get("market_cap"),
                "volume_24h_usd": usd.get("volume_24h"),
                "circulating_supply": item.get("circulating_supply"),
            }
        )
    rows = sorted(rows, key=lambda r: r["rank"] if isinstance(r["rank"], int | float) else float("inf"))[:top_n]
    _check(rows, "coinmarketcap API")
    return rows


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


# ---------------------------------------------------------------------------------------------------- fetch


def _api_key(settings: Settings) -> str | None:
    return settings.secret(settings.cmc_api_key, settings.cmc_api_key_secret_arn)


def fetch_page(top_n: int) -> CmcPayload:
    import requests

    try:
        response = requests.get(HOME_URL, headers=BROWSER_HEADERS, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise UpstreamError(f"coinmarketcap.com unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise UpstreamError(f"coinmarketcap.com answered HTTP {response.status_code} for {HOME_URL}")
    return CmcPayload("html", response.text, top_n)


def fetch_api(api_key: str, top_n: int) -> CmcPayload:
    import requests

    try:
        response = requests.get(
            API_URL,
            headers={"X-CMC_PRO_API_KEY": api_key, "Accept": "application/json"},
            params={"start": "1", "limit": str(top_n), "convert": "USD"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise UpstreamError(f"coinmarketcap API unreachable: {type(exc).__name__}") from exc
    try:
        document = response.json()
    except ValueError:
        document = None
    status = document.get("status") if isinstance(document, dict) else None
    status = status if isinstance(status, dict) else {}
    if response.status_code != 200 or status.get("error_code") not in (0, None):
        raise UpstreamError(
            f"coinmarketcap API answered HTTP {response.status_code}: "
            f"{status.get('error_message') or response.reason or 'no message'}"
        )
    return CmcPayload("api", response.text, top_n)


# ---------------------------------------------------------------------------------------------------- simulated


def _money(value: float) -> str:
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.{max(2, 3 - int(f'{value:e}'.split('e')[1]))}f}"


def _short(value: float) -> str:
    for suffix, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{suffix}"
    return f"{value:.2f}"


def _change_cell(value: float) -> str:
    caret = "icon-Caret-down" if value < 0 else "icon-Caret-up"
    color = "sc-a1b2c3-0 down" if value < 0 else "sc-a1b2c3-0 up"
    return (
        f'<td style="text-align:end"><span class="{color}"><span class="{caret}"></span>{abs(value):.2f}%</span></td>'
    )


def render_page(quotes: list[Any], top_n: int, *, rendered: int | None = None) -> str:
    """A home page in CoinMarketCap's markup: a listing table (the first `rendered` rows with data, the rest
    lazy placeholders) and a __NEXT_DATA__ script holding the listing in the 2023 `keysArr` form."""
    rendered = top_n if rendered is None else rendered
    esc = html.escape
    body = []
    for rank, q in enumerate(quotes, 1):
        name, symbol = esc(q.coin.name), esc(q.coin.symbol)
        if rank > rendered:
            body.append(
                f'<tr><td></td><td><p>{rank}</p></td><td><a href="/currencies/{name.lower()}/"><span>{name}</span>'
                f'<span class="crypto-symbol">{symbol}</span></a></td><td colspan="8"></td></tr>'
            )
            continue
        body.append(
            "<tr>"
            '<td><span class="icon-Star"></span></td>'
            f'<td style="text-align:start"><p class="sc-rank">{rank}</p></td>'
            f'<td style="text-align:start"><div><a href="/currencies/{name.lower()}/" class="cmc-link">'
            f'<img src="/static/img/coins/{symbol}.png" alt="{symbol} logo"/><div>'
            f'<p class="sc-65e7f566-0 coin-item-name">{name}</p>'
            f'<div><p class="sc-65e7f566-0 coin-item-symbol">{symbol}</p></div></div></a></div></td>'
            f'<td style="text-align:end"><div class="sc-price"><span>{_money(q.price)}</span></div></td>'
            f"{_change_cell(q.change_1h_pct)}{_change_cell(q.change_24h_pct)}{_change_cell(q.change_7d_pct)}"
            f'<td style="text-align:end"><p><span class="sc-short">${_short(q.market_cap)}</span>'
            f'<span class="sc-full" data-nosnippet="true">${q.market_cap:,.0f}</span></p></td>'
            f'<td style="text-align:end"><div><a href="/currencies/{name.lower()}/#markets" class="cmc-link">'
            f"<p>${q.volume_24h:,.0f}</p></a><div><p>{q.volume_24h / q.price:,.0f} {symbol}</p></div></div></td>"
            f'<td style="text-align:end"><div><p>{q.circulating_supply:,.0f} {symbol}</p></div></td>'
            f'<td><a href="/currencies/{name.lower()}/"><img class="sparkline" src="/7d/{rank}.svg"/></a></td>'
            "</tr>"
        )
    keys = [
        "id", "name", "symbol", "cmcRank", "circulatingSupply", "quote.USD.price", "quote.USD.volume24h",
        "quote.USD.marketCap", "quote.USD.percentChange1h", "quote.USD.percentChange24h", "quote.USD.percentChange7d",
    ]  # fmt: skip
    values = [
        [rank, q.coin.name, q.coin.symbol, rank, q.circulating_supply, q.price, q.volume_24h, q.market_cap,
         q.change_1h_pct, q.change_24h_pct, q.change_7d_pct]
        for rank, q in enumerate(quotes, 1)
    ]  # fmt: skip
    state = {"cryptocurrency": {"listingLatest": {"page": 1, "sort": "rank", "data": [{"keysArr": keys}, *values]}}}
    next_data = {"props": {"pageProps": {"pageSize": 100}, "initialState": json.dumps(state)}, "page": "/"}
    head = "".join(
        f"<th>{label}</th>"
        for label in ("", "#", "Name", "Price", "1h %", "24h %", "7d %", "Market Cap", "Volume(24h)",
                      "Circulating Supply", "Last 7 Days")
    )  # fmt: skip
    script = json.dumps(next_data).replace("</", "<\\/")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        "<title>Cryptocurrency Prices, Charts And Market Capitalizations | CoinMarketCap</title></head><body>"
        '<div id="__next"><div class="cmc-body-wrapper"><table class="sc-7b3ac367-3 etbcea cmc-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></div>"
        f'<script id="__NEXT_DATA__" type="application/json">{script}</script>'
        "</body></html>"
    )


def simulate(seed: int, scheduled_at: datetime, top_n: int) -> CmcPayload:
    from pipeline.sources import simulator

    quotes = simulator.crypto_quotes(seed, scheduled_at)
    return CmcPayload("html", render_page(quotes, top_n), top_n)


class CoinMarketCap:
    id: SourceId = "coinmarketcap"

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> CmcPayload:
        if settings.mode == "simulated":
            return simulate(settings.seed, scheduled_at, settings.cmc_top_n)
        api_key = _api_key(settings)
        if api_key:
            return fetch_api(api_key, settings.cmc_top_n)
        return fetch_page(settings.cmc_top_n)

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, CmcPayload):
            raise PayloadError(f"coinmarketcap: expected a CmcPayload, got {type(payload).__name__}")
        rows = (
            parse_api(payload.body, payload.top_n) if payload.kind == "api" else parse_page(payload.body, payload.top_n)
        )
        return to_raw(rows, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def load_payload(self, path: Path) -> CmcPayload:
        """A saved home page (HTML) or API body (JSON); which one is told by the content."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{path}: cannot read the saved page ({type(exc).__name__})") from exc
        stripped = text.lstrip()
        if stripped.startswith("{"):
            try:
                document = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise PayloadError(f"{path}: starts like JSON but is not ({exc.msg} at {exc.pos})") from exc
            if not isinstance(document, dict) or not ({"data", "status"} & document.keys()):
                raise PayloadError(f"{path}: JSON without 'data' or 'status': not a CoinMarketCap API body")
            return CmcPayload("api", text)
        return CmcPayload("html", text)


SOURCE = CoinMarketCap()
