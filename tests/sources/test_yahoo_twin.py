"""The simulated Yahoo fails like Yahoo, on demand, through the replay session yfinance's own code runs on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.settings import Settings
from pipeline.sources import simulator
from pipeline.sources import yahoo_finance as yahoo
from pipeline.sources.yahoo_finance.simulated import Faults, SimulatedYahoo
from pipeline.sources.yahoo_finance.universe import universe

T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
SYMBOLS = universe(4)
BAR = T0 - timedelta(minutes=1)  # the bar of 09:59 New York


def _truth(symbol: str, bar: datetime) -> tuple[float, ...]:
    day = simulator.stock_day(7, SYMBOLS, bar.astimezone(simulator.NEW_YORK).date())
    assert day is not None
    m = int((bar - day.session_open).total_seconds() // 60)
    i = SYMBOLS.index(symbol)
    return tuple(float(getattr(day, c)[i, m]) for c in ("open", "high", "low", "close"))


def _bars(faults: Faults, now: datetime, start: datetime = BAR, end: datetime = T0) -> list[dict]:
    twin = SimulatedYahoo(7, SYMBOLS, faults, lambda: now)
    payload = yahoo.download(SYMBOLS, start, end, session=twin.session(), clock=lambda: now)
    return yahoo.parse_payload(payload, scheduled_at=end, ingested_at=now)


def test_the_clean_twin_serves_the_simulated_market_and_is_the_default():
    assert not yahoo.twin_faults(Settings()).any  # the demo stays clean
    rows = _bars(Faults(), T0 + timedelta(seconds=10))
    assert [r["status"] for r in rows] == ["success"] * 4
    assert tuple(rows[0][c] for c in ("open", "high", "low", "close")) == _truth(SYMBOLS[0], BAR)


def test_a_late_bar_appears_a_minute_after_it_closes():
    early = _bars(Faults(late=1.0), T0 + timedelta(seconds=10))
    assert {r["ts"] for r in early} == {""}  # no bar yet: one "no bar" error row a symbol
    later = _bars(Faults(late=1.0), T0 + timedelta(minutes=1, seconds=10))
    assert [r["status"] for r in later] == ["success"] * 4


def test_a_revised_bar_is_served_first_with_other_values_then_corrected():
    first = _bars(Faults(revise=1.0), T0 + timedelta(seconds=10))
    later = _bars(Faults(revise=1.0), T0 + timedelta(minutes=1, seconds=10))
    assert all(r["status"] == "success" for r in first + later)
    assert [r["close"] for r in first] != [r["close"] for r in later]
    assert tuple(later[0][c] for c in ("open", "high", "low", "close")) == _truth(SYMBOLS[0], BAR)


def test_bad_bars_are_error_rows_until_yahoo_corrects_them():
    first = _bars(Faults(bad=1.0), T0 + timedelta(seconds=10))
    assert {r["status"] for r in first} == {"error"}
    assert all(("price of 0" in r["error"]) or ("inconsistent" in r["error"]) for r in first)
    later = _bars(Faults(bad=1.0), T0 + timedelta(minutes=1, seconds=10))
    assert {r["status"] for r in later} == {"success"}


def test_the_live_tail_off_the_minute_is_never_a_success_row():
    now = T0 + timedelta(seconds=47)
    # a window that reaches the live minute (a run asking up to the next minute)
    rows = _bars(Faults(live_tail=1.0), now, end=T0 + timedelta(minutes=1))
    tails = [r for r in rows if r["ts"] == "2025-03-04T15:00:47Z"]
    assert len(tails) == 4 and {r["status"] for r in tails} == {"error"}
    assert "not on a minute boundary" in tails[0]["error"]
    assert [r["ts"] for r in rows if r["status"] == "success"] == ["2025-03-04T14:59:00Z"] * 4


def test_429_past_r_requests_a_minute_and_404_for_delisted_symbols():
    now = T0 + timedelta(seconds=10)
    twin = SimulatedYahoo(7, SYMBOLS, Faults(rate_limit=2, not_found=frozenset({SYMBOLS[0]})), lambda: now)
    session = twin.session()
    url = "https://query2.finance.yahoo.com/v8/finance/chart/{}?period1={}&period2={}&interval=1m"
    p1, p2 = int(BAR.timestamp()), int(T0.timestamp())
    codes = [session.get(url.format(s, p1, p2)).status_code for s in (SYMBOLS[0], SYMBOLS[1], SYMBOLS[2])]
    assert codes == [404, 200, 429]
    now = T0 + timedelta(minutes=1, seconds=10)  # a new minute: the count starts again
    assert session.get(url.format(SYMBOLS[1], p1, p2)).status_code == 200


def test_fault_rates_are_settings(monkeypatch):
    monkeypatch.setenv("PIPELINE_YAHOO_TWIN_REVISE_RATE", "0.5")
    monkeypatch.setenv("PIPELINE_YAHOO_TWIN_NOT_FOUND", "aapl, MSFT")
    monkeypatch.setenv("PIPELINE_YAHOO_TWIN_RATE_LIMIT", "90")
    faults = yahoo.twin_faults(Settings())
    assert (faults.revise, faults.not_found, faults.rate_limit) == (0.5, {"AAPL", "MSFT"}, 90)
