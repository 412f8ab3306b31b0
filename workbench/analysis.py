"""The analyst's side: what the pipeline collected, read back from its three sinks into pandas, and the usual
first looks at it (prices on one minute grid, log returns, rolling volatility, cross-asset correlation, candles).

- stocks: the Snowflake table of 1-minute bars (`symbol, ts, open, high, low, close, volume`, `ts` = bar start);
- crypto: the processed Parquet objects in S3 (one per scheduled minute, a snapshot of the top coins);
- forex: the SQL Server table of rates (units of a currency per US dollar, as published at `rate_ts`).

Every price goes on one UTC minute grid: a stock at the close of the bar that ends at that minute, a coin at the
snapshot of that scheduled minute, a currency at the last rate published at or before it (a rate is in force until
the next one: Open Exchange Rates publishes at most once per refresh period, so FX is often flat).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from pipeline.contracts import floor_minute, raw_key
from pipeline.settings import Settings

if TYPE_CHECKING:
    from workbench.backfill import BackfillReport
    from workbench.local.run_report import RunReport

BAR_COLUMNS: Final = ["symbol", "ts", "open", "high", "low", "close", "volume"]
COIN_COLUMNS: Final = [
    "symbol", "name", "rank", "price_usd", "market_cap_usd", "volume_24h_usd", "scheduled_at", "coin_id",
    "last_updated",
]  # fmt: skip
RATE_COLUMNS: Final = ["base", "currency", "rate", "rate_ts"]

# Trading minutes in a year, to annualise a volatility measured on one-minute returns.
MINUTES_PER_YEAR: Final = {"stock": 252 * 390, "crypto": 365 * 1440, "fx": 260 * 1440}
STABLECOINS: Final = ("USDT", "USDC", "DAI", "FDUSD", "USDE")
DEFAULT_CURRENCIES: Final = ("EUR", "GBP", "JPY", "CHF", "AUD", "CAD")


# ---------------------------------------------------------------------------------------------------------
# Reading the sinks
# ---------------------------------------------------------------------------------------------------------
def load_bars(settings: Settings, start: datetime, end: datetime) -> pd.DataFrame:
    """Stock bars with `start <= ts <= end` from the Snowflake table (empty if the table does not exist yet).

    `ts` is the bar's start: the bar that closes at minute m starts at m - 1 minute.
    """
    from pipeline.sinks.snowflake.loader import SnowflakeSink

    sink = SnowflakeSink.from_settings(settings)
    sql = (
        f"SELECT SYMBOL, TS, OPEN, HIGH, LOW, CLOSE, VOLUME FROM {sink.table} "  # noqa: S608 (a checked identifier)
        "WHERE TS BETWEEN ? AND ? ORDER BY SYMBOL, TS"
    )
    try:
        with sink.session("could not read the bars") as cursor:
            if not sink.table_exists(cursor):
                return pd.DataFrame(columns=BAR_COLUMNS)
            cursor.execute(sql, (start, end))
            frame = pd.DataFrame(cursor.fetchall(), columns=BAR_COLUMNS)
    finally:
        sink.close()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for column in ("open", "high", "low", "close"):
        frame[column] = frame[column].astype(float)
    frame["volume"] = frame["volume"].astype("int64")
    return frame


def load_coins(settings: Settings, start: datetime, end: datetime, s3: Any = None) -> pd.DataFrame:
    """Coin snapshots of the scheduled minutes in [start, end], in one call over the processed area: the window's
    minute objects and compacted days alike, each minute once (`pipeline.sinks.s3parquet.dataset`)."""
    from pipeline import aws
    from pipeline.sinks.s3parquet.dataset import ProcessedDataset

    dataset = ProcessedDataset(s3 or aws.client("s3", settings), settings.bucket)
    table = dataset.read(raw_key("coinmarketcap", start), raw_key("coinmarketcap", end))
    if table is None:
        return pd.DataFrame(columns=COIN_COLUMNS)
    frame = table.to_pandas()
    frame["scheduled_at"] = pd.to_datetime(frame["scheduled_at"], utc=True)
    return frame.sort_values(["scheduled_at", "rank"]).reset_index(drop=True)


def load_rates(
    settings: Settings, start: datetime, end: datetime, lookback: timedelta = timedelta(hours=2)
) -> pd.DataFrame:
    """Rates published in [start - lookback, end] from the SQL Server table (the lookback finds the rate that was
    already in force at `start`)."""
    import sqlalchemy as sa

    url = settings.secret(settings.sqlserver.url, settings.sqlserver.url_secret_arn)
    if not url:
        raise ValueError("no SQL Server URL: set PIPELINE_SQLSERVER_URL (the local stack sets it)")
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(settings.sqlserver.table):
            return pd.DataFrame(columns=RATE_COLUMNS)
        table = sa.Table(settings.sqlserver.table, sa.MetaData(), autoload_with=engine)
        columns = {c.name.lower(): c for c in table.columns}
        ts = columns["rate_ts"]
        query = (
            sa.select(*(columns[c] for c in RATE_COLUMNS))
            .where(ts >= (floor_minute(start) - lookback).replace(tzinfo=None), ts <= end.replace(tzinfo=None))
            .order_by(columns["currency"], ts)
        )
        with engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query).fetchall(), columns=RATE_COLUMNS)
    finally:
        engine.dispose()
    frame["rate_ts"] = pd.to_datetime(frame["rate_ts"], utc=True)
    frame["rate"] = frame["rate"].astype(float)
    return frame


# ---------------------------------------------------------------------------------------------------------
# Windows longer than a day: Snowflake computes what is plotted, only the result travels
# ---------------------------------------------------------------------------------------------------------
AGGREGATE_COLUMNS: Final = ["symbol", "start", "open", "high", "low", "close", "volume", "vwap", "bars"]
_SYMBOL: Final = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,11}")
MAX_SYMBOLS: Final = 503


def _checked_symbols(symbols: Sequence[str] | None) -> list[str]:
    if symbols is None:
        return []
    if isinstance(symbols, str):
        symbols = [symbols]
    out = []
    for symbol in symbols:
        cleaned = str(symbol).strip().upper()
        if not _SYMBOL.fullmatch(cleaned):
            raise ValueError(f"not a stock symbol: {symbol!r} (letters, digits, '.' or '-', as in BRK-B)")
        out.append(cleaned)
    if len(out) > MAX_SYMBOLS:
        raise ValueError(f"{len(out)} symbols: at most {MAX_SYMBOLS} (the universe), or None for all")
    return list(dict.fromkeys(out))


def _checked_every(every: str | int | timedelta) -> int:
    """A bar length in whole minutes, 1 to 1440 (one UTC day)."""
    try:
        minutes = pd.Timedelta(every if not isinstance(every, int) else f"{every}min").total_seconds() / 60
    except ValueError:
        raise ValueError(f"not a bar length: {every!r} (e.g. '5min', '1h', '1D')") from None
    if not float(minutes).is_integer() or not 1 <= minutes <= 1440:
        raise ValueError(f"bar length {every!r}: whole minutes from 1 to 1440 (one day)")
    return int(minutes)


def _aggregate_sql(table: str, every: int, symbols: int) -> str:
    """Bars of `every` minutes per symbol: first open, highest high, lowest low, last close, summed volume, VWAP
    of the typical price (high + low + close) / 3; `ts` is the bar start, so is a bucket's `start` (UTC)."""
    where = "TS BETWEEN ? AND ?" + (f" AND SYMBOL IN ({', '.join('?' * symbols)})" if symbols else "")
    # the table is the sink's checked identifier, `every` an int, every value a bound parameter
    return (
        f"SELECT SYMBOL, TIME_SLICE(TS, {every:d}, 'MINUTE') AS BUCKET, MIN_BY(OPEN, TS), MAX(HIGH), MIN(LOW), "  # noqa: S608
        "MAX_BY(CLOSE, TS), SUM(VOLUME), SUM((HIGH + LOW + CLOSE) / 3 * VOLUME) / NULLIF(SUM(VOLUME), 0), COUNT(*) "
        f"FROM {table} WHERE {where} GROUP BY SYMBOL, BUCKET ORDER BY SYMBOL, BUCKET"
    )


def stock_bars(
    settings: Settings,
    start: datetime,
    end: datetime,
    every: str | int | timedelta = "1D",
    symbols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Stock bars resampled to `every` (whole minutes up to one day) in Snowflake, for bars starting in
    [start, end], of the given symbols (None: all): one row per symbol and bar, `AGGREGATE_COLUMNS`.

    Only the aggregates leave the warehouse: a month of daily bars of the universe is about 10,000 rows where the
    1-minute bars are 4 million."""
    from pipeline.sinks.snowflake.loader import SnowflakeSink

    minutes, chosen = _checked_every(every), _checked_symbols(symbols)
    sink = SnowflakeSink.from_settings(settings)
    try:
        with sink.session("could not aggregate the bars") as cursor:
            if not sink.table_exists(cursor):
                return pd.DataFrame(columns=AGGREGATE_COLUMNS)
            cursor.execute(_aggregate_sql(sink.table, minutes, len(chosen)), (start, end, *chosen))
            frame = pd.DataFrame(cursor.fetchall(), columns=AGGREGATE_COLUMNS)
    finally:
        sink.close()
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    for column in ("open", "high", "low", "close", "vwap"):
        frame[column] = frame[column].astype(float)
    frame["volume"] = frame["volume"].astype("int64")
    frame["bars"] = frame["bars"].astype("int64")
    return frame


def stock_daily(
    settings: Settings, start: datetime, end: datetime, symbols: Sequence[str] | None = None
) -> pd.DataFrame:
    """Daily aggregates (UTC days) of the stocks, computed in Snowflake: open, high, low, close, volume, VWAP."""
    return stock_bars(settings, start, end, "1D", symbols)


def stock_returns(
    settings: Settings,
    start: datetime,
    end: datetime,
    symbols: Sequence[str],
    every: str | int | timedelta = "1D",
) -> pd.DataFrame:
    """Log returns of the closes of `every` bars of the chosen symbols (one column each, indexed by bar start),
    the bars computed in Snowflake; the first bar of each symbol has no return."""
    if not _checked_symbols(symbols):
        raise ValueError("no symbols: returns are computed for the symbols chosen")
    bars = stock_bars(settings, start, end, every, symbols)
    closes = bars.pivot(index="start", columns="symbol", values="close").sort_index()
    return np.log(closes).diff().iloc[1:]


@dataclass
class Collected:
    """What the three sinks hold for one window of scheduled minutes."""

    start: datetime
    end: datetime
    bars: pd.DataFrame
    coins: pd.DataFrame
    rates: pd.DataFrame
    run: RunReport | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "snowflake_bars": len(self.bars),
            "parquet_coin_rows": len(self.coins),
            "sqlserver_rates": int((self.rates["rate_ts"] >= pd.Timestamp(self.start)).sum()) if len(self.rates) else 0,
        }

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60) + 1

    def complete(self) -> bool:
        """True when every sink holds something for the window and the crypto snapshots (24/7, one object a
        minute) cover every minute of it: a window only partly run before is run again."""
        covered = self.coins["scheduled_at"].nunique() if len(self.coins) else 0
        return all(self.counts().values()) and covered >= self.minutes

    def summary(self) -> pd.DataFrame:
        """One line per sink: what it holds for the window."""
        rows = [
            ("Snowflake (stocks)", len(self.bars), self.bars["symbol"].nunique(), _span(self.bars["ts"])),
            ("S3 Parquet (crypto)", len(self.coins), self.coins["symbol"].nunique(), _span(self.coins["scheduled_at"])),
            ("SQL Server (forex)", len(self.rates), self.rates["currency"].nunique(), _span(self.rates["rate_ts"])),
        ]
        return pd.DataFrame(rows, columns=["sink", "rows", "instruments", "time span"]).set_index("sink")


def _span(times: pd.Series) -> str:
    if times.empty:
        return "-"
    return f"{times.min():%Y-%m-%d %H:%M} to {times.max():%H:%M} UTC ({times.nunique()} distinct)"


def collect(settings: Settings, start: datetime, minutes: int, s3: Any = None) -> Collected:
    """Everything the sinks hold for `minutes` scheduled minutes from `start`."""
    first = floor_minute(start)
    last = first + timedelta(minutes=minutes - 1)
    return Collected(
        first,
        last,
        # The minute m ingests the bar that closes at m, which starts at m - 1: bars of [first - 1, last - 1].
        load_bars(settings, first - timedelta(minutes=1), last - timedelta(minutes=1)),
        load_coins(settings, first, last, s3=s3),
        load_rates(settings, first, last + timedelta(seconds=59)),
    )


def collect_or_run(stack: Any, start: datetime, minutes: int, *, oxr_refresh_seconds: int | None = None) -> Collected:
    """What the sinks hold for the window; if they do not cover it yet, run the pipeline over the window first
    (the local runtime: schedule, ingest, queues, process, sinks; every load is idempotent) and read again.

    `oxr_refresh_seconds`, if given, is the Open Exchange Rates refresh period for that run.
    """
    from workbench.local.demo import run_minutes, use_stack

    collected = collect(stack.settings(), start, minutes)
    if collected.complete():
        return collected
    if oxr_refresh_seconds is not None:
        use_stack(stack, oxr_refresh_seconds=oxr_refresh_seconds)
    report = run_minutes(stack, minutes, start, progress=False)
    collected = collect(stack.settings(), start, minutes)
    collected.run = report
    return collected


def backfill_stocks(stack: Any, start: datetime, end: datetime) -> BackfillReport:
    """Fill the stock bars of [start, end) through the pipeline on the local stack (`workbench.backfill`: one raw
    object per hour of session, its event, the process function, the Snowflake MERGE), as
    `python -m pipeline backfill yahoo_finance` does. Idempotent: what a run already loaded stays one row a bar,
    and a window already filled writes nothing."""
    from pipeline import aws
    from workbench.backfill import backfill
    from workbench.local.demo import local_runtime

    settings = stack.settings()
    runtime = local_runtime(stack, settings, ("yahoo_finance",))

    def processed(minute: datetime) -> None:
        runtime.poll(minute, ["yahoo_finance"])

    try:
        report = backfill(
            "yahoo_finance", start, end, settings=settings, s3=aws.client("s3", settings),
            sns=aws.client("sns", settings), after_publish=processed,
        )  # fmt: skip
    except BaseException:
        runtime.release()
        raise
    runtime.settle(floor_minute(end) + timedelta(minutes=1))
    return report


# ---------------------------------------------------------------------------------------------------------
# Prices, returns, volatility, correlation
# ---------------------------------------------------------------------------------------------------------
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
    collected: Collected,
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
