"""coinmarketcap: the home page's listing table and __NEXT_DATA__, the official API, the simulated page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from pipeline import registry
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.settings import Settings
from pipeline.sources import PayloadError, UpstreamError, parse_file, simulator
from pipeline.sources import coinmarketcap as cmc

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


def test_a_page_with_neither_way_in_is_one_clear_error():
    with pytest.raises(PayloadError) as caught:
        parse_file("coinmarketcap", FIXTURES / "home_neither.html")
    assert str(caught.value) == (
        "coinmarketcap page: no listing found (no <table class=cmc-table> with coin rows and no __NEXT_DATA__ "
        "listing); the page layout changed: save the page and update pipeline/sources/coinmarketcap/"
    )
    assert "\n" not in str(caught.value)


def test_nonsense_rows_fail_loudly(tmp_path):
    page = (FIXTURES / "home_listing_table.html").read_text()
    # ranks that do not increase
    swapped = page.replace('color="text2">2</p>', 'color="text2">1</p>', 1)
    (tmp_path / "ranks.html").write_text(swapped)
    with pytest.raises(PayloadError, match=r"row 2 \(ETH\): rank 1 does not follow rank 1"):
        parse_file("coinmarketcap", tmp_path / "ranks.html")
    # a price that is not there
    (tmp_path / "price.html").write_text(page.replace("<span>$3,101.07</span>", "<span>—</span>", 1))
    with pytest.raises(PayloadError, match=r"row 2 \(ETH\): no price"):
        parse_file("coinmarketcap", tmp_path / "price.html")
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
    with pytest.raises(UpstreamError, match=r"error 1002: API key missing\.$"):
        cmc.SOURCE.parse(cmc.SOURCE.load_payload(tmp_path / "error.json"), scheduled_at=AT, ingested_at=AT)
    with pytest.raises(PayloadError, match="API key missing"):
        parse_file("coinmarketcap", tmp_path / "error.json")


@responses.activate
def test_api_mode_sends_the_key_and_turns_an_error_status_into_upstream_error():
    settings = Settings(mode="live", cmc_api_key="k-123", cmc_top_n=3)
    limited = "You've exceeded your API Key's HTTP request rate limit."
    responses.get(cmc.API_URL, json={"status": {"error_code": 1008, "error_message": limited}}, status=429)
    with pytest.raises(UpstreamError) as caught:
        cmc.SOURCE.fetch(settings, AT)
    assert str(caught.value) == (
        "coinmarketcap API answered HTTP 429: You've exceeded your API Key's HTTP request rate limit."
    )
    sent = responses.calls[0].request
    assert sent.headers["X-CMC_PRO_API_KEY"] == "k-123" and "limit=3" in (sent.url or "")


@responses.activate
@pytest.mark.parametrize("body", [["not", "an", "object"], {"status": "down"}])
def test_api_mode_an_error_answer_of_another_shape_is_still_one_upstream_error(body):
    responses.get(cmc.API_URL, json=body, status=502)
    with pytest.raises(UpstreamError, match=r"^coinmarketcap API answered HTTP 502: "):
        cmc.SOURCE.fetch(Settings(mode="live", cmc_api_key="k-123"), AT)


@responses.activate
def test_home_page_fetch_is_browser_like_and_an_http_error_is_upstream_error():
    responses.get(cmc.HOME_URL, body=(FIXTURES / "home_listing_table.html").read_text(), status=200)
    payload = cmc.SOURCE.fetch(Settings(mode="live", cmc_top_n=4), AT)
    assert responses.calls[0].request.headers["User-Agent"].startswith("Mozilla/5.0")
    rows = cmc.SOURCE.parse(payload, scheduled_at=AT, ingested_at=AT)
    assert [r["symbol"] for r in rows] == ["BTC", "ETH", "USDT", "BNB"]
    responses.replace(responses.GET, cmc.HOME_URL, body="blocked", status=403)
    with pytest.raises(UpstreamError, match="HTTP 403"):
        cmc.SOURCE.fetch(Settings(mode="live"), AT)


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
