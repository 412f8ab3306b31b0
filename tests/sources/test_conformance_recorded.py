"""The parsers against payloads recorded from the real services (../shared/fixtures; skipped when absent)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from pipeline import registry
from pipeline.sources import PayloadError, parse_file
from pipeline.sources.yahoo_finance.universe import sp500, yahoo_symbol


def test_recorded_aapl_chart_through_yfinance(shared):
    path = shared / "yahoo" / "chart_AAPL_1m_2024-10-02.json"
    result = json.loads(path.read_text())["chart"]["result"][0]
    session = result["meta"]["tradingPeriods"][1][0]  # 2024-10-02
    quote = result["indicators"]["quote"][0]
    expected = [
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, t in enumerate(result["timestamp"])
        if session["start"] <= t < session["end"] and quote["close"][i] is not None
    ]
    rows = parse_file("yahoo_finance", path)
    assert all(set(registry.get("yahoo_finance").raw_columns) <= set(r) for r in rows)
    assert {r["status"] for r in rows} == {"success"} and {r["symbol"] for r in rows} == {"AAPL"}
    # every bar of the session but the all-null one (bar 105), and not the next day's stray bar
    assert [r["ts"] for r in rows] == expected
    null_bar = datetime.fromtimestamp(result["timestamp"][105], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert null_bar not in {r["ts"] for r in rows}
    assert rows[0]["ts"] == "2024-10-02T13:30:00Z" and rows[-1]["ts"] == "2024-10-02T19:59:00Z"
    assert all(r["low"] <= min(r["open"], r["close"]) and r["high"] >= max(r["open"], r["close"]) for r in rows)


def test_recorded_404_is_one_error_row(shared):
    (row,) = parse_file("yahoo_finance", shared / "yahoo" / "chart_SIX_404_delisted.json")
    assert (row["symbol"], row["status"]) == ("SIX", "error")
    assert "possibly delisted" in row["error"]


def test_recorded_oxr_latest_and_error(shared):
    rows = parse_file("openexchangerates", shared / "openexchangerates" / "latest_2025-06-25.json")
    assert len(rows) == 169 and {r["rate_ts"] for r in rows} == {"2025-06-25T21:00:00Z"}
    eur = next(r for r in rows if r["currency"] == "EUR")
    assert eur["base"] == "USD" and eur["rate"] == pytest.approx(0.857649)
    with pytest.raises(PayloadError, match=r"not_allowed \(HTTP 403\)"):
        parse_file("openexchangerates", shared / "openexchangerates" / "error_403_not_allowed.json")


def test_recorded_cmc_api_listing(shared):
    path = shared / "coinmarketcap" / "api_listings_latest_2020-06-30.json"
    rows = parse_file("coinmarketcap", path)
    # the recorded body lists ten coins by volume, not by rank: the rows come in rank order
    assert [r["rank"] for r in rows] == sorted(c["cmc_rank"] for c in json.loads(path.read_text())["data"])
    btc = rows[0]
    assert (btc["symbol"], btc["price_usd"]) == ("BTC", pytest.approx(9188.66, abs=0.01))


def test_shipped_universe_matches_the_reference_constituents(shared):
    with (shared / "reference" / "sp500_constituents_2026-08.csv").open(encoding="utf-8") as f:
        reference = [(yahoo_symbol(r["Symbol"]), r["GICS Sector"]) for r in csv.DictReader(f)]
    assert [(listing.symbol, listing.sector) for listing in sp500()] == reference
