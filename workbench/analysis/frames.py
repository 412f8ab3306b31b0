"""The analyst's first looks, as pandas on frames: prices on one minute grid, log returns, rolling volatility,
cross-asset correlation, candles and a few sentences on what a window shows. Nothing here reads a sink: the
frames come from `workbench.analysis.sinks` (or anywhere else).

Every price goes on one UTC minute grid: a stock at the close of the bar that ends at that minute, a coin at the
snapshot of that scheduled minute, a currency at the last rate published at or before it (a rate is in force until
the next one: Open Exchange Rates publishes at most once per refresh period, so FX is often flat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

import numpy as np
import pandas as pd

# Trading minutes in a year, to annualise a volatility measured on one-minute returns.
MINUTES_PER_YEAR: Final = {"stock": 252 * 390, "crypto": 365 * 1440, "fx": 260 * 1440}
STABLECOINS: Final = ("USDT", "USDC", "DAI", "FDUSD", "USDE")
DEFAULT_CURRENCIES: Final = ("EUR", "GBP", "JPY", "CHF", "AUD", "CAD")


class Window(Protocol):
    """The frames of one window of scheduled minutes (a `workbench.analysis.sinks.Collected`, or your own)."""

    start: datetime
    end: datetime
    bars: pd.DataFrame
    coins: pd.DataFrame
    rates: pd.DataFrame


@dataclass
class Panel:
    """Prices of chosen instruments on one UTC minute grid, and the kind of each (stock, crypto, fx)."""

    prices: pd.DataFrame
    kinds: dict[str, str]

    def of(self, kind: str) -> list[str]:
        return [c for c in self.prices.columns if self.kinds[c] == kind]

    def flat(self) -> list[str]:
        """Instruments whose price never changed in the window (FX between two publications, a stablecoin)."""
        return [c for c in self.prices.columns if self.prices[c].dropna().nunique() <= 1]


def price_panel(
    collected: Window,
    stocks: int = 6,
    coins: int = 6,
    currencies: tuple[str, ...] = DEFAULT_CURRENCIES,
    include_stablecoins: bool = False,
) -> Panel:
    """The first `stocks` symbols (alphabetically), the `coins` largest coins and the given currencies.

    Stocks: close of the bar ending at each minute. Crypto: USD price at the scheduled minute. FX: US dollars per
    unit of the currency (1 / rate, so EUR reads as EURUSD), the last rate published at or before each minute.
    """
    grid = pd.date_range(collected.start, collected.end, freq="1min", tz="UTC")
    columns: dict[str, pd.Series] = {}
    kinds: dict[str, str] = {}
    bars = collected.bars
    for symbol in sorted(bars["symbol"].unique())[:stocks]:
        one = bars[bars["symbol"] == symbol]
        columns[symbol] = pd.Series(one["close"].to_numpy(), index=one["ts"] + pd.Timedelta(minutes=1))
        kinds[symbol] = "stock"
    coin_frame = collected.coins
    if not coin_frame.empty:
        ranked = coin_frame.sort_values("rank").drop_duplicates("symbol")["symbol"].tolist()
        chosen = [s for s in ranked if include_stablecoins or s not in STABLECOINS][:coins]
        for symbol in chosen:
            one = coin_frame[coin_frame["symbol"] == symbol]
            columns[symbol] = pd.Series(one["price_usd"].to_numpy(), index=one["scheduled_at"])
            kinds[symbol] = "crypto"
    rates = collected.rates
    for code in currencies:
        one = rates[rates["currency"] == code].drop_duplicates("rate_ts")
        if one.empty:
            continue
        name = f"{code}USD" if code not in ("JPY", "CHF", "CAD") else f"USD{code}"
        values = one["rate"].to_numpy() if name.startswith("USD") else 1.0 / one["rate"].to_numpy()
        columns[name] = pd.Series(values, index=one["rate_ts"])
        kinds[name] = "fx"
    frame = pd.DataFrame(index=grid)
    for name, series in columns.items():
        series = series[~series.index.duplicated(keep="last")].sort_index()
        if kinds[name] == "fx":  # a rate is in force until the next one
            frame[name] = series.reindex(series.index.union(grid)).ffill().reindex(grid)
        else:
            frame[name] = series.reindex(grid)
    return Panel(frame, kinds)


def bar_returns(bars: pd.DataFrame) -> pd.DataFrame:
    """Log returns of the closes of aggregated bars (`stock_bars`' frame): one column per symbol, indexed by bar
    start; the first bar of each symbol has no return."""
    closes = bars.pivot(index="start", columns="symbol", values="close").sort_index()
    return log_returns(closes)


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """One-minute log returns; a minute without a price on either side has none."""
    return np.log(prices).diff().iloc[1:]


def rolling_volatility(returns: pd.DataFrame, kinds: dict[str, str], window: int = 10) -> pd.DataFrame:
    """Annualised rolling volatility: the standard deviation of the last `window` one-minute returns, scaled by
    the square root of the instrument's trading minutes in a year."""
    scale = pd.Series({c: np.sqrt(MINUTES_PER_YEAR[kinds[c]]) for c in returns.columns})
    return returns.rolling(window, min_periods=max(3, window // 2)).std() * scale


def return_stats(returns: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Per instrument: observations, mean and standard deviation (basis points), annualised volatility, extremes."""
    bp = returns * 1e4
    stats = pd.DataFrame(
        {
            "kind": pd.Series(kinds),
            "n": bp.count(),
            "mean_bp": bp.mean(),
            "sd_bp": bp.std(),
            "min_bp": bp.min(),
            "max_bp": bp.max(),
        }
    ).loc[returns.columns]
    stats["annual_vol_pct"] = [
        100 * sd / 1e4 * np.sqrt(MINUTES_PER_YEAR[k]) for sd, k in zip(stats["sd_bp"], stats["kind"], strict=True)
    ]
    return stats.round(2)


def correlation(returns: pd.DataFrame, min_periods: int = 5) -> tuple[pd.DataFrame, list[str]]:
    """The correlation matrix of one-minute returns, without the instruments whose returns never moved (their
    correlation is undefined); returns the matrix and the names left out."""
    moving = [c for c in returns.columns if returns[c].dropna().abs().sum() > 0 and returns[c].count() >= min_periods]
    left_out = [c for c in returns.columns if c not in moving]
    return returns[moving].corr(min_periods=min_periods), left_out


def mean_correlation(corr: pd.DataFrame, kinds: dict[str, str], a: str, b: str) -> float | None:
    """The average correlation between instruments of kind `a` and kind `b` (distinct pairs only)."""
    rows = [c for c in corr.index if kinds[c] == a]
    cols = [c for c in corr.columns if kinds[c] == b]
    values = [corr.at[r, c] for r in rows for c in cols if r != c]
    values = [v for v in values if v == v]
    return round(float(np.mean(values)), 3) if values else None


def stock_candles(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """One stock's bars as mplfinance wants them: indexed by bar start, Open/High/Low/Close/Volume."""
    one = bars[bars["symbol"] == symbol].sort_values("ts")
    frame = one.set_index(pd.DatetimeIndex(one["ts"]).tz_convert(None))[["open", "high", "low", "close", "volume"]]
    return frame.rename(columns=str.title).astype(float)


def coin_candles(coins: pd.DataFrame, symbol: str, every: str = "5min") -> pd.DataFrame:
    """Candles of a coin built from its one-minute snapshots (open, high, low, close of the snapshots in each
    `every` period; no volume: the listing gives a rolling 24-hour volume, not a per-period one)."""
    one = coins[coins["symbol"] == symbol].set_index("scheduled_at")["price_usd"].sort_index()
    candles = one.resample(every).ohlc().dropna()
    candles.index = candles.index.tz_convert(None)
    return candles.rename(columns=str.title)


def observations(panel: Panel, returns: pd.DataFrame, corr: pd.DataFrame, refresh_seconds: int) -> list[str]:
    """A few sentences on what the window shows, each computed from the data."""
    stats = return_stats(returns, panel.kinds)
    lines = []
    for kind, label in (("stock", "Stocks"), ("crypto", "Crypto"), ("fx", "Forex")):
        names = [c for c in panel.of(kind) if stats.at[c, "n"] > 0]
        if not names:
            continue
        vol = stats.loc[names, "annual_vol_pct"].median()
        sd = stats.loc[names, "sd_bp"].median()
        lines.append(
            f"{label}: {len(names)} series; a typical one-minute move is {sd:.1f} bp, "
            f"about {vol:.0f}% a year annualised (median of the series)."
        )
    moving = stats[stats["sd_bp"] > 0]
    if len(moving):
        top, low = moving["annual_vol_pct"].idxmax(), moving["annual_vol_pct"].idxmin()
        lines.append(
            f"Most volatile: {top} ({moving.at[top, 'annual_vol_pct']:.0f}% annualised); "
            f"least (of those that moved): {low} ({moving.at[low, 'annual_vol_pct']:.1f}%)."
        )
    pairs = [("stock", "stock", "within stocks"), ("crypto", "crypto", "within crypto"),
             ("stock", "crypto", "between stocks and crypto"), ("fx", "fx", "within forex"),
             ("stock", "fx", "between stocks and forex")]  # fmt: skip
    found = [(label, mean_correlation(corr, panel.kinds, a, b)) for a, b, label in pairs]
    said = [f"{label} {value:+.2f}" for label, value in found if value is not None]
    if said:
        lines.append("Average correlation of one-minute returns: " + "; ".join(said) + ".")
    flat_fx = [c for c in panel.flat() if panel.kinds[c] == "fx"]
    fx = panel.of("fx")
    if flat_fx:
        lines.append(
            f"Forex: {len(flat_fx)} of {len(fx)} rates did not change in the window: Open Exchange Rates publishes "
            f"at most once per refresh period ({refresh_seconds} s here), so their returns are zero and they are "
            "left out of the correlation."
        )
    return lines
