"""The analyst's side, in two halves: `sinks` reads what the pipeline collected for a window from its three sinks
into pandas frames (`collect`, `load_bars`, `stock_bars`...); `frames` computes on those frames and reads nothing
(`price_panel`, `log_returns`, `rolling_volatility`, `correlation`...). `from workbench import analysis` gives both.
"""

from __future__ import annotations

from workbench.analysis.frames import (
    DEFAULT_CURRENCIES,
    MINUTES_PER_YEAR,
    STABLECOINS,
    Panel,
    Window,
    bar_returns,
    coin_candles,
    correlation,
    log_returns,
    mean_correlation,
    observations,
    price_panel,
    return_stats,
    rolling_volatility,
    stock_candles,
)
from workbench.analysis.sinks import (
    AGGREGATE_COLUMNS,
    BAR_COLUMNS,
    COIN_COLUMNS,
    MAX_SYMBOLS,
    RATE_COLUMNS,
    Collected,
    backfill_stocks,
    collect,
    collect_or_run,
    load_bars,
    load_coins,
    load_rates,
    stock_bars,
    stock_daily,
    stock_returns,
)

__all__ = [
    "AGGREGATE_COLUMNS",
    "BAR_COLUMNS",
    "COIN_COLUMNS",
    "DEFAULT_CURRENCIES",
    "MAX_SYMBOLS",
    "MINUTES_PER_YEAR",
    "RATE_COLUMNS",
    "STABLECOINS",
    "Collected",
    "Panel",
    "Window",
    "backfill_stocks",
    "bar_returns",
    "coin_candles",
    "collect",
    "collect_or_run",
    "correlation",
    "load_bars",
    "load_coins",
    "load_rates",
    "log_returns",
    "mean_correlation",
    "observations",
    "price_panel",
    "return_stats",
    "rolling_volatility",
    "stock_bars",
    "stock_candles",
    "stock_daily",
    "stock_returns",
]
