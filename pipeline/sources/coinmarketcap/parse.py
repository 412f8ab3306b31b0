"""The parser, of either payload: the home page (its listing table or its __NEXT_DATA__) or an API body.

Both end in the same checked coin records (`rows.check_rows`); the package's docstring says what is refused whole
and what becomes an error row.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.contracts import ContractError, to_utc
from pipeline.sources.base import PayloadError, UpstreamError, after_fetch, read_json
from pipeline.sources.coinmarketcap.fetch import api_error, challenged, page_challenge
from pipeline.sources.coinmarketcap.next_data import next_data_listing
from pipeline.sources.coinmarketcap.rows import ERROR, FIELDS, check_rows, check_top
from pipeline.sources.coinmarketcap.table import table_rows

NO_LISTING = (
    "coinmarketcap page: no listing found (no <table class=cmc-table> with coin rows and no __NEXT_DATA__ "
    "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
)


def _soup(text: str) -> Any:
    from bs4 import BeautifulSoup, FeatureNotFound

    try:
        return BeautifulSoup(text, "lxml")
    except FeatureNotFound:  # lxml missing: the standard library's parser reads the page too
        return BeautifulSoup(text, "html.parser")


def _enrich(table: list[dict[str, Any]], embedded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows with the full-precision numbers, coin id and quote time of the same coin in __NEXT_DATA__ (a row
    whose cells could not be read stays an error row: the two halves of the page disagree on it)."""
    by_rank = {int(r["rank"]): r for r in embedded}
    out = []
    for row in table:
        same = by_rank.get(int(row["rank"]))
        if same is not None and same.get("symbol") == row.get("symbol") and not row.get(ERROR):
            row = {**row, **{k: same[k] for k in FIELDS[3:] if same.get(k) is not None}}
        out.append(row)
    return out


def parse_page(text: str, top_n: int = 10) -> list[dict[str, Any]]:
    """The top `top_n` coins of a home page: from the listing table (numbers at full precision from
    __NEXT_DATA__ when it has the same coins), or from __NEXT_DATA__ alone (see the package doc)."""
    shape = page_challenge(text)
    if shape:
        raise challenged(f"challenged ({shape})")
    soup = _soup(text)
    table = table_rows(soup, top_n)
    found = next_data_listing(soup, top_n)
    embedded = found.rows if found else []
    if table:
        check_rows(table, "coinmarketcap listing table")
    if embedded:
        check_rows(embedded, "coinmarketcap __NEXT_DATA__ listing")
    if table and len(table) >= len(embedded):
        return check_top(_enrich(table, embedded), "coinmarketcap listing table")
    if embedded:
        return embedded
    if found is not None and found.problem:
        raise PayloadError(found.problem)
    if table is not None:
        raise PayloadError(
            "coinmarketcap page: the listing table has no coin rows and no __NEXT_DATA__ listing was found; "
            "the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
        )
    raise PayloadError(NO_LISTING)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check_time(status: Any, fetched: datetime | None) -> None:
    """Refuse a body whose own `status.timestamp` lies after the fetch: the whole body is of another time."""
    stamp = status.get("timestamp") if isinstance(status, dict) else None
    if fetched is None or stamp is None:
        return
    try:
        at = to_utc(str(stamp))
    except ContractError:
        raise PayloadError(f"coinmarketcap API body: status.timestamp {str(stamp)[:40]!r} is not a time") from None
    late = after_fetch(at, fetched, "status.timestamp")
    if late:
        raise PayloadError(f"coinmarketcap API body refused: its {late}")


def parse_api(text: str, top_n: int = 10, fetched: datetime | None = None) -> list[dict[str, Any]]:
    """The top `top_n` coins of a /v1/cryptocurrency/listings/latest body, by `cmc_rank`.

    A body whose `status.timestamp` (the body's own time) lies after `fetched` beyond the clock skew is refused
    whole (`PayloadError`); a coin whose values cannot be read (no `quote.USD`, a price that is null or not a
    number) is marked for an error row by `check_rows`, the other coins stay."""
    try:
        document = read_json(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap API body is not JSON ({exc.msg} at {exc.pos})") from exc
    status = document.get("status") if isinstance(document, dict) else None
    if isinstance(status, dict) and status.get("error_code") not in (0, None, "0"):
        raise api_error(200, status) or UpstreamError("coinmarketcap API error")
    _check_time(status, fetched)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PayloadError("coinmarketcap API body has no 'data' list of coins")
    rows = []
    for entry in data:
        item = _object(entry)  # a coin that is not an object has no fields: `check_rows` names what it lacks
        usd = _object(_object(item.get("quote")).get("USD"))
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
                "coin_id": item.get("id"),
                "last_updated": usd.get("last_updated") or item.get("last_updated"),
            }
        )
    rows = sorted(rows, key=lambda r: r["rank"] if isinstance(r["rank"], int | float) else float("inf"))[:top_n]
    check_rows(rows, "coinmarketcap API")
    return rows
