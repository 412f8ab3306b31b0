"""The home page https://coinmarketcap.com/: fetched like a browser, read from its table or its __NEXT_DATA__."""

from __future__ import annotations

from typing import Any

from pipeline.sources.base import PayloadError, UpstreamError
from pipeline.sources.coinmarketcap.next_data import next_data_rows
from pipeline.sources.coinmarketcap.rows import CmcPayload, check_rows
from pipeline.sources.coinmarketcap.table import table_rows

HOME_URL = "https://coinmarketcap.com/"
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
    "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
)


def parse_page(text: str, top_n: int = 10) -> list[dict[str, Any]]:
    """The top `top_n` coins of a home page: from the listing table, or from __NEXT_DATA__ (see module doc)."""
    from bs4 import BeautifulSoup, FeatureNotFound

    try:
        soup = BeautifulSoup(text, "lxml")
    except FeatureNotFound:  # lxml missing: the standard library's parser reads the page too
        soup = BeautifulSoup(text, "html.parser")
    table = table_rows(soup, top_n)
    if table:
        check_rows(table, "coinmarketcap listing table")
        if len(table) >= top_n:
            return table
    embedded = next_data_rows(soup, top_n)
    if embedded:
        check_rows(embedded, "coinmarketcap __NEXT_DATA__ listing")
    if table or embedded:
        return max(table or [], embedded or [], key=len)
    if table is not None:
        raise PayloadError(
            "coinmarketcap page: the listing table has no coin rows and no __NEXT_DATA__ listing was found; "
            "the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
        )
    raise PayloadError(NO_LISTING)


def fetch_page(top_n: int) -> CmcPayload:
    import requests

    try:
        response = requests.get(HOME_URL, headers=BROWSER_HEADERS, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise UpstreamError(f"coinmarketcap.com unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise UpstreamError(f"coinmarketcap.com answered HTTP {response.status_code} for {HOME_URL}")
    return CmcPayload("html", response.text, top_n)
