"""The checkers of chapter 08 (analysis with pandas)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise


def _frame(answer: Any, what: str) -> Any:
    import pandas as pd

    if not isinstance(answer, pd.DataFrame):
        raise NotYet(f"the answer should be a pandas DataFrame ({what}), not a {type(answer).__name__}.")
    return answer


@exercise("08.log_returns", "one-minute log returns of the price panel, by hand")
def _log_returns(answer: Any, *, prices: Any, **_: Any) -> str:
    import numpy as np
    import pandas as pd

    returns = _frame(answer, "one column per instrument, one row per minute after the first")
    expected = np.log(prices / prices.shift(1)).iloc[1:]
    if returns.shape != expected.shape:
        if len(returns) == len(prices):
            raise NotYet("the first minute has no return (no price before it): drop it.")
        raise NotYet(f"expected {expected.shape[0]} minutes x {expected.shape[1]} instruments, got {returns.shape}.")
    simple = (prices / prices.shift(1) - 1).iloc[1:]
    close = np.isclose(returns.to_numpy(float), expected.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)
    if not close.all():
        if np.isclose(returns.to_numpy(float), simple.to_numpy(float), equal_nan=True).all():
            raise NotYet("those are simple returns p_t / p_(t-1) - 1: take the logarithm of the ratio instead.")
        raise NotYet("some returns differ from ln(p_t / p_(t-1)): check the order of the division.")
    pd.testing.assert_index_equal(returns.index, expected.index)
    return "ln(p_t / p_(t-1)) per minute; they add up: the sum is the log return of the whole window."


@exercise("08.resample", "5-minute OHLCV candles of one stock's 1-minute bars, by hand")
def _resample(answer: Any, *, bars: Any, symbol: str, **_: Any) -> str:
    import numpy as np

    candles = _frame(answer, "indexed by the 5-minute period's start, columns open, high, low, close, volume")
    one = bars[bars["symbol"] == symbol].set_index("ts").sort_index()
    expected = (
        one.resample("5min")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
    )
    columns = [c.lower() for c in candles.columns]
    if sorted(columns) != sorted(expected.columns):
        given = ", ".join(map(str, candles.columns))
        raise NotYet(f"the columns should be {', '.join(expected.columns)}, not {given}.")
    candles = candles.set_axis(columns, axis=1)[list(expected.columns)]
    if len(candles) != len(expected):
        raise NotYet(f"{len(expected)} five-minute periods hold bars of {symbol}, your answer has {len(candles)}.")
    for column, rule in (("open", "first"), ("high", "max"), ("low", "min"), ("close", "last"), ("volume", "sum")):
        if not np.allclose(candles[column].to_numpy(float), expected[column].to_numpy(float)):
            raise NotYet(f"a 5-minute {column} is the {rule} of its 1-minute {column}s.")
    return "open first, high max, low min, close last, volume summed: how every bar API builds longer bars."


@exercise("08.annualise", "annualise a one-minute standard deviation of 2 bp for a stock and for a coin (in %)")
def _annualise(answer: Any, **_: Any) -> str:
    import math

    from workbench.analysis import MINUTES_PER_YEAR

    expected = {kind: 100 * 2e-4 * math.sqrt(MINUTES_PER_YEAR[kind]) for kind in ("stock", "crypto")}
    if not isinstance(answer, dict) or set(answer) != set(expected):
        raise NotYet('the answer should be a dict {"stock": %, "crypto": %}.')
    for kind, value in expected.items():
        if not isinstance(answer[kind], int | float) or abs(answer[kind] - value) > 0.05:
            raise NotYet(
                f"for {kind}, multiply 2 bp by the square root of its trading minutes a year "
                f"({MINUTES_PER_YEAR[kind]:,}), then express it in %."
            )
    ratio = expected["crypto"] / expected["stock"]
    stock, crypto = expected["stock"], expected["crypto"]
    return f"stock {stock:.1f} %, crypto {crypto:.1f} %: the same minute, {ratio:.2f}x the year."
