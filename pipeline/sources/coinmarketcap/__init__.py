"""coinmarketcap: the top N coins (default 10), scraped from the home page, or from the official API with a key.

Payload (what `fetch` returns and `parse` reads) is a `CmcPayload(kind, body, top_n)`:

- `kind="html"`: the home page https://coinmarketcap.com/, fetched with curl_cffi impersonating Chrome; a
  challenge or block of the edge network raises `Challenged` (transient), never a layout error (`fetch`).
  `parse` reads it with BeautifulSoup in two ways:
  1. the listing table: a `<table>` whose class contains `cmc-table`; each rendered `<tbody><tr>` has the cells
     star, rank, name (an `a` holding `p.coin-item-name` and `p.coin-item-symbol`), price, 1h %, 24h %, 7d %,
     market cap, volume (24h), circulating supply, chart (columns are found by their header when there is one).
     Values read like "$1.23T", "$64,123.45", "19.7M BTC"; the sign of a % change is carried by the CSS class of
     an up/down caret icon, not by a minus sign. Rows the page did not render (lazy placeholders) are skipped.
  2. the embedded `<script id="__NEXT_DATA__">` JSON, searched for the listing: the 2023 form (a JSON string
     holding `[{"keysArr": [...]}, [values], ...]`) or a list of coin objects; only US dollar quotes are prices,
     only ranks 1..N are the top N, and the known listing paths come first (`next_data`).
  The table is used when it has the rows, with full-precision numbers, the coin id and the quote time taken
  from __NEXT_DATA__ for the same coins; otherwise __NEXT_DATA__ alone. A page where neither way yields rows
  raises `PayloadError` (never a zero-row file); a listing that makes no sense (ranks not 1..N, a coin without a
  name or symbol, a % change without its caret) raises too: a changed layout fails loudly. One coin whose cell
  cannot be read (no price, a price written in another locale, a negative amount) is an error row naming the cell;
  the other coins stay. A quote whose `last_updated` lies after the fetch is an error row for that coin; an API body
  whose `status.timestamp` does is refused whole.
- `kind="api"`: the body of GET pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest, used when
  `PIPELINE_CMC_API_KEY` (or its secret ARN) is set, within the plan's credits (`budget`). Key and plan errors
  raise `UpstreamRefused` (terminal), rate limits and server errors `UpstreamError` (`fetch`).

Raw rows: the contract columns, then `coin_id` (CoinMarketCap's permanent id) and `last_updated` (the quote's).

Simulated: the twin renders a page in the same markup (table and __NEXT_DATA__) from the simulated market, so
the BeautifulSoup parser runs on every simulated minute; with a key it serves the API. Faults
(`PIPELINE_CMC_SIMULATED_FAULT`): a challenge page, a redesigned page, a listing in BTC, a spent plan.

The package, by file (every source has the same ones): `fetch` (the live page with its challenge detection, and
the official API), `simulated` (the twins), `parse` (the page and API parsers), `budget` (the API's credit guard,
on `pipeline.sources.budget`'s primitives), `source` (the `Source` the registry names); and its helpers:
`numbers` (cell text to numbers), `table` (the listing table), `next_data` (the __NEXT_DATA__ search), `rows`
(payload, checks, raw rows).
"""

from __future__ import annotations

from pipeline.sources.coinmarketcap import budget, fetch
from pipeline.sources.coinmarketcap.fetch import API_URL, HOME_URL, Challenged, challenge, fetch_api, fetch_page
from pipeline.sources.coinmarketcap.numbers import number
from pipeline.sources.coinmarketcap.parse import NO_LISTING, parse_api, parse_page
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
    "budget",
    "challenge",
    "fetch",
    "fetch_api",
    "fetch_page",
    "number",
    "parse_api",
    "parse_page",
    "render_page",
    "simulate",
    "to_raw",
]  # fmt: skip
