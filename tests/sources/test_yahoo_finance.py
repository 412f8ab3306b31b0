"""yahoo_finance: yfinance's own parsing on recorded chart bodies (replay session), the twin, the universe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import registry
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, PayloadError, get_source, parse_file, simulator
from pipeline.sources import yahoo_finance as yahoo
from pipeline.sources.yahoo_finance.replay import Recorded, ReplaySession
from pipeline.sources.yahoo_finance.universe import sp500, universe

FIXTURES = Path(__file__).parent / "fixtures" / "yahoo"
# Wednesday 2024-10-02, 10:00 New York = 14:00 UTC.
T0 = datetime(2024, 10, 2, 14, 0, tzinfo=UTC)
SCHEDULED = T0 + timedelta(minutes=5)


def _rows(payload: yahoo.YahooPayload) -> list[dict[str, str]]:
    """Raw rows as a sink reads them back from the raw CSV, ingested as the minute after the payload's window."""
    end = payload.end
    rows = yahoo.SOURCE.parse(payload, scheduled_at=end, ingested_at=end + timedelta(seconds=4))
    return csv_to_rows("yahoo_finance", rows_to_csv("yahoo_finance", rows))


def test_yfinance_parses_recorded_charts_into_contract_rows_with_utc_bar_starts(chart):
    # GIVEN recorded 1-minute charts for 14:00-14:09 UTC: MSFT has an all-null bar at 14:03; GONE is delisted
    session = ReplaySession(
        {
            "AAPL": Recorded(chart("AAPL", T0, [226.1 + i / 10 for i in range(10)])),
            "MSFT": Recorded(chart("MSFT", T0, [417.0, 417.2, 417.1, None, 417.4, 417.3, 417.6, 417.5, 417.7, 417.9])),
        }
    )
    # WHEN the live path asks for the bars starting in [14:00, 14:05)
    payload = yahoo.download(["AAPL", "MSFT", "GONE"], T0, SCHEDULED, session=session)
    rows = _rows(payload)

    # THEN one row per (symbol, bar) inside the window, the null bar left out, one error row for GONE
    assert list(rows[0]) == list(registry.get("yahoo_finance").raw_columns)
    good = [(r["symbol"], r["ts"]) for r in rows if r["status"] == "success"]
    assert good == [("AAPL", f"2024-10-02T14:0{m}:00Z") for m in range(5)] + [
        ("MSFT", f"2024-10-02T14:0{m}:00Z") for m in (0, 1, 2, 4)
    ]
    first = next(r for r in rows if r["symbol"] == "MSFT")
    assert (float(first["open"]), float(first["close"]), int(first["volume"])) == (417.0, 417.0, 1200)
    errors = [r for r in rows if r["status"] == "error"]
    assert [(r["symbol"], r["ts"]) for r in errors] == [("GONE", "")]
    assert errors[0]["error"].startswith("Yahoo has no data for GONE") and "possibly delisted" in errors[0]["error"]
    assert all(r["error"] == "" for r in rows if r["status"] == "success")
    assert {r["scheduled_at"] for r in rows} == {"2024-10-02T14:05:00Z"}
    # AND only the minutes needed were asked for, never a whole day
    (request,) = [p for p in session.chart_requests("AAPL") if "period1" in p]
    assert (int(request["period1"][0]), int(request["period2"][0])) == (int(T0.timestamp()), int(SCHEDULED.timestamp()))
    assert request["interval"] == ["1m"]


def test_a_symbol_with_no_bar_in_the_window_gets_an_error_row(chart):
    # GIVEN a chart whose only bars are before the window
    session = ReplaySession({"AAPL": Recorded(chart("AAPL", T0 - timedelta(minutes=30), [226.0, 226.1]))})
    rows = _rows(yahoo.download(["AAPL"], T0, SCHEDULED, session=session))
    assert [(r["symbol"], r["status"]) for r in rows] == [("AAPL", "error")]
    assert rows[0]["error"]


def test_a_rate_limited_symbol_is_one_error_row_and_costs_no_retry_loop(chart):
    body = chart("AAPL", T0, [226.0, 226.2, 226.1, 226.3, 226.4])
    too_many = Recorded("Too Many Requests", 429)
    # GIVEN AAPL answers, and MSFT answers 429 (the circuit breaker, not a retry loop, deals with rate limits)
    session = ReplaySession({"AAPL": Recorded(body), "MSFT": too_many})
    rows = _rows(yahoo.download(["AAPL", "MSFT"], T0, SCHEDULED, session=session, workers=1))
    assert [r["symbol"] for r in rows if r["status"] == "success"] == ["AAPL"] * 5
    (msft,) = [r for r in rows if r["symbol"] == "MSFT"]
    assert msft["status"] == "error" and "rate limited" in msft["error"] and "429" in msft["error"]
    # yfinance itself tries a 4xx once more with its other cookie strategy; nothing beyond that
    assert len([p for p in session.chart_requests("MSFT") if "period1" in p]) == 2


def test_parse_file_runs_a_saved_chart_through_yfinance():
    # GIVEN a small chart JSON (built by tests/sources/fixtures/yahoo/build.py) with a null bar at 14:32 UTC
    path = FIXTURES / "chart_MSFT_1m_2024-10-02.json"
    body = json.loads(path.read_text())
    stamps = body["chart"]["result"][0]["timestamp"]
    rows = parse_file("yahoo_finance", path)  # as of the minute after its last bar
    # saved mid-session (its last trade is in its last bar): that last minute had not closed
    assert [r["status"] for r in rows] == ["success"] * (len(stamps) - 2) + ["error"]
    assert "had not closed" in rows[-1]["error"]
    assert "2024-10-02T14:32:00Z" not in {r["ts"] for r in rows}
    assert rows[0]["ts"] == "2024-10-02T14:30:00Z" and rows[0]["symbol"] == "MSFT"


def test_parse_file_on_a_404_body_gives_one_error_row(tmp_path):
    path = tmp_path / "chart_ZZZQ_404.json"
    path.write_text(json.dumps({"status": 404, "body": {"chart": {"result": None, "error": {
        "code": "Not Found", "description": "No data found, symbol may be delisted"}}}}))  # fmt: skip
    (row,) = parse_file("yahoo_finance", path)
    assert (row["symbol"], row["status"]) == ("ZZZQ", "error")
    assert "possibly delisted" in row["error"]


def test_parse_file_on_something_else_is_one_line(tmp_path):
    path = tmp_path / "page.json"
    path.write_text('{"quoteResponse": {}}')
    with pytest.raises(PayloadError) as caught:
        parse_file("yahoo_finance", path)
    assert str(caught.value) == f"{path}: not a Yahoo chart JSON body (no 'chart' object at the top)"


# ---------------------------------------------------------------------------------------------------- the twin

# the twin itself: every symbol every minute, one bar back (the request budget has its own tests)
ONE = {"yahoo_rotation_minutes": 1, "yahoo_lookback_minutes": 1, "yahoo_requests_per_minute": 1000}
SIM = Settings(mode="simulated", seed=7, universe_limit=None, **ONE)


def _clear_market_caches() -> None:
    for cached in (simulator.stock_day, simulator._day_levels, simulator._year_levels, simulator.stock_walk):
        cached.cache_clear()


def test_simulated_minute_is_the_same_whatever_was_asked_before():
    at = datetime(2025, 3, 4, 15, 31, tzinfo=UTC)
    _clear_market_caches()
    fresh = yahoo.SOURCE.fetch(SIM, at).bars
    # other minutes, another day and another universe asked in between
    for minutes in (-60, 3, 60 * 24):
        yahoo.SOURCE.fetch(SIM, at + timedelta(minutes=minutes))
    yahoo.SOURCE.fetch(Settings(mode="simulated", seed=7, universe_limit=5, **ONE), at)
    again = yahoo.SOURCE.fetch(SIM, at).bars
    pd.testing.assert_frame_equal(fresh, again)
    assert len(fresh) == 503 and fresh["ts"].iloc[0] == pd.Timestamp("2025-03-04T15:30:00Z")
    # the first N symbols of a limited universe see the same prices; another seed sees others
    limited = yahoo.SOURCE.fetch(Settings(mode="simulated", seed=7, universe_limit=5, **ONE), at).bars
    pd.testing.assert_frame_equal(limited, fresh.iloc[:5])
    other = yahoo.SOURCE.fetch(Settings(mode="simulated", seed=8, **ONE), at).bars
    assert not np.allclose(other["close"], fresh["close"])


def test_simulated_rows_are_contract_rows_for_the_whole_universe():
    rows = _rows(yahoo.SOURCE.fetch(SIM, datetime(2025, 3, 4, 20, 0, tzinfo=UTC)))  # 15:00 New York
    assert len(rows) == 503 and {r["status"] for r in rows} == {"success"}
    assert {r["ts"] for r in rows} == {"2025-03-04T19:59:00Z"}
    assert {"BRK-B", "BF-B"} <= {r["symbol"] for r in rows}


def test_simulated_day_looks_like_a_trading_day():
    bars = simulator.stock_day(7, universe(50), datetime(2025, 3, 5).date())
    assert bars is not None and bars.close.shape == (50, 390)
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.volume > 0).all() and (bars.close > 0).all()
    returns = np.diff(np.log(bars.close), axis=1)
    assert 0.0003 < returns.std() < 0.003  # a few basis points a minute
    # the open and the close are busier than lunchtime
    assert bars.volume[:, :15].mean() > 2 * bars.volume[:, 180:195].mean()


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 8, 16, 0, tzinfo=UTC),  # a Saturday
        datetime(2025, 3, 4, 13, 30, tzinfo=UTC),  # 08:30 New York: the first bar starts at 09:30
        datetime(2025, 3, 4, 21, 1, tzinfo=UTC),  # 16:01 New York: the last bar started at 15:59
    ],
)
def test_no_bars_outside_the_regular_session(at):
    with pytest.raises(NothingToIngest, match="closed"):
        yahoo.SOURCE.fetch(SIM, at)


def test_the_session_edges_have_their_bars():
    two = SIM.model_copy(update={"universe_limit": 2})
    assert _rows(yahoo.SOURCE.fetch(two, datetime(2025, 3, 4, 14, 31, tzinfo=UTC)))[0]["ts"] == "2025-03-04T14:30:00Z"
    assert _rows(yahoo.SOURCE.fetch(two, datetime(2025, 3, 4, 21, 0, tzinfo=UTC)))[0]["ts"] == "2025-03-04T20:59:00Z"


def test_lookback_asks_for_several_bars():
    five = SIM.model_copy(update={"universe_limit": 3, "yahoo_lookback_minutes": 5})
    payload = yahoo.SOURCE.fetch(five, datetime(2025, 3, 4, 15, 0, tzinfo=UTC))
    assert len(_rows(payload)) == 15
    assert payload.start == datetime(2025, 3, 4, 14, 55, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------- universe


def test_universe_is_the_sp500_in_yahoo_spelling():
    listings = sp500()
    assert len(listings) == 503
    symbols = [listing.symbol for listing in listings]
    assert len(set(symbols)) == 503 and not any("." in s for s in symbols)
    assert {"BRK-B", "BF-B", "AAPL"} <= set(symbols)
    assert universe(3) == tuple(symbols[:3])
    assert get_source("yahoo_finance") is yahoo.SOURCE
