"""What the analysis asks Snowflake for on long windows (bars of any length up to a day, daily aggregates with
VWAP, returns of chosen symbols), run on the fakesnow stand-in against a pandas reference on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.schemas import Bar
from tests.sinks.harness import SnowflakeHarness
from workbench import analysis

DAY = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "BRK-B", "MSFT")


def bars() -> list[Bar]:
    """Three symbols, two sessions of 40 one-minute bars, prices and volumes that differ bar to bar."""
    rng = np.random.default_rng(7)
    out = []
    for day in range(2):
        for s, symbol in enumerate(SYMBOLS):
            price = 100.0 * (s + 1)
            for m in range(40):
                ts = DAY + timedelta(days=day, minutes=m)
                o = round(price, 4)
                c = round(price * float(np.exp(rng.normal(0, 0.002))), 4)
                h, lo = round(max(o, c) + 0.05, 4), round(min(o, c) - 0.05, 4)
                out.append(
                    Bar(symbol=symbol, ts=ts, open=o, high=h, low=lo, close=c, volume=int(rng.integers(1, 5000)))
                )
                price = c
    return out


@pytest.fixture(scope="module")
def loaded(fakesnow_server, tmp_path_factory) -> tuple[SnowflakeHarness, pd.DataFrame]:
    harness = SnowflakeHarness(fakesnow_server, Path(tmp_path_factory.mktemp("aggregates")))
    rows = bars()
    harness.sink.load(rows, "raw/yahoo_finance/2026/11/03/1511.csv")
    frame = pd.DataFrame([r.model_dump() for r in rows])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return harness, frame


def reference(frame: pd.DataFrame, every: str, symbols=SYMBOLS) -> pd.DataFrame:
    """The same aggregates in pandas: bars by start, first open, max high, min low, last close, VWAP."""
    one = frame[frame["symbol"].isin(symbols)].sort_values("ts").copy()
    one["start"] = one["ts"].dt.floor(every)
    one["pv"] = (one["high"] + one["low"] + one["close"]) / 3 * one["volume"]
    grouped = one.groupby(["symbol", "start"])
    out = grouped.agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"), pv=("pv", "sum"), bars=("ts", "count"),
    ).reset_index()  # fmt: skip
    out["vwap"] = out["pv"] / out["volume"]
    return out[analysis.AGGREGATE_COLUMNS]


WINDOW = (DAY - timedelta(hours=1), DAY + timedelta(days=1, hours=1))


@pytest.mark.parametrize("every", ["1D", "15min", "1min", "1h"])
def test_the_bars_snowflake_computes_are_the_pandas_bars_of_the_same_rows(loaded, every):
    harness, frame = loaded

    got = analysis.stock_bars(harness.settings, *WINDOW, every=every)

    expected = reference(frame, every)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False, rtol=1e-9)


def test_daily_aggregates_of_chosen_symbols_and_their_returns(loaded):
    harness, frame = loaded

    daily = analysis.stock_daily(harness.settings, *WINDOW, symbols=["MSFT", "AAPL"])
    returns = analysis.stock_returns(harness.settings, *WINDOW, symbols=["MSFT", "AAPL"])

    expected = reference(frame, "1D", ("AAPL", "MSFT"))
    pd.testing.assert_frame_equal(daily.reset_index(drop=True), expected, check_dtype=False, rtol=1e-9)
    closes = expected.pivot(index="start", columns="symbol", values="close")
    pd.testing.assert_frame_equal(returns, np.log(closes).diff().iloc[1:], check_names=False, rtol=1e-9)
    assert list(returns.columns) == ["AAPL", "MSFT"] and len(returns) == 1


@pytest.mark.parametrize(
    ("every", "symbols"),
    [
        ("1D", ["AAPL", "MSFT"]),
        (1440, ["aapl", " msft "]),  # minutes as an int, symbols in lower case and padded
        (timedelta(days=1), ["MSFT", "AAPL", "AAPL"]),  # a timedelta, a symbol twice
        ("24h", ("AAPL", "MSFT")),
    ],
)
def test_a_bar_length_and_symbols_written_other_ways_give_the_same_bars(loaded, every, symbols):
    harness, frame = loaded
    got = analysis.stock_bars(harness.settings, *WINDOW, every=every, symbols=symbols)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), reference(frame, "1D", ("AAPL", "MSFT")), rtol=1e-9,
                                  check_dtype=False)  # fmt: skip


@pytest.mark.parametrize(
    ("every", "symbols", "message"),
    [
        ("0min", None, "bar length '0min': whole minutes from 1 to 1440"),
        ("90s", None, "bar length '90s': whole minutes from 1 to 1440"),
        ("2D", None, "bar length '2D': whole minutes from 1 to 1440"),
        ("banana", None, "not a bar length: 'banana'"),
        ("1D", ["AAPL'); DROP TABLE BARS;--"], 'not a stock symbol: "AAPL\'); DROP TABLE BARS;--"'),
        ("1D", [""], "not a stock symbol: ''"),
        ("1D", ["A" * 13], "not a stock symbol: 'AAAAAAAAAAAAA'"),
    ],
)
def test_a_bad_bar_length_or_symbol_is_one_line_before_any_query(loaded, every, symbols, message):
    harness, _ = loaded
    with pytest.raises(ValueError) as caught:
        analysis.stock_bars(harness.settings, *WINDOW, every=every, symbols=symbols)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_returns_need_symbols(loaded):
    harness, _ = loaded
    with pytest.raises(ValueError, match="no symbols"):
        analysis.stock_returns(harness.settings, *WINDOW, symbols=[])
