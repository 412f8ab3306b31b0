"""A bar Yahoo revises lands corrected in Snowflake: the lookback fetches it again and the MERGE keeps the later."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from pipeline import clients
from pipeline.constants import Env
from pipeline.sinks.snowflake.loader import SnowflakeSink
from pipeline.sources import simulator
from pipeline.sources.yahoo_finance.universe import universe
from workbench.local.demo import run_minutes

pytestmark = [pytest.mark.stack, pytest.mark.slow]

START = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 New York
SYMBOLS = universe(3)


@pytest.fixture
def revising_yahoo(clean_stack):
    """Every bar first served revised (other close and volume), corrected a minute after it closes."""
    saved = dict(os.environ)
    os.environ.update(
        {
            Env.UNIVERSE_LIMIT: "3",
            Env.YAHOO_ROTATION_MINUTES: "1",
            Env.YAHOO_LOOKBACK_MINUTES: "3",
            Env.YAHOO_TWIN_REVISE_RATE: "1.0",
            Env.SEED: "42",
        }
    )
    try:
        yield clean_stack
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clients.reset()


def test_a_revised_bar_is_read_back_from_snowflake_with_its_corrected_values(revising_yahoo):
    stack = revising_yahoo
    run_minutes(stack, 3, START, sources=["yahoo_finance"], progress=False)

    bar = START  # fetched revised at 10:01:10 New York, corrected at 10:02:10
    day = simulator.stock_day(42, SYMBOLS, bar.astimezone(simulator.NEW_YORK).date())
    assert day is not None
    m = int((bar - day.session_open).total_seconds() // 60)
    truth = {s: (float(day.close[i, m]), int(day.volume[i, m])) for i, s in enumerate(SYMBOLS)}

    sink = SnowflakeSink.from_settings(stack.settings())
    try:
        with sink.session() as cursor:
            cursor.execute(
                f"SELECT SYMBOL, CLOSE, VOLUME, RAW_KEY FROM {sink.table} WHERE TS = ? ORDER BY SYMBOL",
                [bar.replace(tzinfo=None)],
            )
            stored = {symbol: (float(close), int(volume), key) for symbol, close, volume, key in cursor.fetchall()}
    finally:
        sink.close()
    assert set(stored) == set(SYMBOLS)  # one row per (symbol, ts), however many times it was fetched
    for symbol, (close, volume, key) in stored.items():
        assert (close, volume) == truth[symbol]
        assert key == "raw/yahoo_finance/2026/11/04/1502.csv"  # the later raw object won
