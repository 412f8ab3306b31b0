"""The home page https://coinmarketcap.com/: fetched as a browser would, read from its table or its __NEXT_DATA__.

CoinMarketCap sits behind an edge network (Cloudflare) that answers clients it distrusts (another TLS
fingerprint than a browser's, cloud addresses) with a challenge: "Just a moment...", sometimes with HTTP 200,
sometimes 403. So the page is fetched with curl_cffi impersonating Chrome (its TLS and HTTP/2 fingerprint, not
only its user agent), and a challenge or block, told by its status (403, 429, 503), its headers
(`cf-mitigated: challenge`) or its shape (the challenge page's title, a `challenge-platform` script on a page
without a listing), raises `Challenged`: a transient `UpstreamError` whose line says the request was challenged
or blocked, never that the layout changed (which is a `PayloadError` telling to update the scraper).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.sources.base import PayloadError, UpstreamError
from pipeline.sources.coinmarketcap.next_data import next_data_listing
from pipeline.sources.coinmarketcap.rows import ERROR, FIELDS, CmcPayload, check_rows, check_top
from pipeline.sources.coinmarketcap.table import table_rows

HOME_URL = "https://coinmarketcap.com/"
TIMEOUT = (5, 20)  # connect, read (seconds)
# curl_cffi sends Chrome's own User-Agent, Accept, client hints and header order, matching its TLS fingerprint.
BROWSER_HEADERS = {"Accept-Language": "en-US,en;q=0.9"}
NO_LISTING = (
    "coinmarketcap page: no listing found (no <table class=cmc-table> with coin rows and no __NEXT_DATA__ "
    "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
)


BLOCKING_STATUS = (403, 429, 503)
IMPERSONATE = "chrome"
_TITLES = re.compile(
    r"<title>\s*(just a moment\.\.\.|attention required! \| cloudflare|access denied)\s*</title>", re.IGNORECASE
)
_SCRIPTS = ("challenge-platform", "cf_chl_opt", "cf-chl-")


class Challenged(UpstreamError):
    """The edge network challenged or blocked the request: not a layout change; a later try may pass."""


def page_challenge(text: str) -> str | None:
    """What in a page's shape says it is a challenge or block page, not the home page (None when nothing does)."""
    title = _TITLES.search(text[:20000])
    if title:
        return f"the page is a challenge ({title.group(1)!r})"
    listing = "__NEXT_DATA__" in text or "cmc-table" in text
    marker = next((m for m in _SCRIPTS if m in text), None)
    if marker and not listing:  # Cloudflare also injects challenge-platform scripts into ordinary pages
        return f"the page is a challenge ({marker!r} and no listing)"
    return None


def challenge(status: int, headers: Mapping[str, str], text: str) -> str | None:
    """Why an answer is a challenge or a block (None when it is not): by headers, page shape, then status."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    edge = " from cloudflare" if "cloudflare" in lowered.get("server", "").lower() else ""
    if lowered.get("cf-mitigated", "").lower() == "challenge":
        return f"challenged (HTTP {status}, cf-mitigated: challenge{edge})"
    shape = page_challenge(text)
    if shape:
        return f"challenged (HTTP {status}{edge}: {shape})"
    if status in BLOCKING_STATUS:
        return f"blocked (HTTP {status}{edge})"
    return None


def challenged(reason: str) -> Challenged:
    return Challenged(
        f"coinmarketcap.com {reason}: the edge network did not let this client through (TLS fingerprint or "
        "address), not a layout change; retried later (or use the API: PIPELINE_CMC_API_KEY)"
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


def fetch_page(top_n: int, url: str | None = None) -> CmcPayload:
    """GET the home page with curl_cffi impersonating Chrome; a challenge or block raises `Challenged`."""
    from curl_cffi import requests as curl

    target = url or HOME_URL
    try:
        response = curl.get(target, impersonate=IMPERSONATE, headers=BROWSER_HEADERS, timeout=TIMEOUT)
    except curl.RequestsError as exc:
        raise UpstreamError(f"coinmarketcap.com unreachable: {type(exc).__name__}") from None
    headers = {str(k): str(v or "") for k, v in response.headers.items()}
    return CmcPayload("html", check_answer(response.status_code, headers, response.text, target), top_n)


def check_answer(status: int, headers: Mapping[str, str], text: str, where: str) -> str:
    """The page of an answer; a challenge or block raises `Challenged`, another HTTP error `UpstreamError`."""
    reason = challenge(status, headers, text)
    if reason:
        raise challenged(reason)
    if status != 200:
        raise UpstreamError(f"coinmarketcap.com answered HTTP {status} for {where}")
    return text
