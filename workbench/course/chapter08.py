"""The checkers of chapter 08 (analysis with pandas): the learner's frames against the ones pandas computes from
the same sink frames, every "not yet" naming the mistake (the period's closed side and label, the unit, the gap)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from workbench.course.exercises import NotYet, exercise

OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def _frame(answer: Any, like: Any, what: str) -> Any:
    """A DataFrame of the answer: a DataFrame, a Series for a one-column `like`, or a 2-D array of `like`'s columns
    (its last rows' minutes)."""
    import numpy as np
    import pandas as pd

    if isinstance(answer, pd.Series) and like.shape[1] == 1:
        return answer.to_frame(like.columns[0])
    if isinstance(answer, np.ndarray) and answer.ndim == 2 and answer.shape[1] == like.shape[1]:
        return pd.DataFrame(answer, index=like.index[len(like) - len(answer) :], columns=like.columns)
    if not isinstance(answer, pd.DataFrame):
        raise NotYet(f"pandas gives a table here ({what}); a {type(answer).__name__} holds something else.")
    return answer


def _same_values(a: Any, b: Any) -> bool:
    import numpy as np

    if a.shape != b.shape:
        return False
    single = np.asarray(a).dtype == np.float32  # float32 holds 7 digits
    rtol, atol = (1e-6, 1e-9) if single else (1e-9, 1e-12)
    return bool(np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=rtol, atol=atol, equal_nan=True).all())


# ----- 08.log_returns ------------------------------------------------------------------------------------------
@exercise("08.log_returns", "one-minute log returns of the price panel, by hand")
def _log_returns(answer: Any, *, prices: Any, **_: Any) -> str:
    import numpy as np

    returns = _frame(answer, prices, "one column per instrument, one row per minute after the first")
    expected = np.log(prices / prices.shift(1)).iloc[1:]
    if set(returns.columns) != set(prices.columns):
        odd = sorted(set(map(str, returns.columns)) ^ set(map(str, prices.columns)))
        raise NotYet(f"one column per instrument of the panel, as in panel.prices: {odd[0]} is missing or extra.")
    returns = _in_time_order(returns[list(prices.columns)], prices)
    if not isinstance(returns.index, type(prices.index)):
        raise NotYet(
            "your rows are numbered, so the minutes are lost: each return belongs to the minute it ends, keep the "
            "panel's index (no reset_index(drop=True)) so that a return can be lined up with its time."
        )
    _minutes_mistake(returns, prices)
    if len(returns) == len(prices):
        if not returns.iloc[0].isna().all():
            raise NotYet("the first minute has no return, there is no price before it: drop it (or leave it NaN).")
        returns = returns.iloc[1:]
    if len(returns) == len(expected) and returns.index.equals(prices.index[:-1]):
        raise NotYet(
            "each return belongs to the minute it ends, ln(p_t / p_(t-1)): shift(1) looks back one minute, "
            "shift(-1) looks ahead."
        )
    if len(returns) != len(expected):
        raise NotYet(f"one row per minute after the first: {len(expected)} rows, yours has {len(returns)}.")
    if not _same_values(returns, expected):
        raise NotYet(_returns_mistake(returns, expected, prices))
    return "ln(p_t / p_(t-1)) per minute; they add up: the sum is the log return of the whole window."


def _in_time_order(returns: Any, prices: Any) -> Any:
    """The answer's rows by minute, oldest first (a frame sorted newest first holds the same returns), a PeriodIndex
    of minutes read as their start times in the panel's time zone."""
    import pandas as pd

    if isinstance(returns.index, pd.PeriodIndex) and isinstance(prices.index, pd.DatetimeIndex):
        index = returns.index.to_timestamp()
        returns = returns.set_axis(index.tz_localize(prices.index.tz) if index.tz is None else index)
    if isinstance(returns.index, pd.DatetimeIndex) and not returns.index.is_monotonic_increasing:
        returns = returns.sort_index()
    return returns


def _minutes_mistake(returns: Any, prices: Any) -> None:
    """NotYet for rows at minutes the panel does not have: what a shift of the index (freq=) leaves."""
    import pandas as pd

    if not isinstance(returns.index, pd.DatetimeIndex) or not isinstance(prices.index, pd.DatetimeIndex):
        return
    index = returns.index if returns.index.tz is not None else returns.index.tz_localize(prices.index.tz)
    extra = index.difference(prices.index)
    if len(extra):
        raise NotYet(
            f"your frame has a row at {extra[0]:%H:%M}, a minute the panel does not have: shift(freq=...) moves the "
            "index, not the values, so the division lines the two up on every minute either has, one beyond the "
            "panel's; shift(1) moves the values one row down and keeps the panel's minutes."
        )


def _returns_mistake(returns: Any, expected: Any, prices: Any) -> str:
    import numpy as np

    if _same_values(returns, (prices / prices.shift(1) - 1).iloc[1:]):
        return "those are simple returns p_t / p_(t-1) - 1: take the logarithm of the ratio instead."
    if _same_values(returns, -expected):
        return "the order of the division: ln(p_t / p_(t-1)), the later price on top."
    for scale, unit in ((100, "percent"), (1e4, "basis points")):
        if _same_values(returns, expected * scale):
            return f"those are in {unit}: a return is a plain ratio's logarithm (0.001, not {0.001 * scale:g})."
    gap = expected.isna().to_numpy() & ~returns.isna().to_numpy()
    if gap.any():
        if np.nan_to_num(returns.to_numpy(float)[gap]).any():
            return (
                "a minute without a price has no return: filling the gap first (ffill) invents a price that was "
                "never quoted."
            )
        return "a minute without a price on either side has no return (NaN), not 0: a 0 says the price did not move."
    return "some returns differ from ln(p_t / p_(t-1)): compute each from the price of its minute and the one before."


# ----- 08.resample -----------------------------------------------------------------------------------------------
def _candles(one: Any, **how: Any) -> Any:
    return one.resample("5min", **how).agg(OHLCV).dropna(subset=["open"])


def _answer_candles(answer: Any) -> Any:
    """The answer's candles: OHLCV columns (any case, extra columns ignored), a UTC index of period starts."""
    import pandas as pd

    if not isinstance(answer, pd.DataFrame):
        raise NotYet(
            f"candles are a table, one row per 5-minute period indexed by its start: a {type(answer).__name__} has "
            "no periods."
        )
    candles = answer
    candles = candles.rename(columns=lambda c: str(c).lower())
    if not isinstance(candles.index, pd.DatetimeIndex) and "ts" in candles.columns:
        candles = candles.set_index("ts")
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise NotYet(f"a candle has an open, a high, a low, a close and a volume: yours lacks {missing[0]}.")
    if not isinstance(candles.index, pd.DatetimeIndex):
        raise NotYet("index the candles by time, each by its period's start, as resample does.")
    index = candles.index.tz_localize("UTC") if candles.index.tz is None else candles.index.tz_convert("UTC")
    return candles.set_axis(index, axis=0)[list(OHLCV)].dropna(subset=["open"])


def _matches(candles: Any, other: Any) -> bool:
    return bool(candles.index.equals(other.index)) and _same_values(candles, other)


@exercise("08.resample", "5-minute OHLCV candles of one stock's 1-minute bars, by hand")
def _resample(answer: Any, *, bars: Any, symbol: str, **_: Any) -> str:
    import pandas as pd

    candles = _answer_candles(answer)
    one = bars[bars["symbol"] == symbol].set_index("ts").sort_index()
    expected = _candles(one)
    if _matches(candles, expected):
        return "open first, high max, low min, close last, volume summed: how every bar API builds longer bars."
    every = bars.set_index("ts").sort_index()
    diagnoses = [
        (_candles(every[list(OHLCV)]), f"those candles mix every symbol's bars: select {symbol}'s rows first."),
        (
            _candles(one, closed="right", label="right"),
            "your periods are closed on the right: a bar's ts is its start, so a 5-minute period holds the bars "
            "that start in [14:45, 14:50), labelled by its start (closed='left', label='left': resample's default).",
        ),
        (_candles(one, label="right"), "label each period by its start (label='left', the default): your index "
         "holds each period's end."),
        (_candles(one, closed="right"), "closed='right' moves each period's first bar into the period before: "
         "a period holds the bars that start in it, [start, start + 5 min)."),
        (_candles(one.set_axis(one.index + pd.Timedelta(minutes=1), axis=0)), "a bar's ts is its start: moved to "
         "its end, the last bar of each period lands in the next one."),
    ]  # fmt: skip
    for wrong, why in diagnoses:
        if _matches(candles, wrong):
            raise NotYet(why)
    raise NotYet(_candle_mistake(candles, expected, one, symbol))


def _candle_mistake(candles: Any, expected: Any, one: Any, symbol: str) -> str:
    if len(candles) == len(one):
        return "those are the 1-minute bars themselves: resample them to 5-minute periods."
    if not candles.index.equals(expected.index):
        return (
            f"{len(expected)} five-minute periods hold bars of {symbol}, from {expected.index[0]:%H:%M}: resample "
            '("5min") the bars indexed by their ts, each bar\'s start.'
        )
    firsts = one["close"].resample("5min").first().reindex(expected.index).to_frame("open")
    for column, rule in OHLCV.items():
        if _same_values(candles[[column]], expected[[column]]):
            continue
        if column == "open" and _same_values(candles[["open"]], firsts):
            return "open is the first bar's open, not its close (.ohlc() on the closes builds candles of closes)."
        if _same_values(candles[[column]], one[[column]].resample("5min").mean().reindex(expected.index)):
            return f"a 5-minute {column} is the {rule} of its 1-minute {column}s, not their mean."
        return f"a 5-minute {column} is the {rule} of its 1-minute {column}s."
    return f"compare your candles with the bars of {symbol}: each period holds the bars that start in it."


# ----- 08.annualise ----------------------------------------------------------------------------------------------
KINDS = {"stock": ("stock", "stocks", "equity", "equities"), "crypto": ("crypto", "coin", "coins", "cryptocurrency")}


def _one_line(value: Any) -> str:
    """A value as the sentence can hold it: a Series or an array as its type and values, on one line."""
    import numpy as np

    if hasattr(value, "shape") and not isinstance(value, np.generic):
        return f"a {type(value).__name__} of {np.asarray(value).tolist()!r}"
    return " ".join(repr(value).split())


def _annual_answer(answer: Any) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    if isinstance(answer, pd.Series):
        answer = answer.to_dict()
    if isinstance(answer, np.ndarray) and answer.ndim == 1:
        answer = answer.tolist()
    if isinstance(answer, list | tuple) and len(answer) == 2:
        answer = dict(zip(KINDS, answer, strict=True))
    if not isinstance(answer, dict):
        raise NotYet(
            "a stock and a coin trade different minutes in a year, so they annualise differently: give both, "
            '{"stock": %, "crypto": %}.'
        )
    named = {str(k).strip().lower(): v for k, v in answer.items()}
    out = {}
    for kind, names in KINDS.items():
        key = next((n for n in names if n in named), None)
        if key is None:
            raise NotYet(
                f"no key of your dict names the {kind} ({', '.join(map(repr, answer))}): name the two "
                '"stock" and "crypto", each with its annualised volatility in %.'
            )
        value = named[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise NotYet(f"give the {kind}'s annualised volatility as a number of %, not {_one_line(value)}.")
        if not math.isfinite(value) or value <= 0:
            raise NotYet(
                f"the {kind}'s volatility is {float(value)!r}, and a volatility is a finite, positive number of %: "
                "nan comes of the square root of a negative number, inf of a division by zero or an overflow."
            )
        out[kind] = float(value)
    return out


@exercise("08.annualise", "annualise a one-minute standard deviation of 2 bp for a stock and for a coin (in %)")
def _annualise(answer: Any, **_: Any) -> str:
    from workbench.analysis import MINUTES_PER_YEAR

    given = _annual_answer(answer)
    expected = {kind: 100 * 2e-4 * math.sqrt(MINUTES_PER_YEAR[kind]) for kind in KINDS}
    for kind, value in expected.items():
        if abs(given[kind] - value) > 0.05:
            raise NotYet(_annual_mistake(kind, given[kind], MINUTES_PER_YEAR))
    stock, crypto = expected["stock"], expected["crypto"]
    return f"stock {stock:.1f} %, crypto {crypto:.1f} %: the same minute, {crypto / stock:.2f}x the year."


# Clocks a learner may take for a kind's year: (minutes, what that clock is), each named when the answer uses it.
CLOCKS = {
    "stock": ((390 * 365, "390 minutes on every day of the year: a stock trades on 252 days, no weekends or holidays"),
              (390 * 260, "390 minutes on every weekday: a stock trades on 252 days, exchange holidays out"),
              (1440 * 252, "1,440 minutes a day: a stock trades 390 (09:30 to 16:00 in New York)"),
              (390, "the minutes of one day: that is a day's volatility, annualise over the year's minutes")),
    "crypto": ((1440 * 260, "only the weekdays: a coin trades on weekends too, every minute of 365 days"),
               (1440 * 252, "the stocks' 252 trading days: a coin trades every minute of 365 days"),
               (1440, "the minutes of one day: that is a day's volatility, annualise over the year's minutes")),
}  # fmt: skip


def _annual_mistake(kind: str, value: float, minutes: dict[str, int]) -> str:
    right = 100 * 2e-4 * math.sqrt(minutes[kind])
    other = "crypto" if kind == "stock" else "stock"
    if value == round(value) and abs(value - right) < 0.5 + 1e-9:
        return f"for {kind}, {value:g} is {right:.2f} rounded to a whole %: keep a decimal ({right:.1f})."
    near = {
        "that is a fraction, not a percentage: multiply it by 100 to express it in %": right / 100,
        "that is 100 times the % (2 bp is 0.02 % of the price, 2e-4, not 2 %; or the result was left in basis "
        "points): divide it by 100": right * 100,
        "annualised with trading days: a one-minute deviation scales with the square root of the minutes in a "
        "year, not the days": 100 * 2e-4 * math.sqrt(252 if kind == "stock" else 365),
        "scaled by the minutes, not their square root: a deviation grows with the square root of time": 100
        * 2e-4
        * minutes[kind],
        f"that uses the {other}'s trading minutes: a stock trades 390 minutes a day on 252 days, a coin every minute "
        "of 365 days": 100 * 2e-4 * math.sqrt(minutes[other]),
        "that is the year's variance, (2 bp)² times the minutes: the volatility is its square root": 100
        * (2e-4) ** 2
        * minutes[kind],
        **{f"that takes {why}": 100 * 2e-4 * math.sqrt(clock) for clock, why in CLOCKS[kind]},
    }
    # the nearest of the known mistakes, within what rounding to a decimal or two leaves
    why, wrong = min(near.items(), key=lambda item: abs(value - item[1]) / item[1])
    if math.isclose(value, wrong, rel_tol=0.02):
        return f"for {kind}, {why}."
    return (
        f"for {kind}, multiply 2 bp by the square root of its trading minutes a year ({minutes[kind]:,}), then "
        "express it in %."
    )
