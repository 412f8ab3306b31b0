"""A bad value costs only itself: what `pipeline parse SOURCE FILE` prints for payloads with one unreadable value.

Each table holds known-wrong payloads (error rows for exactly the bad instruments, naming the field and the value;
success rows for the rest) and right payloads written other ways (the same rows).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from typer.testing import CliRunner

from pipeline.contracts import floor_minute, iso
from pipeline.raw import csv_to_rows
from pipeline.sources import PayloadError, numbers
from pipeline.sources.base import MAX_CLOCK_SKEW
from workbench.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
OXR_AT = "2025-06-25T21:05:00Z"  # a fetch five minutes after the fixture's rates (21:00)
CMC_AT = "2025-03-04T15:07:00Z"
FUTURE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def cli_parse(source: str, path: Path, at: str) -> list[dict[str, str]]:
    """The raw CSV `pipeline parse SOURCE FILE --at AT` prints, read back as rows."""
    result = CliRunner().invoke(app, ["parse", source, str(path), "--at", at])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return csv_to_rows(source, result.stdout.encode())


def by(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    return {r[key]: r for r in rows}


# ------------------------------------------------------------------------------------------------ Open Exchange Rates


def _oxr(tmp_path: Path, **rates: Any) -> Path:
    body = json.loads((FIXTURES / "openexchangerates" / "latest_small.json").read_text())
    body["rates"].update(rates)
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("rate", "written", "reason"),
    [
        (None, "null", "rate of GBP is missing"),
        ("abc", '"abc"', "rate of GBP is 'abc', not a number"),
        ("0.73", '"0.73"', "rate of GBP is '0.73', not a number"),
        (-1, "-1", "rate of GBP is -1, not above 0"),
        (0, "0", "rate of GBP is 0, not above 0"),
        (True, "true", "rate of GBP is True, not a number"),
        (float("inf"), "1e400", "rate of GBP is inf, not a finite number"),
        ({"rate": 0.73}, '{"rate": 0.73}', "rate of GBP is {'rate': 0.73}, not a number"),
        ([0.73], "[0.73]", "rate of GBP is [0.73], not a number"),
        ("x" * 500, '"xxx…"', "rate of GBP is '" + "x" * 58 + "…, not a number"),
    ],
)
def test_one_unreadable_rate_is_an_error_row_and_the_other_currencies_stay(tmp_path, rate, written, reason):
    path = _oxr(tmp_path)
    text = path.read_text().replace('"GBP": 0.73184', f'"GBP": {json.dumps(rate) if written != "1e400" else written}')
    path.write_text(text)

    rows = by(cli_parse("openexchangerates", path, OXR_AT), "currency")

    assert (rows["GBP"]["status"], rows["GBP"]["error"], rows["GBP"]["rate"]) == ("error", reason, "")
    assert {c: (r["status"], r["rate"]) for c, r in rows.items() if c != "GBP"} == {
        "EUR": ("success", "0.857649"), "JPY": ("success", "145.244005"), "USD": ("success", "1.0"),
    }  # fmt: skip


@pytest.mark.parametrize("code", ["gbp", "", "GB", "G\x00P"])
def test_a_rate_under_a_code_that_is_no_currency_is_an_error_row(tmp_path, code):
    rows = cli_parse("openexchangerates", _oxr(tmp_path, **{code: 0.5}), OXR_AT)
    (bad,) = [r for r in rows if r["status"] == "error"]
    assert bad["error"].endswith("is not a currency code") and bad["rate"] == ""
    assert sum(r["status"] == "success" for r in rows) == 4


def _oxr_text(tmp_path: Path, old: str, new: str) -> Path:
    """The small latest.json with one piece of its text replaced (JSON a dict cannot hold: a key named twice)."""
    text = (FIXTURES / "openexchangerates" / "latest_small.json").read_text()
    assert old in text
    path = tmp_path / "latest.json"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ('"GBP": 0.73184, "GBP": 0.74', "rate of GBP is given 2 times with different values (0.73184, 0.74)"),
        ('"GBP": 0.74, "GBP": 0.73184', "rate of GBP is given 2 times with different values (0.74, 0.73184)"),
        ('"GBP": null, "GBP": 0.73184', "rate of GBP is given 2 times with different values (None, 0.73184)"),
        ('"GBP": 1, "GBP": 1.0', "rate of GBP is given 2 times with different values (1, 1.0)"),
        ('"GBP": 0.7, "GBP": 0.7, "GBP": 0.8', "rate of GBP is given 2 times with different values (0.7, 0.8)"),
        ('"GBP": 1, "GBP": 2, "GBP": 3, "GBP": 4', "rate of GBP is given 4 times with different values (1, 2, 3, …)"),
    ],
)
def test_a_currency_named_twice_with_different_rates_is_an_error_row_and_the_others_stay(tmp_path, written, reason):
    """json.loads would keep the last rate silently: an ambiguous rate is no rate, and costs only its currency."""
    path = _oxr_text(tmp_path, '"GBP": 0.73184', written)

    rows = by(cli_parse("openexchangerates", path, OXR_AT), "currency")

    assert (rows["GBP"]["status"], rows["GBP"]["rate"]) == ("error", "")
    assert rows["GBP"]["error"] == reason + ": which one is meant cannot be told"
    assert {c: (r["status"], r["rate"]) for c, r in rows.items() if c != "GBP"} == {
        "EUR": ("success", "0.857649"), "JPY": ("success", "145.244005"), "USD": ("success", "1.0"),
    }  # fmt: skip


def test_a_currency_named_twice_with_the_same_rate_is_that_rate(tmp_path):
    path = _oxr_text(tmp_path, '"GBP": 0.73184', '"GBP": 0.73184, "GBP": 0.73184')
    rows = by(cli_parse("openexchangerates", path, OXR_AT), "currency")
    assert {c: r["status"] for c, r in rows.items()} == dict.fromkeys(["EUR", "GBP", "JPY", "USD"], "success")
    assert rows["GBP"]["rate"] == "0.73184"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"timestamp": 1750885200', '"timestamp": 1750885200, "timestamp": 1750881600', "'timestamp' 2 times"),
        ('"base": "USD"', '"base": "USD", "base": "EUR"', "'base' 2 times"),
        ('"base": "USD"', '"base": "EUR", "base": "USD"', "'base' 2 times"),
        ('"base": "USD",', '"base": "USD", "rates": {"EUR": 0.9},', "'rates' 2 times"),
    ],
)
def test_a_body_naming_its_timestamp_base_or_rates_twice_is_refused_naming_the_field(tmp_path, old, new, field):
    """Every row carries the body's time and base: with two of them, no row can say which it is of."""
    with pytest.raises(PayloadError) as caught:
        cli_parse("openexchangerates", _oxr_text(tmp_path, old, new), OXR_AT)
    message = str(caught.value)
    assert f"body names {field} with different values" in message and "\n" not in message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"timestamp": 1750885200', '"timestamp": 1750885200, "timestamp": 1750885200'),
        ('"license": "https://openexchangerates.org/license"', '"license": "a", "license": "b"'),
    ],
)
def test_a_field_named_twice_with_one_value_or_one_no_row_is_made_of_is_read(tmp_path, old, new):
    rows = cli_parse("openexchangerates", _oxr_text(tmp_path, old, new), OXR_AT)
    assert {r["status"] for r in rows} == {"success"} and len(rows) == 4


def test_a_body_naming_its_timestamp_twice_is_one_line_and_exit_1_through_the_command(tmp_path):
    path = _oxr_text(tmp_path, '"timestamp": 1750885200', '"timestamp": 1750885200, "timestamp": 1750881600')
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "parse", "openexchangerates", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: openexchangerates body names 'timestamp' 2 times with different values "
        "(1750885200, 1750881600): which one is meant cannot be told"
    ]


@pytest.mark.parametrize("rate", [0.73184, 7.3184e-1, 73184e-5, 1, 1.0, 1e-9, 1e9])
def test_rates_written_other_ways_are_success_rows(tmp_path, rate):
    rows = by(cli_parse("openexchangerates", _oxr(tmp_path, GBP=rate), OXR_AT), "currency")
    assert rows["GBP"]["status"] == "success" and float(rows["GBP"]["rate"]) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("at", "refused"),
    [
        ("2025-06-25T21:05:00Z", False),  # fetched five minutes after the rates
        ("2025-06-25T21:00:00Z", False),  # the minute of the rates
        ("2025-06-25T20:57:00Z", False),  # within the clock skew
        ("2025-06-25T20:56:00Z", True),  # four minutes before the rates: dated after the fetch
        ("2025-06-25T18:00:00Z", True),
    ],
)
def test_a_body_dated_after_its_fetch_is_refused_whole(at, refused, monkeypatch):
    """`--at` is the fetch here: the ingest's clock is pinned before it so that only the scheduled minute counts."""
    from pipeline.sources import openexchangerates as oxr

    real = oxr.parse_body
    monkeypatch.setattr(
        oxr.SOURCE,
        "parse",
        lambda payload, *, scheduled_at, ingested_at: real(
            payload, scheduled_at=scheduled_at, ingested_at=scheduled_at
        ),
    )
    path = FIXTURES / "openexchangerates" / "latest_small.json"
    if not refused:
        assert {r["status"] for r in cli_parse("openexchangerates", path, at)} == {"success"}
        return
    with pytest.raises(PayloadError) as caught:
        cli_parse("openexchangerates", path, at)
    assert str(caught.value).startswith("openexchangerates body refused: its timestamp 2025-06-25T21:00:00Z is after")
    assert "3 minutes of clock skew" in str(caught.value)


def test_a_body_from_the_future_is_one_line_and_exit_1_through_the_command(tmp_path):
    body = json.loads((FIXTURES / "openexchangerates" / "latest_small.json").read_text())
    body["timestamp"] = int((datetime.now(UTC) + timedelta(days=2)).timestamp())
    path = tmp_path / "future.json"
    path.write_text(json.dumps(body))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "parse", "openexchangerates", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "body refused: its timestamp" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------- CoinMarketCap page


def _page(tmp_path: Path, old: str, new: str) -> Path:
    page = (FIXTURES / "coinmarketcap" / "home_listing_table.html").read_text()
    assert old in page
    path = tmp_path / "home.html"
    path.write_text(page.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("$70 517,58", "'70 517,58' uses a space as a separator"),
        ("$70\u202f517,58", "'70\\u202f517,58' uses a narrow no-break space as a separator"),
        ("$70\u00a0517.58", "'70\\xa0517.58' uses a no-break space as a separator"),
        ("$70’517.58", "'70’517.58' uses an apostrophe (U+2019) as a separator"),
        ("$70'517.58", '"70\'517.58" uses an apostrophe as a separator'),
        ("$70.517,58", "'70.517,58' is not a number as the page writes them (1,234.56)"),
        ("$64123,45", "'64123,45' is not a number as the page writes them"),
        ("$64,12.45", "'64,12.45' is not a number as the page writes them"),
        ("$1,23,456.00", "'1,23,456.00' is not a number as the page writes them"),
        ("-$70,517.58", "'-$70,517.58' is signed: this value is never negative"),
        ("$-70,517.58", "'$-70,517.58': '$-' before the number"),
        ("$70,517.58e3", "'$70,517.58e3': 'e3' after the number, which the page never writes"),
        ("$70,517.58abc", "'abc' after the number"),
        ("$70,517.58-", "'-' after the number"),
        ("$70,517.58 BTC", "'BTC' after the number"),
        ("$٧٠,517.58", "holds the digit '٧' (U+0667): the page writes 0-9"),
        ("$70,517.58٨", "holds the digit '٨' (U+0668)"),
        ("—", "price_usd is missing"),
        ("", "price_usd is missing"),
        ("$0.00", "price_usd is 0.0, not above 0"),
    ],
)
def test_one_unreadable_price_cell_is_an_error_row_and_the_other_coins_stay(tmp_path, written, reason):
    rows = cli_parse("coinmarketcap", _page(tmp_path, "<span>$64,123.45</span>", f"<span>{written}</span>"), CMC_AT)

    btc = rows[0]
    assert (btc["symbol"], btc["status"], btc["price_usd"]) == ("BTC", "error", "")
    assert reason in btc["error"] and "row 1 (BTC)" in btc["error"] and "\n" not in btc["error"]
    assert [r["status"] for r in rows[1:]] == ["success"] * 9
    assert rows[1]["price_usd"] == "3101.07"


@pytest.mark.parametrize(
    ("written", "value"),
    [("$64,123.45", "64123.45"), ("$64123.45", "64123.45"), ("$ 64,123.45", "64123.45"), ("$64,123.450", "64123.45"),
     ("$0.0₄52", "5.2e-05"), ("$.5", "0.5"), ("$1.2K", "1200.0")],
)  # fmt: skip
def test_prices_written_other_ways_the_page_does_are_read(tmp_path, written, value):
    rows = cli_parse("coinmarketcap", _page(tmp_path, "<span>$64,123.45</span>", f"<span>{written}</span>"), CMC_AT)
    assert (rows[0]["status"], rows[0]["price_usd"]) == ("success", value)


def test_an_unreadable_supply_or_volume_cell_costs_only_its_coin(tmp_path):
    rows = cli_parse("coinmarketcap", _page(tmp_path, "$14,234,567,890", "$14 234 567 890"), CMC_AT)
    assert [r["symbol"] for r in rows if r["status"] == "error"] == ["ETH"]
    assert "volume_24h_usd cell" in rows[1]["error"]
    rows = cli_parse("coinmarketcap", _page(tmp_path, "19.7M BTC", "19,7M BTC"), CMC_AT)
    assert [r["symbol"] for r in rows if r["status"] == "error"] == ["BTC"]
    assert "circulating_supply cell '19,7M BTC'" in rows[0]["error"]


def test_a_missing_change_is_an_empty_cell_never_a_zero(tmp_path):
    rows = cli_parse("coinmarketcap", _page(tmp_path, '<span class="icon-Caret-down"></span>3.40%', "--"), CMC_AT)
    assert (rows[0]["status"], rows[0]["change_7d_pct"]) == ("success", "")


# ---------------------------------------------------------------------------------------------------- CoinMarketCap API


def _api(tmp_path: Path, change: Any = None, timestamp: str = "2025-03-04T15:06:38.309Z") -> Path:
    coins = [
        {"id": rank, "cmc_rank": rank, "name": name, "symbol": symbol, "circulating_supply": 1e6,
         "last_updated": "2025-03-04T15:05:00.000Z",
         "quote": {"USD": {"price": price, "volume_24h": 1e9, "percent_change_1h": -0.5, "percent_change_24h": 1.5,
                           "percent_change_7d": -7.25, "market_cap": price * 1e6,
                           "last_updated": "2025-03-04T15:05:00.000Z"}}}
        for rank, name, symbol, price in ((1, "Bitcoin", "BTC", 90000.0), (2, "Ethereum", "ETH", 2200.0),
                                          (3, "Tether", "USDT", 1.0))
    ]  # fmt: skip
    if change is not None:
        change(coins[1])
    body = {"status": {"timestamp": timestamp, "error_code": 0, "error_message": None}, "data": coins}
    path = tmp_path / "api.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c.pop("quote"), "price_usd is missing"),
        (lambda c: c["quote"].pop("USD"), "price_usd is missing"),
        (lambda c: c["quote"]["USD"].update(price=None), "price_usd is missing"),
        (lambda c: c["quote"]["USD"].update(price="2200"), "price_usd is '2200', not a number"),
        (lambda c: c["quote"]["USD"].update(price=True), "price_usd is True, not a number"),
        (lambda c: c["quote"]["USD"].update(price=-3), "price_usd is -3, not above 0"),
        (lambda c: c["quote"]["USD"].update(volume_24h={"v": 1}), "volume_24h_usd is {'v': 1}, not a number"),
        (lambda c: c["quote"]["USD"].update(market_cap=-1), "market_cap_usd is -1, below 0"),
        (
            lambda c: c["quote"]["USD"].update(last_updated=iso(FUTURE)),
            f"last_updated {iso(FUTURE)} is after the fetch",
        ),
        (lambda c: c["quote"]["USD"].update(last_updated="yesterday"), "last_updated 'yesterday' is not a time"),
    ],
)
def test_one_unreadable_coin_in_an_api_body_is_an_error_row(tmp_path, change, reason):
    rows = cli_parse("coinmarketcap", _api(tmp_path, change), CMC_AT)
    assert [(r["symbol"], r["status"]) for r in rows] == [("BTC", "success"), ("ETH", "error"), ("USDT", "success")]
    assert reason in rows[1]["error"] and rows[1]["price_usd"] in ("", "2200.0")  # never the unreadable value


@pytest.mark.parametrize(
    ("change", "price"),
    [(lambda c: c["quote"]["USD"].update(price=2200), "2200.0"),
     (lambda c: c["quote"]["USD"].update(price=2.2e3), "2200.0"),
     (lambda c: c["quote"]["USD"].update(percent_change_7d=None), "2200.0")],
)  # fmt: skip
def test_coins_written_other_ways_are_success_rows(tmp_path, change, price):
    rows = cli_parse("coinmarketcap", _api(tmp_path, change), CMC_AT)
    assert [r["status"] for r in rows] == ["success"] * 3 and rows[1]["price_usd"] == price


@pytest.mark.parametrize(
    ("timestamp", "refused"),
    [("2025-03-04T15:06:38.309Z", False), ("2025-03-04T15:09:59Z", False), ("2025-03-04T15:11:00Z", True),
     ("2026-03-04T15:06:38Z", True)],
)  # fmt: skip
def test_an_api_body_dated_after_its_fetch_is_refused_whole(tmp_path, timestamp, refused, monkeypatch):
    from pipeline.sources.coinmarketcap import source

    real = source.fetch_time
    monkeypatch.setattr(source, "fetch_time", lambda scheduled_at, ingested_at: real(scheduled_at, scheduled_at))
    path = _api(tmp_path, timestamp=timestamp)
    if not refused:
        assert len(cli_parse("coinmarketcap", path, CMC_AT)) == 3
        return
    with pytest.raises(PayloadError, match=r"^coinmarketcap API body refused: its status.timestamp .* is after"):
        cli_parse("coinmarketcap", path, CMC_AT)


# ---------------------------------------------------------------------------------------------------- the routine


@pytest.mark.parametrize(
    ("text", "fmt", "value"),
    [("1,234", numbers.EN_US, 1234.0), ("1,234.5", numbers.EN_US, 1234.5), ("1.234", numbers.EN_US, 1.234),
     ("1.234", numbers.NumberFormat("a German page", ".", ","), 1234.0),
     ("1,234", numbers.NumberFormat("a German page", ".", ","), 1.234),
     ("70 517,58", numbers.NumberFormat("a French page", " \u00a0\u202f", ","), 70517.58),
     ("70’517.58", numbers.NumberFormat("a Swiss page", "'’", "."), 70517.58)],
)  # fmt: skip
def test_the_page_format_decides_what_a_separator_means(text, fmt, value):
    assert numbers.number(text, fmt) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1,23", "1 234", "1,234,5", "12,34.5", "1.234.567", "1'234"])
def test_what_the_format_cannot_place_is_refused(text):
    with pytest.raises(numbers.MalformedNumber):
        numbers.number(text, numbers.EN_US)


def test_the_clock_skew_is_minutes():
    assert timedelta(minutes=2) <= MAX_CLOCK_SKEW <= timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------------- Yahoo

YAHOO_FIRST = datetime(2024, 10, 2, 14, 0, tzinfo=UTC)
YAHOO_AT = "2024-10-02T14:10:00Z"


def _yahoo(tmp_path: Path, chart: Any, change: Any = None, first: datetime = YAHOO_FIRST) -> Path:
    body = chart("AAPL", first, [226.1, 226.2, 226.3, 226.4, 226.5, 226.6])
    quote = body["chart"]["result"][0]["indicators"]["quote"][0]
    if change is not None:
        change(quote)
    path = tmp_path / "chart_AAPL_1m.json"
    path.write_text(json.dumps(body))
    return path


def _bars(rows: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    """ts -> (status, error) of the bars but the last, which a chart saved mid-session holds still open."""
    return {r["ts"]: (r["status"], r["error"]) for r in rows[:-1]}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda q: q["close"].__setitem__(2, None),
            "bar lacks a price (open 226.2, high 226.35, low 226.15, close missing)",
        ),
        (lambda q: q["open"].__setitem__(2, 0), "bar has a price of 0 or less"),
    ],
)  # fmt: skip
def test_one_bar_with_a_missing_value_is_an_error_row_never_a_zero(tmp_path, chart, change, reason):
    rows = cli_parse("yahoo_finance", _yahoo(tmp_path, chart, change), YAHOO_AT)
    bars = _bars(rows)
    assert bars.pop("2024-10-02T14:02:00Z")[0] == "error" and reason in rows[2]["error"]
    assert rows[2]["close"] in ("", "226.3") and rows[2]["volume"] in ("", "1220")  # missing stays missing
    assert {status for status, _ in bars.values()} == {"success"} and len(bars) == 4


def test_an_all_null_bar_is_no_bar_and_its_neighbours_stay(tmp_path, chart):
    def blank(quote: dict[str, list[Any]]) -> None:
        for series in quote.values():
            series[2] = None

    rows = cli_parse("yahoo_finance", _yahoo(tmp_path, chart, blank), YAHOO_AT)
    assert "2024-10-02T14:02:00Z" not in {r["ts"] for r in rows}
    assert [r["status"] for r in rows[:-1]] == ["success"] * 4


def test_bars_dated_after_the_fetch_are_error_rows(tmp_path, chart):
    """Through a saved chart (yfinance drops bars after its now: no success row) and through the source's parse of
    a payload whose second bar lies after its fetch (an error row naming it; the first bar stays a success row)."""
    import pandas as pd

    from pipeline.sources import yahoo_finance as yahoo

    first = (datetime.now(UTC) + timedelta(days=3)).replace(hour=14, minute=0, second=0, microsecond=0)
    rows = cli_parse("yahoo_finance", _yahoo(tmp_path, chart, first=first), iso(datetime.now(UTC)))
    assert rows and {r["status"] for r in rows} == {"error"}

    fetched = datetime(2024, 10, 2, 14, 2, 10, tzinfo=UTC)
    stamps = [datetime(2024, 10, 2, 14, 1, tzinfo=UTC), datetime(2024, 10, 2, 14, 30, tzinfo=UTC)]
    bars = pd.DataFrame({"symbol": ["AAPL", "AAPL"], "ts": pd.DatetimeIndex(stamps), "open": [1.0, 1.0],
                         "high": [1.2, 1.2], "low": [0.9, 0.9], "close": [1.1, 1.1], "volume": [10, 10]})  # fmt: skip
    payload = yahoo.YahooPayload(stamps[0], stamps[1] + timedelta(minutes=1), ("AAPL",), bars, fetched_at=fetched)
    parsed = yahoo.SOURCE.parse(payload, scheduled_at=floor_minute(fetched), ingested_at=fetched)
    assert [(r["ts"], r["status"]) for r in parsed] == [("2024-10-02T14:01:00Z", "success"),
                                                         ("2024-10-02T14:30:00Z", "error")]  # fmt: skip
    assert parsed[1]["error"].startswith("bar 2024-10-02T14:30:00Z is after the fetch at 2024-10-02T14:02:10Z")


def test_yahoo_error_bodies_are_named_as_what_they_are(tmp_path):
    beyond = {"chart": {"result": None, "error": {"code": "Unprocessable Entity", "description": (
        "1m data not available for startTime=1700000000 and endTime=1700086400. Only 30 days worth of 1m "
        "granularity data are allowed to be fetched per request.")}}}  # fmt: skip
    (tmp_path / "chart_AAPL_422.json").write_text(json.dumps({"status": 422, "body": beyond}))
    (tmp_path / "chart_MSFT_429.txt").write_text("Too Many Requests\n")
    (tmp_path / "chart_IBM_429.json").write_text(json.dumps({"status": 429, "body": "Too Many Requests"}))

    (aapl,) = cli_parse("yahoo_finance", tmp_path / "chart_AAPL_422.json", YAHOO_AT)
    assert (aapl["symbol"], aapl["status"]) == ("AAPL", "error")
    assert aapl["error"].startswith("Yahoo refused the window for AAPL (HTTP 422 Unprocessable Entity): 1-minute")
    assert "Only 30 days worth of 1m granularity" in aapl["error"]
    for name, symbol in (("chart_MSFT_429.txt", "MSFT"), ("chart_IBM_429.json", "IBM")):
        (row,) = cli_parse("yahoo_finance", tmp_path / name, YAHOO_AT)
        assert (row["symbol"], row["status"], row["error"]) == (
            symbol, "error", "rate limited by Yahoo (HTTP 429 Too Many Requests)"
        )  # fmt: skip


def test_the_twin_answers_422_beyond_thirty_days_of_one_minute_history():
    from pipeline.sources.yahoo_finance import download
    from pipeline.sources.yahoo_finance.simulated import Faults, SimulatedYahoo

    now = datetime(2024, 10, 2, 15, 0, 10, tzinfo=UTC)
    twin = SimulatedYahoo(7, ("AAPL", "MSFT"), Faults(not_found=frozenset({"ZZZ"})), lambda: now)
    old = download(["AAPL"], now - timedelta(days=31), now - timedelta(days=31) + timedelta(minutes=5),
                   session=twin.session(), workers=1, clock=lambda: now)  # fmt: skip
    assert "HTTP 422 Unprocessable Entity" in old.errors["AAPL"] and twin.counts.get("422", 0) >= 1
    recent = download(["AAPL"], now - timedelta(minutes=5), now.replace(second=0), session=twin.session(),
                      workers=1, clock=lambda: now)  # fmt: skip
    assert not recent.errors and len(recent.bars) >= 4


# ---------------------------------------------------------------------------------------------------- the row models

# Values each parser reads but the row model (what the process function validates) refuses: the parser writes the
# instrument as an error row naming the field, so nothing reaches the process side to be quarantined there.
MODEL_REFUSES_COIN = [
    (lambda c: c["quote"]["USD"].update(percent_change_24h=-101), "change_24h_pct: "),
    (lambda c: c.update(symbol="ET\x01H"), "symbol: "),
    (lambda c: c.update(name="Ether\reum"), "name: "),
]


@pytest.mark.parametrize(("change", "field"), MODEL_REFUSES_COIN)
def test_a_coin_the_row_model_refuses_is_an_error_row_naming_the_field(tmp_path, change, field):
    rows = cli_parse("coinmarketcap", _api(tmp_path, change), CMC_AT)
    assert [r["status"] for r in rows] == ["success", "error", "success"]
    assert rows[1]["error"].startswith(field) and "\n" not in rows[1]["error"]


@pytest.mark.parametrize(
    "change",
    [lambda c: c["quote"]["USD"].update(percent_change_24h=-99.99),
     lambda c: c["quote"]["USD"].update(percent_change_24h=250),
     lambda c: c["quote"]["USD"].update(price=1e-8, market_cap=10),
     lambda c: c.update(symbol="ETH2", name="Ethereum 2.0 (Beacon)")],
)  # fmt: skip
def test_coins_the_row_model_takes_stay_success_rows(tmp_path, change):
    rows = cli_parse("coinmarketcap", _api(tmp_path, change), CMC_AT)
    assert [r["status"] for r in rows] == ["success"] * 3


@pytest.mark.parametrize(
    ("code", "rate", "reason"),
    [("ABCD", 0.5, "currency: not a currency code"), ("EURO", 0.5, "currency: not a currency code"),
     ("ABCDEFGH", 0.5, "currency: not a currency code"), ("XAU", 5e-324, "rate: 5e-324 is smaller than")],
)  # fmt: skip
def test_a_rate_the_row_model_refuses_is_an_error_row(tmp_path, code, rate, reason):
    rows = by(cli_parse("openexchangerates", _oxr(tmp_path, **{code: rate}), OXR_AT), "currency")
    assert rows[code]["status"] == "error" and rows[code]["error"].startswith(reason)
    assert {c: r["status"] for c, r in rows.items() if c != code} == dict.fromkeys(("EUR", "GBP", "JPY", "USD"),
                                                                                  "success")  # fmt: skip


@pytest.mark.parametrize(("code", "rate"), [("XAU", 0.0005), ("BTC", 9.4e-6), ("CLF", 0.024), ("VES", 1e6)])
def test_rates_under_other_three_letter_codes_are_success_rows(tmp_path, code, rate):
    rows = by(cli_parse("openexchangerates", _oxr(tmp_path, **{code: rate}), OXR_AT), "currency")
    assert rows[code]["status"] == "success"


def test_every_success_row_of_a_parse_validates_as_the_process_function_reads_it(tmp_path):
    """The raw CSV `pipeline parse` prints for a body holding every kind of refused value reads back whole, and
    each of its success rows is a valid row of the source's model."""
    from pipeline import registry

    def everything(c: dict[str, Any]) -> None:
        c.update(name="Ether\reum", symbol="ET\x01H")
        c["quote"]["USD"].update(percent_change_24h=-101)

    rows = cli_parse("coinmarketcap", _api(tmp_path, everything), CMC_AT)
    model = registry.get("coinmarketcap").model()
    assert len(rows) == 3
    for row in rows:
        if row["status"] == "success":
            model.model_validate(row)


@pytest.mark.parametrize("stamp", [10**15, -(10**15), 10**20, 253402300800, -62135596801])
def test_a_chart_timestamp_that_is_no_time_is_one_line_and_exit_1(tmp_path, chart, stamp):
    body = chart("AAPL", YAHOO_FIRST, [226.1, 226.2, 226.3])
    body["chart"]["result"][0]["timestamp"][1] = stamp
    path = tmp_path / "chart_AAPL_1m.json"
    path.write_text(json.dumps(body))
    with pytest.raises(PayloadError) as caught:  # what the command prints as one line, exit 1
        cli_parse("yahoo_finance", path, YAHOO_AT)
    assert (
        str(caught.value) == f"{path}: chart timestamp {stamp} is not a time (epoch seconds between years 1 and 9999)"
    )


@pytest.mark.parametrize("written", [lambda t: t, float, lambda t: t + 0.0])
def test_chart_timestamps_written_other_ways_are_read(tmp_path, chart, written):
    body = chart("AAPL", YAHOO_FIRST, [226.1, 226.2, 226.3])
    result = body["chart"]["result"][0]
    result["timestamp"] = [written(t) for t in result["timestamp"]]
    path = tmp_path / "chart_AAPL_1m.json"
    path.write_text(json.dumps(body))
    rows = cli_parse("yahoo_finance", path, YAHOO_AT)
    assert [r["ts"][11:16] for r in rows if r["status"] == "success"][:2] == ["14:00", "14:01"]


@pytest.mark.parametrize("bar", [0, 2, 4])
def test_a_bar_with_prices_and_a_null_volume_is_an_error_row_never_a_zero(tmp_path, chart, bar):
    """yfinance fills a null volume with 0; the parser reads the nulls from Yahoo's answer itself."""
    path = _yahoo(tmp_path, chart, lambda q: q["volume"].__setitem__(bar, None))
    rows = cli_parse("yahoo_finance", path, YAHOO_AT)
    ts = f"2024-10-02T14:0{bar}:00Z"
    (row,) = [r for r in rows if r["ts"] == ts]
    assert (row["status"], row["volume"]) == ("error", "") and "volume is missing" in row["error"]
    others = _bars(rows)
    others.pop(ts)
    assert {status for status, _ in others.values()} == {"success"} and len(others) == 4


@pytest.mark.parametrize("volume", [0, 1220, 1220.0, 10**12])
def test_volumes_written_other_ways_are_success_rows(tmp_path, chart, volume):
    path = _yahoo(tmp_path, chart, lambda q: q["volume"].__setitem__(2, volume))
    rows = cli_parse("yahoo_finance", path, YAHOO_AT)
    (row,) = [r for r in rows if r["ts"] == "2024-10-02T14:02:00Z"]
    assert (row["status"], row["volume"]) == ("success", str(int(volume)))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("volume", 1.5, "volume is not a whole number: 1.5"),
        ("volume", "100", "volume is not a number: '100'"),
        ("volume", True, "volume is not a number: True"),
        ("volume", 1e20, "volume is not a 64-bit integer: 1e+20"),
        ("volume", 1e30, "volume is not a 64-bit integer: 1e+30"),
        ("volume", 12345678901234567890123, "volume is not a 64-bit integer: 12345678901234567890123"),
        ("volume", {"v": 1}, "volume is not a number: {'v': 1}"),
        ("close", "abc", "close is not a number: 'abc'"),
        ("open", [226.2], "open is not a number: [226.2]"),
        ("high", "1e400", "high is not a number: '1e400'"),
        ("low", False, "low is not a number: False"),
    ],
)
def test_one_unreadable_value_in_a_chart_is_an_error_row_for_its_bar_only(tmp_path, chart, field, value, reason):
    path = _yahoo(tmp_path, chart, lambda q: q[field].__setitem__(2, value))
    rows = cli_parse("yahoo_finance", path, YAHOO_AT)
    (row,) = [r for r in rows if r["ts"] == "2024-10-02T14:02:00Z"]
    assert row["status"] == "error" and row["error"] == f"bar 14:02Z: {reason}"
    assert row[field] == ""  # the raw layer never holds a cast of what Yahoo sent
    others = _bars(rows)
    others.pop("2024-10-02T14:02:00Z")
    assert {status for status, _ in others.values()} == {"success"} and len(others) == 4


def test_every_unreadable_value_of_a_chart_costs_only_its_bar_and_no_cell_is_a_cast(tmp_path, chart):
    """The tester's chart: five unreadable volumes and infinite prices in one answer, the other bars untouched."""

    def change(quote: dict[str, list[Any]]) -> None:
        quote["volume"][:5] = [1.5, "100", True, 1e20, 12345678901234567890123]
        quote["open"][0] = quote["high"][0] = "inf"

    body = chart("AAPL", YAHOO_FIRST, [226.1, 226.2, 226.3, 226.4, 226.5, 226.6, 226.7, 226.8])
    change(body["chart"]["result"][0]["indicators"]["quote"][0])
    path = tmp_path / "chart_AAPL_1m.json"
    path.write_text(json.dumps(body))
    rows = cli_parse("yahoo_finance", path, YAHOO_AT)[:-1]  # the last bar was still open when the chart was saved
    assert [r["status"] for r in rows] == ["error"] * 5 + ["success"] * 2
    assert all(r["volume"] == "" and r["error"].startswith(f"bar {r['ts'][11:16]}Z: volume ") for r in rows[:5])
    assert "open is not a number: 'inf'; high is not a number: 'inf'" in rows[0]["error"]
    cells = {cell for r in rows for cell in r.values()}
    assert not cells & {"inf", "-inf", "nan", "-9223372036854775808", "9223372036854775807"}


@pytest.mark.parametrize("written", [["1727877600", 1727877660], [1727877600.5, 1727877660], [True, 1727877660]])
def test_chart_timestamps_that_are_not_whole_numbers_are_one_error_row_for_the_symbol(tmp_path, chart, written):
    body = chart("AAPL", YAHOO_FIRST, [226.1, 226.2, 226.3])
    body["chart"]["result"][0]["timestamp"][:2] = written
    path = tmp_path / "chart_AAPL_1m.json"
    path.write_text(json.dumps(body))
    (row,) = cli_parse("yahoo_finance", path, YAHOO_AT)
    assert (row["symbol"], row["status"], row["ts"]) == ("AAPL", "error", "")
    assert row["error"] == f"AAPL: chart timestamp is not a whole number of seconds: {written[0]!r}"


# ------------------------------------------------------------------------------------------- JSON nested too deep

DEEP = {
    "100000 open brackets": "[" * 100000,
    "3000 nested objects": '{"a":' * 3000,
    "a closed object 70 deep": '{"a":' * 70 + "1" + "}" * 70,
}


@pytest.mark.parametrize("source", ["openexchangerates", "yahoo_finance", "coinmarketcap"])
@pytest.mark.parametrize("name", list(DEEP))
def test_a_body_nested_too_deep_is_not_json_never_a_recursion_error(tmp_path, source, name):
    path = tmp_path / "deep.json"
    path.write_text(DEEP[name])
    with pytest.raises(
        PayloadError, match=r"(not JSON|not a Yahoo chart JSON file|starts like JSON but is not|no listing found)"
    ):
        cli_parse(source, path, OXR_AT)


def test_a_body_nested_too_deep_is_one_line_and_exit_1_through_the_command(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "parse", "openexchangerates", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"error: {path}: not JSON (nested deeper than 64 levels at line 1)"


@pytest.mark.parametrize("depth", [1, 10, 60])
def test_a_body_with_extra_nested_fields_is_read(tmp_path, depth):
    """Right bodies written other ways: extra fields nested as deep as real bodies (and deeper) change nothing."""
    body = json.loads((FIXTURES / "openexchangerates" / "latest_small.json").read_text())
    body["extra"] = json.loads('{"a":' * depth + "1" + "}" * depth)
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(body))
    assert {r["status"] for r in cli_parse("openexchangerates", path, OXR_AT)} == {"success"}


@responses.activate
def test_a_live_body_nested_too_deep_is_named_never_a_recursion_error(monkeypatch):
    from pipeline.settings import Settings
    from pipeline.sources import UpstreamFailure
    from pipeline.sources import openexchangerates as oxr
    from pipeline.state import MemoryState

    march = datetime(2025, 3, 1, tzinfo=UTC)
    monkeypatch.setattr(oxr.SOURCE, "clock", lambda: march)
    usage = {"requests": 0, "requests_quota": 1000, "requests_remaining": 1000, "days_elapsed": 1,
             "days_remaining": 30, "daily_average": 0}  # fmt: skip
    responses.get(oxr.USAGE_URL, json={"status": 200, "data": {"plan": {"name": "Free"}, "usage": usage}})
    responses.get(oxr.LATEST_URL, body="[" * 100000)
    with pytest.raises(UpstreamFailure, match="with a body that is not JSON"):
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id="x"), march, MemoryState())


# ------------------------------------------------------------------------- Open Exchange Rates: base and timestamp

_NO = object()  # the field is absent


def _oxr_with(tmp_path: Path, **fields: Any) -> Path:
    body = json.loads((FIXTURES / "openexchangerates" / "latest_small.json").read_text())
    for name, value in fields.items():
        if value is _NO:
            del body[name]
        else:
            body[name] = value
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"base": _NO}, "openexchangerates body has no 'base': the rates' currency is unknown"),
        ({"base": None}, "openexchangerates body: base None is not a currency code"),
        ({"base": ""}, "openexchangerates body: base '' is not a currency code"),
        ({"base": "usd"}, "openexchangerates body: base 'usd' is not a currency code"),
        ({"base": 840}, "openexchangerates body: base 840 is not a currency code"),
        ({"timestamp": 1750885200.5}, "no usable 'timestamp' (whole epoch seconds): 1750885200.5"),
        ({"timestamp": "1750885200"}, "no usable 'timestamp' (whole epoch seconds): '1750885200'"),
        ({"timestamp": None}, "no usable 'timestamp' (whole epoch seconds): None"),
        ({"timestamp": _NO}, "no usable 'timestamp' (whole epoch seconds): None"),
        ({"timestamp": True}, "no usable 'timestamp' (whole epoch seconds): True"),
        ({"timestamp": -1}, "'timestamp' -1 is not a time of rates (years 1970..2099)"),
        ({"timestamp": 10**20}, "'timestamp' 100000000000000000000 is not a time of rates"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, dict) else ",".join(f"{k}={v[k]!r:.20}" for k in v),
)
def test_a_body_without_a_readable_base_or_timestamp_is_refused_in_one_line(tmp_path, fields, reason):
    with pytest.raises(PayloadError) as caught:
        cli_parse("openexchangerates", _oxr_with(tmp_path, **fields), OXR_AT)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "base", "rate_ts"),
    [
        ({}, "USD", "2025-06-25T21:00:00Z"),
        ({"timestamp": 1750885200.0}, "USD", "2025-06-25T21:00:00Z"),  # a whole number written as a float
        ({"base": "EUR"}, "EUR", "2025-06-25T21:00:00Z"),
        ({"timestamp": 1750881600}, "USD", "2025-06-25T20:00:00Z"),
    ],
)
def test_a_base_and_timestamp_written_other_ways_are_read(tmp_path, fields, base, rate_ts):
    rows = cli_parse("openexchangerates", _oxr_with(tmp_path, **fields), OXR_AT)
    assert {(r["base"], r["rate_ts"], r["status"]) for r in rows} == {(base, rate_ts, "success")}
