"""The Snowflake sink's candidate load paths against the current one, and SQL Server's bulk against row by row.

- Snowflake, over one fakesnow server through the real connector, each candidate on its own table, same bars:
  (c) the previous path and the baseline: a temporary stage table, one array-bound INSERT (`executemany`), MERGE;
  (a) the stage table filled by multi-row bound INSERTs (`VALUES (?, ...), (?, ...)`, at most 16,384 rows each);
  (b) the bars staged as a CSV file (`PUT` of an in-memory stream to the stage table's stage), `COPY INTO` the
      stage table, MERGE;
  (d) the sink (`SnowflakeSink.load`): one MERGE whose source is the rows bound as one JSON document
      (`PARSE_JSON(?)`, `LATERAL FLATTEN`), matched within the batch's ts window; and the same without the window.
  Each file is timed as the sink runs it against fakesnow: session opened, statements, session ended.
  Then the chosen path's time per minute of 503 bars as the table grows.
- SQL Server: `SqlServerSink` (one upsert per batch) against one INSERT per row, both on a SQLite file.

Writes benchmarks/results/sinks.md. Numbers depend on the machine (and what else runs on it: the load average is
recorded); the ratios, measured in the same run, and the statement counts are the point.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from snowflake.connector.connection import SnowflakeConnection

from pipeline.contracts import raw_key
from pipeline.schemas import Bar, Rate
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError
from pipeline.sinks.snowflake.loader import (
    COLUMN_TYPES,
    COLUMNS,
    KEY,
    SnowflakeSink,
    bar_params,
    batch_window,
    merge_sql,
    rows_document,
)
from pipeline.sinks.sqlserver.loader import SqlServerSink, rate_params
from workbench.local.processes import HOST, free_port

SIZES = (50, 503, 2000)
RESULTS = Path(__file__).parent / "results"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@dataclass
class Measure:
    sink: str
    method: str
    rows: int
    seconds: float
    statements: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def bars(n: int, minute: int) -> list[Bar]:
    ts = T0 + timedelta(minutes=minute)
    return [
        Bar(symbol=f"S{i:04d}", ts=ts, open=100 + i, high=101 + i, low=99 + i, close=100.5 + i, volume=1000 + i)
        for i in range(n)
    ]


def rates(n: int, minute: int) -> list[Rate]:
    ts = T0 + timedelta(minutes=minute)
    return [Rate(base="USD", currency=f"C{i:04d}", rate=1 + i / 1000, rate_ts=ts) for i in range(n)]


def key_of(source: str, minute: int) -> str:
    return raw_key(source, T0 + timedelta(minutes=minute))


@contextmanager
def fakesnow_server() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fakesnow", "-s", "-p", str(port), "--host", HOST],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) == 0:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the fakesnow server did not start on port {port}")
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def snowflake_statements() -> Iterator[list[str]]:
    """The statements the Snowflake connector sends while the block runs (counted where they leave the client)."""
    sent: list[str] = []
    real = SnowflakeConnection.cmd_query

    def counting(self: SnowflakeConnection, sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return real(self, sql, *args, **kwargs)

    SnowflakeConnection.cmd_query = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        SnowflakeConnection.cmd_query = real  # type: ignore[method-assign]


@contextmanager
def sqlalchemy_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements an engine executes while the block runs (SQLAlchemy's before_cursor_execute event)."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def timed(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    statements = run()
    return time.perf_counter() - started, statements


# --- Snowflake candidates --------------------------------------------------------------------------------------

MAX_VALUES_ROWS = 16_384  # Snowflake's limit on the rows of one VALUES list
CSV_FORMAT = "TYPE = CSV FIELD_OPTIONALLY_ENCLOSED_BY = '\"' ESCAPE_UNENCLOSED_FIELD = NONE"


def create_stage_sql(stage: str) -> str:
    columns = ", ".join(f"{name} {COLUMN_TYPES[name]}" for name in COLUMNS)
    return f"CREATE OR REPLACE TEMPORARY TABLE {stage} ({columns})"


def insert_sql(table: str, rows: int = 1) -> str:
    values = ", ".join("(" + ", ".join("?" for _ in COLUMNS) + ")" for _ in range(rows))
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES {values}"


def merge_from_stage_sql(table: str, stage: str) -> str:
    """The previous path's MERGE: from the stage table, matched on (symbol, ts) over the whole table."""
    on = " AND ".join(f"t.{c} = s.{c}" for c in KEY)
    update = ", ".join(f"{c} = s.{c}" for c in COLUMNS if c not in KEY)
    return (
        f"MERGE INTO {table} AS t USING {stage} AS s ON {on} "
        f"WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET {update} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(COLUMNS)}) VALUES ({', '.join('s.' + c for c in COLUMNS)})"
    )


def csv_file(params: list[tuple[Any, ...]]) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    for row in params:
        writer.writerow([v.isoformat() if isinstance(v, datetime) else v for v in row])
    return io.BytesIO(text.getvalue().encode())


Path_ = Callable[[SnowflakeSink, Any, list[tuple[Any, ...]]], None]


def array_binding(sink: SnowflakeSink, cursor: Any, params: list[tuple[Any, ...]]) -> None:
    stage = f"{sink.credentials.table}_STAGE"
    sink.execute(cursor, create_stage_sql(stage))
    cursor.executemany(insert_sql(stage), params)
    sink.execute(cursor, merge_from_stage_sql(sink.table, stage))


def multi_row_insert(sink: SnowflakeSink, cursor: Any, params: list[tuple[Any, ...]]) -> None:
    stage = f"{sink.credentials.table}_STAGE"
    sink.execute(cursor, create_stage_sql(stage))
    for first in range(0, len(params), MAX_VALUES_ROWS):
        chunk = params[first : first + MAX_VALUES_ROWS]
        sink.execute(cursor, insert_sql(stage, len(chunk)), [v for row in chunk for v in row])
    sink.execute(cursor, merge_from_stage_sql(sink.table, stage))


def put_copy_merge(sink: SnowflakeSink, cursor: Any, params: list[tuple[Any, ...]]) -> None:
    stage = f"{sink.credentials.table}_STAGE"
    sink.execute(cursor, create_stage_sql(stage))
    cursor.execute(f"PUT file://bars.csv @%{stage} OVERWRITE = TRUE", file_stream=csv_file(params))
    sink.execute(cursor, f"COPY INTO {stage} FROM @%{stage} FILE_FORMAT = ({CSV_FORMAT}) PURGE = TRUE")
    sink.execute(cursor, merge_from_stage_sql(sink.table, stage))


def json_merge(sink: SnowflakeSink, cursor: Any, params: list[tuple[Any, ...]]) -> None:
    sink.execute(cursor, merge_sql(sink.table, batch_window(params)), (rows_document(params),))


def json_merge_no_window(sink: SnowflakeSink, cursor: Any, params: list[tuple[Any, ...]]) -> None:
    sink.execute(cursor, merge_sql(sink.table), (rows_document(params),))


CANDIDATES: dict[str, tuple[str, Path_]] = {
    "(c) stage + array-bound INSERT + MERGE (previous)": ("BARS_ARRAY", array_binding),
    "(a) stage + multi-row INSERT + MERGE": ("BARS_VALUES", multi_row_insert),
    "(b) stage + PUT + COPY INTO + MERGE": ("BARS_COPY", put_copy_merge),
    "(d) one MERGE of a bound JSON document (chosen)": ("BARS_JSON", json_merge),
    "(d') the same, no ts window": ("BARS_JSON_NOWIN", json_merge_no_window),
}
BASELINE = next(iter(CANDIDATES))
SNOWFLAKE_SIZES = (50, 503)
REPEATS = 3  # files of 503 bars per candidate (the median is reported)
GROWTH_MINUTES = 40  # the chosen path, minute after minute: 20,120 rows at the end


def load_file(sink: SnowflakeSink, path: Path_, data: list[Bar], key: str) -> int:
    """One raw file through one candidate, as the sink runs it over fakesnow (a session per file)."""
    loaded_at = datetime.now(UTC)
    params = [bar_params(bar, key, loaded_at) for bar in data]
    with snowflake_statements() as sent:
        try:
            with sink.session(f"could not load {key}") as cursor:
                path(sink, cursor, params)
        except SinkError as exc:  # fakesnow's array binding can fail under load: recorded, not fatal
            print(f"  failed: {exc}", flush=True)
            return -1
    return len(sent)


def snowflake(port: int, folder: Path) -> tuple[list[Measure], list[tuple[int, float]]]:
    db_path = folder / "snowflake"
    db_path.mkdir()
    settings = Settings(
        snowflake_account="fakesnow", snowflake_user="fakesnow", snowflake_password="fakesnow",
        snowflake_host=HOST, snowflake_port=port, snowflake_protocol="http", snowflake_db_path=db_path,
        snowflake_login_timeout=60,  # the slowest candidate must not run into the connector's socket timeout
    )  # fmt: skip
    sinks: dict[str, SnowflakeSink] = {}
    for method, (table, _) in CANDIDATES.items():
        sinks[method] = SnowflakeSink.from_settings(Settings(snowflake=settings.snowflake, snowflake_table=table))
        sinks[method].load(bars(1, 0), key_of("yahoo_finance", 0))  # table created, server warmed up
    out = []
    minute = 1
    for n in SNOWFLAKE_SIZES:
        for _ in range(REPEATS if n == 503 else 1):
            data, key = bars(n, minute), key_of("yahoo_finance", minute)
            for method, (_, path) in CANDIDATES.items():  # interleaved: the machine's load hits all alike
                seconds, statements = timed(partial(load_file, sinks[method], path, data, key))
                out.append(Measure("Snowflake (fakesnow server)", method, n, seconds, statements))
                print(f"  snowflake {method:50s} {n:5d} rows {seconds:7.2f} s {statements:3d} statements", flush=True)
            minute += 1
    growth: list[tuple[int, float]] = []
    chosen = sinks["(d) one MERGE of a bound JSON document (chosen)"]
    for m in range(minute, minute + GROWTH_MINUTES):
        data, key = bars(503, m), key_of("yahoo_finance", m)
        seconds, _ = timed(partial(load_file, chosen, json_merge, data, key))
        growth.append((503 * (m - minute + 1), seconds))
    print(f"  snowflake growth: {growth[0][1]:.2f} s at first, {growth[-1][1]:.2f} s at {growth[-1][0]} rows")
    return out, growth


def sqlserver(folder: Path) -> list[Measure]:
    url = f"sqlite:///{folder / 'sqlserver.db'}"
    bulk = SqlServerSink.from_settings(Settings(sqlserver_url=url, sqlserver_table="fx_rates_bulk"))
    loop = SqlServerSink.from_settings(Settings(sqlserver_url=url, sqlserver_table="fx_rates_loop"))
    bulk.load(rates(1, 0), key_of("openexchangerates", 0))
    loop.load(rates(1, 0), key_of("openexchangerates", 0))
    out = []
    for minute, n in enumerate(SIZES, start=1):
        data, key = rates(n, minute), key_of("openexchangerates", minute)

        def load_bulk(data: list[Rate] = data, key: str = key) -> int:
            with sqlalchemy_statements(bulk.engine) as sent:
                bulk.load(data, key)
            return len(sent)

        def load_rows(data: list[Rate] = data, key: str = key) -> int:
            loaded_at = datetime.now(UTC)
            with loop.engine.begin() as connection:  # one transaction: the fairest row-by-row loop
                for rate in data:
                    connection.execute(sa.insert(loop.table).values(**rate_params(rate, key, loaded_at)))
            return len(data)

        for method, run in (("one upsert (SqlServerSink)", load_bulk), ("INSERT per row", load_rows)):
            seconds, statements = timed(run)
            out.append(Measure("SQL Server (SQLite file)", method, n, seconds, statements))
            print(f"  sqlserver {method:32s} {n:5d} rows {seconds:7.2f} s {statements:5d} statements", flush=True)
    bulk.close()
    loop.close()
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def snowflake_markdown(measures: list[Measure], growth: list[tuple[int, float]]) -> list[str]:
    lines = [
        "## Snowflake (fakesnow server, real connector): seconds per raw file",
        "",
        "Each file timed as the sink runs it over fakesnow: session opened, statements, session ended. 503 rows: "
        f"median of {REPEATS} files. Candidates interleaved file by file, so the machine's load hits all alike. "
        "Statements are those the connector sent for one file (table creation excluded; a PUT is two).",
        "",
        "| candidate | "
        + " | ".join(f"{n} rows (s)" for n in SNOWFLAKE_SIZES)
        + " | 503 rows: x faster than (c) | statements | failed files |",
        "| --- | " + " | ".join("---:" for _ in SNOWFLAKE_SIZES) + " | ---: | ---: | ---: |",
    ]
    by: dict[tuple[str, int], list[Measure]] = {}
    for m in measures:
        by.setdefault((m.method, m.rows), []).append(m)

    def seconds(method: str, n: int) -> float:
        return median([m.seconds for m in by[(method, n)] if m.statements >= 0])

    base = seconds(BASELINE, 503)
    for method in CANDIDATES:
        cells = [f"{seconds(method, n):.2f}" for n in SNOWFLAKE_SIZES]
        statements = max(m.statements for m in by[(method, 503)])
        failed = sum(m.statements < 0 for n in SNOWFLAKE_SIZES for m in by[(method, n)])
        lines.append(
            f"| {method} | {' | '.join(cells)} | {base / seconds(method, 503):.1f}x | {statements} | {failed} |"
        )
    lines += ["", "The chosen path (d), one file of 503 bars a minute, as the table grows:", ""]
    lines += ["| rows in the table after the file | seconds (median of 10 files around it) |", "| ---: | ---: |"]
    for i in range(9, len(growth), 10):
        lines.append(f"| {growth[i][0]:,} | {median([s for _, s in growth[max(0, i - 9) : i + 1]]):.2f} |")
    lines += [
        "",
        "fakesnow runs each statement through sqlglot's transforms and, for an array binding, once per row; a MERGE",
        "becomes a handful of DuckDB statements joining the whole target table (so no ts window can narrow it there).",
        "On Snowflake the window lets the MERGE prune the micro-partitions outside the batch's minutes; see",
        "`pipeline/sinks/README.md` for the reasoning behind the chosen path.",
        "",
    ]
    return lines


def markdown(measures: list[Measure], growth: list[tuple[int, float]]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Sinks: candidate load paths, measured in one run",
        "",
        f"`python -m benchmarks sinks` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load} at the end. Same rows, same server, one run.",
        "",
        *snowflake_markdown([m for m in measures if m.sink.startswith("Snowflake")], growth),
        "## SQL Server (SQLite file): one upsert per batch against row-by-row INSERT",
        "",
        "| rows per file | bulk rows/s | row-by-row rows/s | speed-up | bulk statements | row-by-row statements |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    pairs: dict[int, dict[str, Measure]] = {}
    for m in measures:
        if m.sink.startswith("SQL Server"):
            pairs.setdefault(m.rows, {})["loop" if "per row" in m.method else "bulk"] = m
    for rows, pair in pairs.items():
        bulk, loop = pair["bulk"], pair["loop"]
        lines.append(
            f"| {rows} | {bulk.rows_per_second:,.0f} | {loop.rows_per_second:,.0f} | "
            f"{bulk.rows_per_second / loop.rows_per_second:.1f}x | {bulk.statements} | {loop.statements} |"
        )
    lines += [
        "",
        "A SQLite file has no round trips, so there the two are about even; against SQL Server each row-by-row",
        "statement is one more network round trip, and the sink sends one MERGE per batch.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sinks-") as tmp:
        folder = Path(tmp)
        with fakesnow_server() as port:
            measures, growth = snowflake(port, folder)
        measures += sqlserver(folder)
    text = markdown(measures, growth)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sinks.md").write_text(text)
    print(text)
    print(f"written to {RESULTS / 'sinks.md'}")
