"""The simulated twin: a home page in CoinMarketCap's markup (table and __NEXT_DATA__) from the simulated market."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
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


def _next_data(quotes: list[Any], *, updated: str | None, currency: str) -> dict[str, Any]:
    """The __NEXT_DATA__ document: the listing in the 2023 `keysArr` form, quoted in `currency` (its price
    as the first coin's unit when it is not USD, as a listing quoted in BTC is)."""
    from pipeline.sources import simulator

    unit = 1.0 if currency == "USD" else quotes[0].price
    q_ = f"quote.{currency}."
    keys = [
        "id", "name", "symbol", "cmcRank", "circulatingSupply", "lastUpdated", f"{q_}price", f"{q_}volume24h",
        f"{q_}marketCap", f"{q_}percentChange1h", f"{q_}percentChange24h", f"{q_}percentChange7d", f"{q_}lastUpdated",
    ]  # fmt: skip
    values = [
        [simulator.CMC_IDS.get(q.coin.symbol, 0), q.coin.name, q.coin.symbol, rank, q.circulating_supply, updated,
         q.price / unit, q.volume_24h / unit, q.market_cap / unit, q.change_1h_pct, q.change_24h_pct,
         q.change_7d_pct, updated]
        for rank, q in enumerate(quotes, 1)
    ]  # fmt: skip
    state = {"cryptocurrency": {"listingLatest": {"page": 1, "sort": "rank", "data": [{"keysArr": keys}, *values]}}}
    return {"props": {"pageProps": {"pageSize": 100}, "initialState": json.dumps(state)}, "page": "/"}


def render_page(
    quotes: list[Any], top_n: int, *, rendered: int | None = None, updated: str | None = None, currency: str = "USD"
) -> str:
    """A home page in CoinMarketCap's markup: a listing table (the first `rendered` rows with data, the rest
    lazy placeholders) and a __NEXT_DATA__ script holding the listing in the 2023 `keysArr` form, its quotes
    last updated at `updated` (ISO-8601) and in `currency`."""
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
    next_data = _next_data(quotes, updated=updated, currency=currency)
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


CHALLENGE_PAGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">'
    '<h1 class="zone-name-title h1">coinmarketcap.com</h1><h2>Verifying you are human. This may take a few '
    'seconds.</h2></div><script>(function(){window._cf_chl_opt={cvId: "3",cType: "managed"};var a=document.'
    'createElement("script");a.src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1";'
    "document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"
)
CHALLENGE_HEADERS = {"server": "cloudflare", "cf-mitigated": "challenge", "content-type": "text/html"}


def render_redesign(quotes: list[Any], top_n: int) -> str:
    """A redesigned home page: no `cmc-table`, and a __NEXT_DATA__ whose coins no longer look like coins."""
    cards = "".join(
        f'<div class="coin-card"><span class="ticker">{html.escape(q.coin.symbol)}</span>'
        f'<span class="value">{q.price:.2f}</span></div>'
        for q in quotes[:top_n]
    )
    items = [{"ticker": q.coin.symbol, "title": q.coin.name, "value": q.price} for q in quotes[:top_n]]
    script = json.dumps({"props": {"pageProps": {"board": {"items": items}}}, "page": "/"})
    return (
        "<!DOCTYPE html><html><head><title>CoinMarketCap</title></head><body>"
        f'<main class="board-2026">{cards}</main><script id="__NEXT_DATA__" type="application/json">{script}</script>'
        "</body></html>"
    )


def simulate_answer(seed: int, scheduled_at: datetime, top_n: int, fault: str = "") -> tuple[int, dict[str, str], str]:
    """The simulated home page as an HTTP answer (status, headers, body); `fault` makes it fail as the real
    one does: "challenge" (the edge network's challenge, HTTP 403), "redesign" (a changed layout), "non_usd"
    (the table not rendered and the embedded listing quoted in BTC)."""
    from pipeline.contracts import iso
    from pipeline.sources import simulator

    if fault == "challenge":
        return 403, dict(CHALLENGE_HEADERS), CHALLENGE_PAGE
    quotes = simulator.crypto_quotes(seed, scheduled_at)
    headers = {"server": "cloudflare", "content-type": "text/html; charset=utf-8"}
    if fault == "redesign":
        return 200, headers, render_redesign(quotes, top_n)
    updated = iso(scheduled_at)
    if fault == "non_usd":
        return 200, headers, render_page(quotes, top_n, rendered=0, updated=updated, currency="BTC")
    return 200, headers, render_page(quotes, top_n, updated=updated)


def simulate(seed: int, scheduled_at: datetime, top_n: int, fault: str = "") -> CmcPayload:
    """The simulated home page as the payload the live fetch returns (a fault raises as the live fetch does)."""
    from pipeline.sources.coinmarketcap.fetch import check_page_answer

    status, headers, text = simulate_answer(seed, scheduled_at, top_n, fault)
    return CmcPayload("html", check_page_answer(status, headers, text, "the simulated coinmarketcap.com"), top_n)


@dataclass(frozen=True)
class SimulatedApi:
    """The simulated official API: listings from the simulated market, /v1/key/info from the guard's own count;
    the faults "exhausted" and "daily_exhausted" answer what a plan whose month's or day's allowance is spent does
    (error 1010 or 1009, HTTP 429), through the same checks."""

    seed: int
    at: datetime
    top_n: int
    fault: str = ""
    state: Any = None
    monthly_credits: int = 10_000

    def _status(self, code: int = 0, message: str | None = None, credits: int = 1) -> dict[str, Any]:
        from pipeline.contracts import iso

        return {"timestamp": iso(self.at), "error_code": code, "error_message": message, "credit_count": credits}

    def listing(self) -> CmcPayload:
        from pipeline.sources import simulator
        from pipeline.sources.coinmarketcap.fetch import check_api_answer

        if self.fault == "exhausted":
            spent = "Your API Key's monthly plan limit has been reached. Please upgrade your plan."
            check_api_answer(429, {"status": self._status(1010, spent, 0)})
        if self.fault == "daily_exhausted":
            spent = "Your API Key's daily plan limit has been reached. Please upgrade your plan."
            check_api_answer(429, {"status": self._status(1009, spent, 0)})
        quotes = simulator.crypto_quotes(self.seed, self.at)[: self.top_n]
        updated = self.at.strftime("%Y-%m-%dT%H:%M:00.000Z")
        data = [
            {"id": simulator.CMC_IDS.get(q.coin.symbol), "name": q.coin.name, "symbol": q.coin.symbol,
             "cmc_rank": rank, "circulating_supply": q.circulating_supply, "last_updated": updated,
             "quote": {"USD": {"price": q.price, "volume_24h": q.volume_24h, "percent_change_1h": q.change_1h_pct,
                               "percent_change_24h": q.change_24h_pct, "percent_change_7d": q.change_7d_pct,
                               "market_cap": q.market_cap, "last_updated": updated}}}
            for rank, q in enumerate(quotes, 1)
        ]  # fmt: skip
        return CmcPayload("api", json.dumps({"status": self._status(), "data": data}), self.top_n)

    def key_info(self) -> dict[str, Any]:
        from pipeline.sources.coinmarketcap.budget import STATE, credits_this_month

        doc = self.state.get(STATE) if self.state is not None else None
        used = credits_this_month(doc, self.at)  # what the guard counted (an exhausted plan says so on a call)
        plan = {"credit_limit_monthly": self.monthly_credits, "rate_limit_minute": 30}
        usage = {"current_month": {"credits_used": used, "credits_left": max(0, self.monthly_credits - used)}}
        return {"status": self._status(credits=0), "data": {"plan": plan, "usage": usage}}
