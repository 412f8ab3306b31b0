"""coinmarketcap: the home page's listing table and __NEXT_DATA__, the official API, the simulated page."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses

from pipeline import registry
from pipeline.errors import TerminalError, TransientError, kind_of
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.settings import Settings
from pipeline.sources import (
    NothingToIngest,
    PayloadError,
    UpstreamError,
    UpstreamFailure,
    UpstreamRefused,
    parse_file,
    simulator,
)
from pipeline.sources import coinmarketcap as cmc
from pipeline.sources.coinmarketcap import fetch as cmc_page
from pipeline.sources.coinmarketcap import numbers as cmc_numbers
from pipeline.state import MemoryState

FIXTURES = Path(__file__).parent / "fixtures" / "coinmarketcap"
AT = datetime(2025, 3, 4, 15, 7, tzinfo=UTC)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """What `pipeline parse coinmarketcap PATH` prints, read back."""
    return csv_to_rows("coinmarketcap", rows_to_csv("coinmarketcap", parse_file("coinmarketcap", path)))


def test_listing_table_gives_ten_rows_with_signed_changes():
    rows = _csv_rows(FIXTURES / "home_listing_table.html")
    assert list(rows[0]) == list(registry.get("coinmarketcap").raw_columns)
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, 11)]
    assert [r["symbol"] for r in rows][:3] == ["BTC", "ETH", "USDT"]
    btc, eth = rows[0], rows[1]
    # the sign comes from the caret's CSS class: no minus sign is printed on the page
    assert (btc["change_1h_pct"], btc["change_24h_pct"], btc["change_7d_pct"]) == ("-0.12", "1.85", "-3.4")
    assert (eth["change_1h_pct"], eth["change_24h_pct"], eth["change_7d_pct"]) == ("0.35", "-2.1", "4.02")
    # "$64,123.45", the full market cap rather than "$1.26T", the dollar volume, "19.7M BTC"
    assert float(btc["price_usd"]) == 64123.45
    assert float(btc["market_cap_usd"]) == 1_264_512_345_678
    assert float(btc["volume_24h_usd"]) == 28_456_789_012
    assert float(btc["circulating_supply"]) == pytest.approx(19.7e6)
    shib = rows[9]
    assert (shib["name"], float(shib["price_usd"])) == ("Shiba Inu", pytest.approx(0.00001794))
    assert float(shib["circulating_supply"]) == pytest.approx(589.26e12)
    assert {r["status"] for r in rows} == {"success"} and {r["error"] for r in rows} == {""}


def test_next_data_2023_form_is_the_second_way_in():
    rows = parse_file("coinmarketcap", FIXTURES / "home_next_data_2023.html", scheduled_at=AT, ingested_at=AT)
    assert [(r["rank"], r["symbol"]) for r in rows] == [(1, "BTC"), (2, "ETH"), (3, "USDT")]
    eth = rows[1]
    assert (eth["price_usd"], eth["change_24h_pct"], eth["circulating_supply"]) == (1861.1, -0.55, 120220000.0)
    assert eth["market_cap_usd"] == 223745678901.2 and eth["scheduled_at"] == "2025-03-04T15:07:00Z"


def test_next_data_plain_list_of_objects(tmp_path):
    listing = [
        {"cmcRank": 2, "name": "Ethereum", "symbol": "ETH", "circulatingSupply": 1.2e8,
         "quotes": [{"name": "USD", "price": 3000.5, "percentChange1h": -0.1, "percentChange24h": 1.0,
                     "percentChange7d": -2.0, "marketCap": 3.6e11, "volume24h": 1.5e10}]},
        {"cmcRank": 1, "name": "Bitcoin", "symbol": "BTC", "circulatingSupply": 1.98e7,
         "quotes": [{"name": "USD", "price": 95000.0, "percentChange1h": 0.2, "percentChange24h": -1.0,
                     "percentChange7d": 3.0, "marketCap": 1.88e12, "volume24h": 3.1e10}]},
    ]  # fmt: skip
    document = {"props": {"pageProps": {"dehydratedState": {"queries": [{"state": {"data": {"listing": listing}}}]}}}}
    page = tmp_path / "home.html"
    page.write_text(f'<html><body><script id="__NEXT_DATA__">{json.dumps(document)}</script></body></html>')
    rows = parse_file("coinmarketcap", page)
    assert [(r["rank"], r["symbol"], r["price_usd"], r["change_1h_pct"]) for r in rows] == [
        (1, "BTC", 95000.0, 0.2),
        (2, "ETH", 3000.5, -0.1),
    ]


def test_a_page_with_neither_way_in_is_one_clear_error(tmp_path):
    page = tmp_path / "home.html"
    page.write_text("<html><head><title>CoinMarketCap</title></head><body><div class='board'></div></body></html>")
    with pytest.raises(PayloadError) as caught:
        parse_file("coinmarketcap", page)
    assert str(caught.value) == (
        "coinmarketcap page: no listing found (no <table class=cmc-table> with coin rows and no __NEXT_DATA__ "
        "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
    )
    assert "\n" not in str(caught.value)


def test_a_challenge_page_is_named_a_challenge_not_a_layout_change():
    path = FIXTURES / "home_neither.html"  # Cloudflare's "Just a moment..." page, as served with HTTP 200
    with pytest.raises(PayloadError) as caught:
        parse_file("coinmarketcap", path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the saved body is an error answer: coinmarketcap.com challenged")
    assert "'Just a moment...'" in message and "not a layout change" in message
    assert "update pipeline" not in message and "\n" not in message
    with pytest.raises(cmc.Challenged):  # what a live minute gets: transient, retried
        cmc.SOURCE.parse(cmc.SOURCE.load_payload(path), scheduled_at=AT, ingested_at=AT)
    assert kind_of(cmc.Challenged("x")) == "transient"


def test_nonsense_rows_fail_loudly(tmp_path):
    page = (FIXTURES / "home_listing_table.html").read_text()
    # ranks that do not increase
    swapped = page.replace('color="text2">2</p>', 'color="text2">1</p>', 1)
    (tmp_path / "ranks.html").write_text(swapped)
    with pytest.raises(PayloadError, match=r"row 2 \(ETH\): rank 1 does not follow rank 1"):
        parse_file("coinmarketcap", tmp_path / "ranks.html")
    # the carets were renamed: a change without a sign is not guessed
    (tmp_path / "caret.html").write_text(page.replace("icon-Caret-down", "icon-Triangle"))
    with pytest.raises(PayloadError, match=r"row 1 \(BTC\) 1h %: no up/down caret"):
        parse_file("coinmarketcap", tmp_path / "caret.html")


def test_api_body_rows_by_rank_and_api_errors_name_their_message(tmp_path):
    coins = [
        {"cmc_rank": rank, "name": name, "symbol": symbol, "circulating_supply": 1e6 * rank,
         "quote": {"USD": {"price": price, "volume_24h": 1e9, "percent_change_1h": -0.5, "percent_change_24h": 1.5,
                           "percent_change_7d": -7.25, "market_cap": price * 1e6 * rank}}}
        for rank, name, symbol, price in (
            (3, "Tether", "USDT", 1.0), (1, "Bitcoin", "BTC", 9188.66), (2, "Ethereum", "ETH", 228.3)
        )
    ]  # fmt: skip
    body = {"status": {"timestamp": "2020-06-30T09:41:38.309Z", "error_code": 0, "error_message": None}, "data": coins}
    (tmp_path / "api.json").write_text(json.dumps(body))
    rows = parse_file("coinmarketcap", tmp_path / "api.json")
    assert [(r["rank"], r["symbol"], r["change_7d_pct"]) for r in rows] == [
        (1, "BTC", -7.25), (2, "ETH", -7.25), (3, "USDT", -7.25)
    ]  # fmt: skip

    error = {"status": {"error_code": 1002, "error_message": "API key missing.", "credit_count": 0}}
    (tmp_path / "error.json").write_text(json.dumps(error))
    with pytest.raises(UpstreamRefused, match=r"error 1002 \(HTTP 200\): API key missing\.; not retried"):
        cmc.SOURCE.parse(cmc.SOURCE.load_payload(tmp_path / "error.json"), scheduled_at=AT, ingested_at=AT)
    with pytest.raises(PayloadError, match="API key missing"):
        parse_file("coinmarketcap", tmp_path / "error.json")


def _listing_calls() -> list[Any]:
    return [c for c in responses.calls if (c.request.url or "").startswith(cmc.API_URL)]


@responses.activate
def test_api_mode_sends_the_key_and_a_rate_limit_is_a_transient_upstream_error():
    settings = Settings(mode="live", cmc_api_key="k-123", cmc_top_n=3)
    limited = "You've exceeded your API Key's HTTP request rate limit."
    responses.get(cmc.API_URL, json={"status": {"error_code": 1008, "error_message": limited}}, status=429)
    with pytest.raises(UpstreamError) as caught:
        cmc.SOURCE.fetch(settings, AT, MemoryState())
    assert str(caught.value) == (
        "coinmarketcap API answered HTTP 429: You've exceeded your API Key's HTTP request rate limit."
    )
    assert kind_of(caught.value) == "transient"
    sent = _listing_calls()[0].request
    assert sent.headers["X-CMC_PRO_API_KEY"] == "k-123" and "limit=3" in (sent.url or "")


@responses.activate
@pytest.mark.parametrize("code", [1001, 1002, 1003, 1004, 1005, 1006, 1007])
def test_a_key_or_plan_error_is_terminal_an_alarm_and_not_retried(code, caplog):
    responses.get(cmc.API_URL, json={"status": {"error_code": code, "error_message": "no."}}, status=401)
    with pytest.raises(UpstreamRefused, match=rf"^coinmarketcap API refused the key or plan: error {code} ") as caught:
        cmc.SOURCE.fetch(Settings(mode="live", cmc_api_key="k-123"), AT, MemoryState())
    assert kind_of(caught.value) == "terminal"  # the process never retries it
    assert isinstance(caught.value, TerminalError) and not isinstance(caught.value, TransientError | UpstreamError)
    assert any(r.levelname == "ERROR" and "ALARM" in r.getMessage() for r in caplog.records)
    assert len(_listing_calls()) == 1


@responses.activate
def test_the_credit_guard_spaces_calls_and_checks_key_info_once_a_day(monkeypatch):
    info = {
        "status": {"error_code": 0, "credit_count": 0},
        "data": {"plan": {"credit_limit_monthly": 10000}, "usage": {"current_month": {"credits_used": 120}}},
    }
    responses.get(cmc.fetch.KEY_INFO_URL, json=info)
    body = json.dumps({"status": {"error_code": 0, "credit_count": 1},
                       "data": [{"cmc_rank": 1, "name": "Bitcoin", "symbol": "BTC", "id": 1,
                                 "quote": {"USD": {"price": 95000.123456789}}}]})  # fmt: skip
    responses.get(cmc.API_URL, body=body)
    settings, state = Settings(mode="live", cmc_api_key="k", cmc_min_interval_seconds=300), MemoryState()
    written = 0
    for minute in range(10):
        now = AT + timedelta(minutes=minute)
        monkeypatch.setattr(cmc.SOURCE, "clock", lambda now=now: now)
        try:
            rows = cmc.SOURCE.parse(cmc.SOURCE.fetch(settings, now, state), scheduled_at=now, ingested_at=now)
            written += 1
        except NothingToIngest as exc:
            assert "next after" in str(exc)
    assert written == 2 and len(_listing_calls()) == 2  # 15:07 and 15:12
    assert rows[0]["price_usd"] == 95000.123456789 and rows[0]["coin_id"] == 1
    assert len(responses.calls) - 2 == 1  # one /v1/key/info that day, costing no credits
    report = cmc.budget.credit_report(state, 10000, 300, AT + timedelta(minutes=9))
    assert report.credits == 122  # CoinMarketCap's 120, then two calls


def _key_info(reset: str | None = None) -> dict[str, Any]:
    plan: dict[str, Any] = {"credit_limit_monthly": 10000}
    if reset:
        plan["credit_limit_monthly_reset_timestamp"] = reset
    return {"status": {"error_code": 0, "credit_count": 0},
            "data": {"plan": plan, "usage": {"current_month": {"credits_used": 5}}}}  # fmt: skip


def _fetch_minutes(monkeypatch, settings: Settings, state: MemoryState, minutes: list[datetime]) -> list[str]:
    """What each minute's fetch came to: "rows", "skipped: ..." or the error's type and message."""
    said = []
    for now in minutes:
        monkeypatch.setattr(cmc.SOURCE, "clock", lambda now=now: now)
        try:
            cmc.SOURCE.fetch(settings, now, state)
            said.append("rows")
        except NothingToIngest as exc:
            said.append(f"skipped: {exc}")
        except UpstreamFailure as exc:
            said.append(f"{type(exc).__name__}: {exc}")
    return said


@responses.activate
def test_a_spent_daily_allowance_stops_the_calls_until_midnight_utc(monkeypatch, caplog):
    """1009: no retry within minutes can help, so the guard makes no call until the day's reset (00:00 UTC)."""
    responses.get(cmc.fetch.KEY_INFO_URL, json=_key_info())
    daily = "You've exceeded your API Key's daily rate limit."
    responses.get(cmc.API_URL, json={"status": {"error_code": 1009, "error_message": daily}}, status=429)
    responses.get(cmc.API_URL, json={"status": {"error_code": 0, "credit_count": 1}, "data": [
        {"cmc_rank": 1, "name": "Bitcoin", "symbol": "BTC", "quote": {"USD": {"price": 95000.0}}}]})  # fmt: skip
    settings, state = Settings(mode="live", cmc_api_key="k", cmc_min_interval_seconds=60), MemoryState()
    late = datetime(2025, 3, 4, 23, 50, tzinfo=UTC)

    said = _fetch_minutes(
        monkeypatch, settings, state, [late, late + timedelta(minutes=5), late + timedelta(minutes=10)]
    )

    assert said[0] == (
        "AllowanceSpent: coinmarketcap API: the plan's allowance for the day is spent: error 1009 (HTTP 429): "
        "You've exceeded your API Key's daily rate limit.; no call until it resets"
    )
    assert said[1] == (
        "skipped: coinmarketcap API: the plan's allowance is spent (the day's, refused at 2025-03-04T23:50:00Z); "
        "no call until 2025-03-05T00:00:00Z"
    )
    assert said[2] == "rows"  # 00:00 UTC: the day's allowance is back
    assert len(_listing_calls()) == 2
    assert any(r.levelname == "ERROR" and "ALARM" in r.getMessage() for r in caplog.records)


@responses.activate
def test_a_spent_monthly_allowance_waits_for_the_plans_own_reset(monkeypatch):
    """1010: the plan's reset time from /v1/key/info, not a guess, ends the pause."""
    responses.get(cmc.fetch.KEY_INFO_URL, json=_key_info(reset="2025-03-17T00:00:00.000Z"))
    monthly = "Your API Key's monthly plan limit has been reached."
    responses.get(cmc.API_URL, json={"status": {"error_code": 1010, "error_message": monthly}}, status=429)
    settings, state = Settings(mode="live", cmc_api_key="k", cmc_min_interval_seconds=60), MemoryState()

    said = _fetch_minutes(monkeypatch, settings, state, [AT, AT + timedelta(days=3)])

    assert said[0].startswith(
        "AllowanceSpent: coinmarketcap API: the plan's allowance for the month is spent: error 1010"
    )
    assert said[1].endswith("no call until 2025-03-17T00:00:00Z")
    assert kind_of(cmc.fetch.api_error(429, {"error_code": 1010})) == "terminal"
    assert len(_listing_calls()) == 1


def test_the_simulated_api_answers_a_spent_daily_allowance_through_the_same_guard():
    settings, state = Settings(mode="simulated", seed=11, cmc_simulated_fault="daily_exhausted"), MemoryState()
    with pytest.raises(cmc.fetch.AllowanceSpent, match=r"error 1009 \(HTTP 429\): Your API Key's daily plan limit"):
        cmc.SOURCE.fetch(settings, AT, state)
    with pytest.raises(NothingToIngest, match=r"no call until 2025-03-05T00:00:00Z$"):
        cmc.SOURCE.fetch(settings, AT + timedelta(minutes=1), state)


def test_the_simulated_api_serves_listings_and_an_exhausted_plan_when_told_to():
    settings = Settings(mode="simulated", seed=11, cmc_api_key="sim")
    rows = cmc.SOURCE.parse(cmc.SOURCE.fetch(settings, AT, MemoryState()), scheduled_at=AT, ingested_at=AT)
    assert [r["rank"] for r in rows] == list(range(1, 11)) and rows[0]["coin_id"] == simulator.CMC_IDS["BTC"]
    exhausted = Settings(mode="simulated", seed=11, cmc_simulated_fault="exhausted")
    with pytest.raises(cmc.fetch.AllowanceSpent, match=r"error 1010 \(HTTP 429\): Your API Key's monthly plan limit"):
        cmc.SOURCE.fetch(exhausted, AT, MemoryState())


@pytest.fixture
def home_server(monkeypatch):
    """A local HTTP server standing in for coinmarketcap.com: `serve(status, headers, body)` sets its answer;
    `.requests` holds the headers of what it was sent. The page module's HOME_URL points at it."""
    answer: dict[str, Any] = {"status": 200, "headers": {}, "body": ""}
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            body = answer["body"].encode()
            self.send_response(answer["status"])
            for key, value in {"content-type": "text/html", **answer["headers"]}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(cmc_page, "HOME_URL", f"http://127.0.0.1:{server.server_port}/")

    class Serve:
        requests = seen

        def __call__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            answer.update(status=status, body=body, headers=headers or {})

    yield Serve()
    server.shutdown()
    server.server_close()


def test_home_page_is_fetched_with_curl_cffi_as_chrome(home_server):
    home_server(200, (FIXTURES / "home_listing_table.html").read_text(), {"server": "cloudflare"})
    payload = cmc.SOURCE.fetch(Settings(mode="live", cmc_top_n=4), AT)
    sent = {k.lower(): v for k, v in home_server.requests[0].items()}
    assert "Chrome/" in sent["user-agent"] and sent["accept-language"].startswith("en-US")
    assert "sec-ch-ua" in sent  # a browser's client hints, which plain requests never sends
    rows = cmc.SOURCE.parse(payload, scheduled_at=AT, ingested_at=AT)
    assert [r["symbol"] for r in rows] == ["BTC", "ETH", "USDT", "BNB"]


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason"),
    [
        (403, {"cf-mitigated": "challenge", "server": "cloudflare"}, "<html></html>",
         "challenged (HTTP 403, cf-mitigated: challenge from cloudflare)"),
        (200, {"server": "cloudflare"}, (FIXTURES / "home_neither.html").read_text(),
         "challenged (HTTP 200 from cloudflare: the page is a challenge ('Just a moment...'))"),
        (200, {}, "<html><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script></html>",
         "challenged (HTTP 200: the page is a challenge ('challenge-platform' and no listing))"),
        (503, {"server": "cloudflare"}, "<html>Service unavailable</html>", "blocked (HTTP 503 from cloudflare)"),
        (429, {}, "slow down", "blocked (HTTP 429)"),
    ],
)  # fmt: skip
def test_a_challenge_or_block_is_one_transient_line_not_a_layout_change(home_server, status, headers, body, reason):
    home_server(status, body, headers)
    with pytest.raises(cmc.Challenged) as caught:
        cmc.SOURCE.fetch(Settings(mode="live"), AT)
    assert str(caught.value).startswith(f"coinmarketcap.com {reason}: the edge network did not let this client")
    assert kind_of(caught.value) == "transient" and "layout" in str(caught.value)  # "not a layout change"


def test_another_http_error_is_upstream_error_and_an_ordinary_page_with_cloudflare_scripts_parses(home_server):
    home_server(500, "oops")
    with pytest.raises(UpstreamError, match="HTTP 500") as caught:
        cmc.SOURCE.fetch(Settings(mode="live"), AT)
    assert not isinstance(caught.value, cmc.Challenged)
    page = (FIXTURES / "home_listing_table.html").read_text()
    injected = page.replace("</body>", "<script src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'></script></body>")
    home_server(200, injected, {"server": "cloudflare"})
    rows = cmc.SOURCE.parse(cmc.SOURCE.fetch(Settings(mode="live"), AT), scheduled_at=AT, ingested_at=AT)
    assert len(rows) == 10


def _next_data_page(tmp_path: Path, document: dict[str, Any]) -> Path:
    page = tmp_path / "home.html"
    script = json.dumps(document)
    page.write_text(f'<html><body><script id="__NEXT_DATA__" type="application/json">{script}</script></body></html>')
    return page


def _coin(rank: int, symbol: str, quotes: dict[str, Any]) -> dict[str, Any]:
    return {"id": 1000 + rank, "cmcRank": rank, "name": symbol.title(), "symbol": symbol, "quote": quotes}


def test_a_listing_quoted_in_another_currency_is_refused_not_taken_as_dollars(tmp_path):
    listing = [_coin(1, "BTC", {"BTC": {"price": 1.0}}), _coin(2, "ETH", {"BTC": {"price": 0.0347}})]
    page = _next_data_page(tmp_path, {"props": {"pageProps": {"listingLatest": {"data": listing}}}})
    with pytest.raises(PayloadError) as caught:
        parse_file("coinmarketcap", page)
    assert str(caught.value) == (
        "coinmarketcap __NEXT_DATA__ listing is quoted in BTC, not US dollars (no USD quote, no convert id 2781): "
        "prices in another currency are not taken as dollars"
    )
    # the same listing with a quote under USD's convert id is in dollars
    dollars = [_coin(1, "BTC", {"2781": {"price": 95000.5}}), _coin(2, "ETH", {"2781": {"price": 3300.25}})]
    rows = parse_file("coinmarketcap", _next_data_page(tmp_path, {"listingLatest": dollars}))
    assert [(r["symbol"], r["price_usd"], r["coin_id"]) for r in rows] == [
        ("BTC", 95000.5, 1001),
        ("ETH", 3300.25, 1002),
    ]


def test_a_trending_widget_is_not_the_top_ten(tmp_path):
    trending = [_coin(rank, s, {"USD": {"price": 1.5}}) for rank, s in ((7, "TRX"), (19, "LINK"), (42, "PEPE"))]
    page = _next_data_page(tmp_path, {"props": {"pageProps": {"trending": {"coins": trending}}}})
    with pytest.raises(PayloadError) as caught:
        parse_file("coinmarketcap", page)
    message = str(caught.value)
    assert "ranks 7, 19, 42) is not a top-10 listing (ranks 1..N)" in message and "\n" not in message


def test_the_known_listing_path_is_preferred_over_a_longer_coin_shaped_list(tmp_path):
    listing = [_coin(rank, f"C{rank}", {"USD": {"price": 100.0 - rank}}) for rank in range(1, 11)]
    gainers = [_coin(rank, f"G{rank}", {"USD": {"price": 1.0}}) for rank in range(1, 13)]
    document = {"props": {"pageProps": {"gainers": gainers, "cryptoCurrencyList": listing}}}
    rows = parse_file("coinmarketcap", _next_data_page(tmp_path, document))
    assert [r["symbol"] for r in rows] == [f"C{rank}" for rank in range(1, 11)]


def test_simulated_page_is_parsed_by_the_same_parser_and_is_deterministic():
    settings = Settings(mode="simulated", seed=11)
    page = cmc.SOURCE.fetch(settings, AT)
    assert page == cmc.SOURCE.fetch(settings, AT)
    assert page != cmc.SOURCE.fetch(Settings(mode="simulated", seed=12), AT)
    rows = cmc.SOURCE.parse(page, scheduled_at=AT, ingested_at=AT)
    quotes = simulator.crypto_quotes(11, AT)[:10]
    assert [r["symbol"] for r in rows] == [q.coin.symbol for q in quotes]
    assert [r["rank"] for r in rows] == list(range(1, 11))
    for row, quote in zip(rows, quotes, strict=True):
        assert row["price_usd"] == pytest.approx(quote.price, rel=1e-3)
        assert row["change_24h_pct"] == pytest.approx(quote.change_24h_pct, abs=0.006)
    assert any(r["change_24h_pct"] < 0 for r in rows) and any(r["change_24h_pct"] > 0 for r in rows)


def test_simulated_page_falls_back_to_next_data_when_the_table_is_not_rendered():
    quotes = simulator.crypto_quotes(11, AT)
    page = cmc.render_page(quotes, 10, rendered=0)
    rows = cmc.parse_page(page, 10)
    assert [r["symbol"] for r in rows] == [q.coin.symbol for q in quotes[:10]]
    assert rows[0]["price_usd"] == quotes[0].price  # full precision from the JSON


def test_raw_rows_carry_the_coin_id_and_quote_time_after_the_contract_columns_at_full_precision():
    settings = Settings(mode="simulated", seed=11)
    rows = csv_to_rows("coinmarketcap", rows_to_csv("coinmarketcap", cmc.SOURCE.parse(
        cmc.SOURCE.fetch(settings, AT), scheduled_at=AT, ingested_at=AT)))  # fmt: skip
    columns = list(rows[0])
    assert columns[10:12] == ["coin_id", "last_updated"] and columns[12:] == ["status", "error", "scheduled_at",
                                                                               "ingested_at"]  # fmt: skip
    quotes = {q.coin.symbol: q for q in simulator.crypto_quotes(11, AT)}
    for row in rows:
        assert int(row["coin_id"]) == simulator.CMC_IDS[row["symbol"]]
        assert row["last_updated"] == "2025-03-04T15:07:00Z"
        # the table prints "$0.4012"; the embedded listing has the price to the last digit, and that is kept
        assert float(row["price_usd"]) == quotes[row["symbol"]].price


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (
            "challenge",
            cmc.Challenged,
            r"^coinmarketcap\.com challenged \(HTTP 403, cf-mitigated: challenge from cloudf",
        ),
        ("redesign", PayloadError, r"^coinmarketcap page: no listing found .* the page layout changed"),
        ("non_usd", PayloadError, r"^coinmarketcap __NEXT_DATA__ listing is quoted in BTC, not US dollars"),
    ],
)
def test_the_simulated_page_fails_like_the_real_one_when_told_to(fault, error, match):
    settings = Settings(mode="simulated", seed=11, cmc_simulated_fault=fault)
    with pytest.raises(error, match=match):
        cmc.SOURCE.parse(cmc.SOURCE.fetch(settings, AT), scheduled_at=AT, ingested_at=AT)
    assert Settings(mode="simulated").cmc_simulated_fault == ""  # off by default: the demo stays clean


def test_a_raw_object_written_before_coin_id_and_last_updated_still_reads():
    rows = cmc.SOURCE.parse(cmc.SOURCE.fetch(Settings(mode="simulated", seed=11), AT), scheduled_at=AT, ingested_at=AT)
    new = rows_to_csv("coinmarketcap", rows).decode().splitlines()
    drop = [new[0].split(",").index(c) for c in ("coin_id", "last_updated")]
    old = "\n".join(",".join(v for i, v in enumerate(line.split(",")) if i not in drop) for line in new).encode()
    assert b"coin_id" not in old.split(b"\n")[0]
    read = csv_to_rows("coinmarketcap", old)
    assert len(read) == 10 and {(r["coin_id"], r["last_updated"]) for r in read} == {("", "")}


def test_the_credit_guard_never_moves_backwards():
    settings, state = Settings(mode="simulated", seed=11, cmc_api_key="sim"), MemoryState()
    later = AT + timedelta(hours=1)
    cmc.SOURCE.fetch(settings, later, state)
    before = state.read(cmc.budget.STATE)
    with pytest.raises(NothingToIngest, match=r"minute 2025-03-04T15:07:00Z is older than 2025-03-04T16:07:00Z"):
        cmc.SOURCE.fetch(settings, AT, state)  # a late retry of an earlier minute: no call, no rewrite
    assert state.read(cmc.budget.STATE) == before and before.doc["credits"] == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [("$1.23T", 1.23e12), ("$64,123.45", 64123.45), ("19.7M BTC", 19.7e6), ("$0.0₄52", 0.000052), ("1.85%", 1.85),
     ("$1,234,567,890", 1234567890.0), ("#7", 7.0), ("no number", None)],
)  # fmt: skip
def test_numbers_the_way_the_page_writes_them(text, value):
    assert cmc_numbers.number(text) == pytest.approx(value) if value is not None else cmc_numbers.number(text) is None


def test_true_is_not_a_rank_in_an_api_body():
    """JSON's true is an int to Python: a coin ranked true is no listing (a price of true is an error row)."""
    coin: dict[str, Any] = {"cmc_rank": True, "name": "Bitcoin", "symbol": "BTC", "quote": {"USD": {"price": 95000.0}}}
    body = json.dumps({"status": {"error_code": 0}, "data": [coin]})
    with pytest.raises(PayloadError, match=r"^coinmarketcap API row 1 \(BTC\): rank True does not follow"):
        cmc.parse_api(body, top_n=1)
