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

The package, by concern: `numbers` (cell text to numbers), `table` (the listing table), `next_data` (the
__NEXT_DATA__ search), `page` (the live page and its parse), `api` (the official API), `rows` (payload, checks,
raw rows), `simulated` (the twin's page), `source` (the `Source` the registry names).
"""

from __future__ import annotations

from pipeline.sources.coinmarketcap import api, credits
from pipeline.sources.coinmarketcap.api import API_URL, fetch_api, parse_api
from pipeline.sources.coinmarketcap.numbers import number
from pipeline.sources.coinmarketcap.page import HOME_URL, NO_LISTING, Challenged, challenge, fetch_page, parse_page
from pipeline.sources.coinmarketcap.rows import FIELDS, CmcPayload, to_raw
from pipeline.sources.coinmarketcap.simulated import render_page, simulate
from pipeline.sources.coinmarketcap.source import SOURCE, CoinMarketCap

__all__ = [
    "API_URL",
    "FIELDS",
    "HOME_URL",
    "NO_LISTING",
    "SOURCE",
    "Challenged",
    "CmcPayload",
    "CoinMarketCap",
    "api",
    "challenge",
    "credits",
    "fetch_api",
    "fetch_page",
    "number",
    "parse_api",
    "parse_page",
    "render_page",
    "simulate",
    "to_raw",
]  # fmt: skip
