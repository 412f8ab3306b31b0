"""Analysis at scale on the local stack: a day and a month of crypto snapshots, a month of daily stock aggregates,
the way the analysis read them before (one processed object after another; every 1-minute bar through the
connector into pandas) and the way it reads them now (the processed area as a dataset, compacted by day; the
aggregates computed in Snowflake).

The data are written in bulk, not through simulated minutes: a day of per-minute Parquet objects as the sink writes
them (10 coins each), compacted by the compaction itself, and 29 more days as compacted files written directly; a
month of 1-minute bars (503 symbols x 390 minutes x 21 sessions) generated inside the Snowflake stand-in by one
INSERT ... SELECT FROM TABLE(GENERATOR(...)). "Before" for a month is the day's measured time times the days (the
old path reads every object or row one after the other, so it scales with their number); it says so in the table.

Writes benchmarks/results/analysis.md.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import aws
from pipeline.contracts import processed_key, raw_key
from pipeline.settings import Settings
from pipeline.sinks.s3parquet.dataset import ProcessedDataset, compacted_key
from pipeline.sinks.s3parquet.loader import SCHEMA, ParquetSink
from pipeline.sinks.snowflake.loader import SnowflakeSink
from workbench import analysis
from workbench.local import servers

RESULTS = Path(__file__).parent / "results"
FIRST_DAY = date(2026, 10, 1)
DAYS = 30
COINS = 10
SYMBOLS, MINUTES_A_SESSION, SESSIONS = 503, 390, 21
GOALS = {"month of snapshots": 60.0, "month of daily stock aggregates": 10.0}


def snapshot(at: datetime, loaded_at: datetime) -> pa.Table:
    key = raw_key("coinmarketcap", at)
    n = COINS
    return pa.Table.from_pydict(
        {
            "rank": list(range(1, n + 1)),
            "name": [f"Coin {i}" for i in range(n)],
            "symbol": [f"C{i}" for i in range(n)],
            "price_usd": [100.0 * (i + 1) * (1 + 0.0001 * (at.minute - 30)) for i in range(n)],
            "change_1h_pct": [0.1] * n,
            "change_24h_pct": [0.2] * n,
            "change_7d_pct": [0.3] * n,
            "market_cap_usd": [1e9] * n,
            "volume_24h_usd": [1e8] * n,
            "circulating_supply": [1e7] * n,
            "coin_id": list(range(n)),
            "last_updated": [at] * n,
            "scheduled_at": [at] * n,
            "raw_key": [key] * n,
            "loaded_at": [loaded_at] * n,
        },
        schema=SCHEMA,
    )


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def old_load_coins(settings: Settings, s3: Any, start: datetime, end: datetime) -> int:
    """The reader before: the sink's processed objects of the window, one GET after another."""
    sink = ParquetSink.from_settings(settings, s3=s3)
    tables = sink.tables(raw_key("coinmarketcap", start), raw_key("coinmarketcap", end))
    return sum(t.num_rows for t in tables.values())


def crypto(settings: Settings, s3: Any) -> list[tuple[str, str, float, str]]:
    bucket = settings.bucket
    day0 = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    loaded_at = day0 + timedelta(days=DAYS + 1)
    minutes = [day0 + timedelta(minutes=m) for m in range(1440)]
    write_day, _ = timed(
        lambda: [
            s3.put_object(
                Bucket=bucket, Key=processed_key(raw_key("coinmarketcap", at)), Body=parquet(snapshot(at, loaded_at))
            )
            for at in minutes
        ]
    )
    day_end = minutes[-1]
    before_day, rows_before = timed(lambda: old_load_coins(settings, s3, day0, day_end))
    after_day_minutes, frame = timed(lambda: analysis.load_coins(settings, day0, day_end, s3=s3))
    assert len(frame) == rows_before == 1440 * COINS
    compaction, result = timed(lambda: ProcessedDataset(s3, bucket).compact_day(FIRST_DAY))
    assert result.deleted == 1440
    after_day, frame = timed(lambda: analysis.load_coins(settings, day0, day_end, s3=s3))
    assert len(frame) == 1440 * COINS
    body_of = s3.get_object(Bucket=bucket, Key=compacted_key(FIRST_DAY))["Body"].read()
    for d in range(1, DAYS):  # the other days as the compaction leaves them
        day = FIRST_DAY + timedelta(days=d)
        shifted = pq.read_table(io.BytesIO(body_of))
        offset = pa.scalar(timedelta(days=d), pa.duration("us"))
        at = pa.compute.add(shifted.column("scheduled_at"), offset)
        keys = [raw_key("coinmarketcap", t) for t in at.to_pylist()]
        shifted = shifted.set_column(
            shifted.schema.get_field_index("scheduled_at"), "scheduled_at", at.cast(SCHEMA.field("scheduled_at").type)
        )
        shifted = shifted.set_column(shifted.schema.get_field_index("raw_key"), "raw_key", pa.array(keys))
        s3.put_object(Bucket=bucket, Key=compacted_key(day), Body=parquet(shifted))
    month_end = day0 + timedelta(days=DAYS) - timedelta(minutes=1)
    after_month, frame = timed(lambda: analysis.load_coins(settings, day0, month_end, s3=s3))
    assert len(frame) == DAYS * 1440 * COINS
    assert frame.groupby("scheduled_at").size().eq(COINS).all()
    return [
        ("day of snapshots (1,440 objects)", "before: one object after another", before_day, "measured"),
        (
            "day of snapshots (1,440 objects)",
            "after: dataset read, minute objects in parallel",
            after_day_minutes,
            "measured",
        ),
        ("day of snapshots", "compaction of the day into one file", compaction, "measured"),
        ("day of snapshots (compacted)", "after: dataset read, one file", after_day, "measured"),
        (
            "month of snapshots (43,200 minutes)",
            "before: one object after another",
            before_day * DAYS,
            f"estimated: the day x {DAYS}",
        ),
        ("month of snapshots (43,200 minutes)", "after: dataset read, 30 compacted files", after_month, "measured"),
        ("(writing the day of minute objects to the stand-in)", "", write_day, "measured"),
    ]


def stocks(settings: Settings) -> list[tuple[str, str, float, str]]:
    sink = SnowflakeSink.from_settings(settings)
    start = datetime(2026, 10, 1, 13, 30, tzinfo=UTC)
    rows = SYMBOLS * MINUTES_A_SESSION * SESSIONS
    generate = (
        f"INSERT INTO {sink.table} (SYMBOL, TS, OPEN, HIGH, LOW, CLOSE, VOLUME, RAW_KEY, LOADED_AT) "
        f"SELECT 'S' || LPAD(TO_VARCHAR(SEQ4() % {SYMBOLS}), 4, '0'), "
        f"DATEADD(minute, FLOOR(SEQ4() / {SYMBOLS * MINUTES_A_SESSION}) * 1440 "
        f"+ FLOOR(SEQ4() / {SYMBOLS}) % {MINUTES_A_SESSION}, '2026-10-01 13:30:00'::TIMESTAMP_NTZ), "
        "100 + SEQ4() % 997 / 100, 101 + SEQ4() % 997 / 100, 99 + SEQ4() % 997 / 100, 100.5 + SEQ4() % 991 / 100, "
        "1000 + SEQ4() % 7, 'raw/yahoo_finance/2026/10/01/1331.csv', CURRENT_TIMESTAMP() "
        f"FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"
    )
    from pipeline.schemas import Bar

    seed = Bar(symbol="S0000", ts=start, open=100, high=101, low=99, close=100.5, volume=1000)
    sink.load([seed], "raw/yahoo_finance/2026/10/01/1331.csv")  # the table as the sink creates it
    try:
        with sink.session("could not generate the month") as cursor:
            cursor.execute(f"DELETE FROM {sink.table}")
            load_seconds, _ = timed(lambda: cursor.execute(generate))
            cursor.execute(f"SELECT COUNT(*) FROM {sink.table}")
            (count,) = cursor.fetchone()
    finally:
        sink.close()
    assert count == rows, count
    day_end = start + timedelta(minutes=MINUTES_A_SESSION - 1)
    before_day, bars = timed(lambda: analysis.load_bars(settings, start, day_end))
    assert len(bars) == SYMBOLS * MINUTES_A_SESSION
    month_end = start + timedelta(days=SESSIONS)
    after_month, daily = timed(lambda: analysis.stock_daily(settings, start, month_end))
    assert len(daily) == SYMBOLS * SESSIONS and int(daily["bars"].sum()) == rows
    return [
        ("day of 1-minute bars (196,170 rows)", "before: every bar through the connector", before_day, "measured"),
        (f"month of daily stock aggregates ({rows:,} bars)", "before: every bar through the connector",
         before_day * SESSIONS, f"estimated: the day x {SESSIONS}"),
        (f"month of daily stock aggregates ({rows:,} bars)", "after: computed in Snowflake, 10,563 rows back",
         after_month, "measured"),
        ("(generating the month's bars in the stand-in)", "", load_seconds, "measured"),
    ]  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        settings = Settings(local_dir=Path(tmp))
        stack = servers.up(settings, aws_port=0, snowflake_port=0)
        try:
            for name, value in stack.env().items():
                os.environ[name] = value
            local = stack.settings()
            s3 = aws.client("s3", local)
            lines = crypto(local, s3) + stocks(local)
        finally:
            servers.down(settings)
    month = next(s for what, how, s, _ in lines if what.startswith("month of snapshots") and how.startswith("after"))
    daily = next(s for what, how, s, _ in lines if what.startswith("month of daily") and how.startswith("after"))
    out = [
        "# Analysis at scale (local stack)",
        "",
        f"`python -m benchmarks analysis` on {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} when it ended; moto server for S3, fakesnow server for "
        "Snowflake. Written by benchmarks/bench_analysis.py.",
        "",
        "| data | how | seconds | |",
        "| --- | --- | ---: | --- |",
        *(f"| {what} | {how} | {seconds:.2f} | {note} |" for what, how, seconds, note in lines),
        "",
        f"month of snapshots read: {month:.2f} s (goal: under {GOALS['month of snapshots']:.0f} s)",
        f"month of daily stock aggregates read: {daily:.2f} s (goal: under "
        f"{GOALS['month of daily stock aggregates']:.0f} s)",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analysis.md").write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
