"""Reading the sinks for a window: what the pipeline collected, from its three sinks into pandas frames.

- stocks: the Snowflake table of 1-minute bars (`symbol, ts, open, high, low, close, volume`, `ts` = bar start);
  longer bars are computed in Snowflake (`stock_bars`), so only the aggregates travel;
- crypto: the processed Parquet objects in S3 (one per scheduled minute, a snapshot of the top coins);
- forex: the SQL Server table of rates (units of a currency per US dollar, as published at `rate_ts`).

`collect` reads one window of scheduled minutes into a `Collected`; what is computed on the frames lives beside
it, in `workbench.analysis.frames`, and reads no sink.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from pipeline.contracts import floor_minute, raw_key
from pipeline.settings import Settings
from workbench.analysis.frames import bar_returns

if TYPE_CHECKING:
    from workbench.backfill import BackfillReport
    from workbench.local.run_report import RunReport

BAR_COLUMNS: Final = ["symbol", "ts", "open", "high", "low", "close", "volume"]
COIN_COLUMNS: Final = [
    "symbol", "name", "rank", "price_usd", "market_cap_usd", "volume_24h_usd", "scheduled_at", "coin_id",
    "last_updated",
]  # fmt: skip
RATE_COLUMNS: Final = ["base", "currency", "rate", "rate_ts"]


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
    return bar_returns(stock_bars(settings, start, end, every, symbols))


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
