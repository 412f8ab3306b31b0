"""The simulated twin: a home page in CoinMarketCap's markup (table and __NEXT_DATA__) from the simulated market."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from pipeline.sources.coinmarketcap.rows import CmcPayload


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
