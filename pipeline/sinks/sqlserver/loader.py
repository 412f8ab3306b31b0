"""The Open Exchange Rates sink: a table of rates keyed on (base, currency, rate_ts), upserted per batch.

One upsert per batch, inside one transaction (all or nothing):

- SQL Server: `MERGE <table> WITH (HOLDLOCK)` from a VALUES table constructor of bound parameters (HOLDLOCK makes
  the MERGE's match-then-insert atomic under concurrency). SQL Server takes at most 2,100 parameters a statement,
  so a batch above `MSSQL_ROWS_PER_MERGE` rows is split, still in the one transaction; a day's rates fit one.
- SQLite (local): `INSERT ... ON CONFLICT (base, currency, rate_ts) DO UPDATE`.

A row that is already there is replaced only by a raw file at least as recent (`raw_key` sorts by scheduled
minute): a cached payload served again, or a replay, leaves one row per natural key and never undoes a later
one. Every value is a bound parameter; only the table name (checked in `configuration.py`) is quoted into SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError

from pipeline import registry
from pipeline.constants import SourceId
from pipeline.contracts import to_utc
from pipeline.errors import classify_sqlalchemy, one_line
from pipeline.schemas import Rate
from pipeline.settings import Settings
from pipeline.sinks.base import (
    Check,
    SinkError,
    SinkRejected,
    StoredRow,
    batch_params,
    column_refusals,
    finite,
    sink_error,
    text,
    timestamp,
)
from pipeline.sinks.sqlserver.configuration import SqlServerConfig

KEY: Final = ("base", "currency", "rate_ts")
COLUMNS: Final = ("base", "currency", "rate_ts", "rate", "raw_key", "loaded_at")
MSSQL_ROWS_PER_MERGE: Final = 300  # 6 parameters a row, at most 2,100 a statement
SQLITE_ROWS_PER_UPSERT: Final = 5000  # at most 32,766 variables a statement

# Times are stored in UTC, without an offset (DATETIME2 on SQL Server).
UtcDateTime = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")  # type: ignore[no-untyped-call]


# What each column can hold, checked before anything is sent: FLOAT(53) has no infinity or NaN (pymssql and
# SQL Server refuse them), DATETIME2 runs from year 1 to 9999, and the key columns are NVARCHAR(8).
_DATETIME2: Final = timestamp(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
VALUE_CHECKS: Final[dict[str, Check]] = {
    "base": text(8),
    "currency": text(8),
    "rate": finite,
    "rate_ts": _DATETIME2,
}


def rates_table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("base", sa.String(8), primary_key=True),
        sa.Column("currency", sa.String(8), primary_key=True),
        sa.Column("rate_ts", UtcDateTime, primary_key=True, comment="UTC"),
        sa.Column("rate", sa.Float(53), nullable=False),
        sa.Column("raw_key", sa.String(256), nullable=False),
        sa.Column("loaded_at", UtcDateTime, nullable=False, comment="UTC"),
    )


def naive_utc(value: datetime) -> datetime:
    return to_utc(value).replace(tzinfo=None)


def rate_params(rate: Rate, raw_key: str, loaded_at: datetime) -> dict[str, Any]:
    return {
        "base": rate.base,
        "currency": rate.currency,
        "rate_ts": naive_utc(rate.rate_ts),
        "rate": rate.rate,
        "raw_key": raw_key,
        "loaded_at": naive_utc(loaded_at),
    }


def mssql_merge(table: sa.Table, rows: int, dialect: Dialect | None = None) -> sa.TextClause:
    """`MERGE ... WITH (HOLDLOCK)` for `rows` rows, every value a bind parameter `<column>_<i>`."""
    quote = (dialect or mssql.dialect()).identifier_preparer.quote  # type: ignore[no-untyped-call]
    name = quote(table.name)
    cols = {c: quote(c) for c in COLUMNS}
    values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in COLUMNS) + ")" for i in range(rows))
    on = " AND ".join(f"t.{cols[c]} = s.{cols[c]}" for c in KEY)
    update = ", ".join(f"{cols[c]} = s.{cols[c]}" for c in COLUMNS if c not in KEY)
    insert_cols = ", ".join(cols[c] for c in COLUMNS)
    sql = (
        f"MERGE INTO {name} WITH (HOLDLOCK) AS t "  # noqa: S608 (quoted identifiers and :placeholders only)
        f"USING (VALUES {values}) AS s ({insert_cols}) "
        f"ON {on} "
        f"WHEN MATCHED AND s.{cols['raw_key']} >= t.{cols['raw_key']} THEN UPDATE SET {update} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({', '.join('s.' + cols[c] for c in COLUMNS)});"
    )
    types = {c: table.c[c].type for c in COLUMNS}
    return sa.text(sql).bindparams(*(sa.bindparam(f"{c}_{i}", type_=types[c]) for i in range(rows) for c in COLUMNS))


def sqlite_upsert(table: sa.Table, params: list[dict[str, Any]]) -> Any:
    """`INSERT ... VALUES (...), (...) ON CONFLICT (base, currency, rate_ts) DO UPDATE` with bound values."""
    statement = sqlite_insert(table).values(params)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c[c] for c in KEY],
        set_={c: excluded[c] for c in COLUMNS if c not in KEY},
        where=excluded.raw_key >= table.c.raw_key,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlServerSink:
    source: SourceId = "openexchangerates"

    def __init__(self, config: SqlServerConfig, engine: Engine | None = None) -> None:
        self.config = config
        self.table = rates_table(config.table)
        self.engine = engine or self._engine(config)
        self._table_ready = False

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: Engine | None = None, **_: Any) -> SqlServerSink:
        return cls(SqlServerConfig.from_settings(settings), engine)

    @staticmethod
    def _engine(config: SqlServerConfig) -> Engine:
        url = config.sa_url
        mssql_args = {"login_timeout": 10, "timeout": 60}
        connect_args = mssql_args if url.get_backend_name() == "mssql" else {"timeout": 15}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def refusals(self, rows: Sequence[Any]) -> dict[int, str]:
        """The rates the table cannot hold (see `VALUE_CHECKS`), by index, with the reason."""
        return column_refusals(rows, Rate, VALUE_CHECKS)

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        """Upsert the rates in one transaction. A value the database refuses (`DataError`, `IntegrityError`, a
        number the driver cannot bind) rolls the transaction back and is `SinkRejected`; a database that is down,
        locked or timing out (`OperationalError`) is a `SinkError`, retried."""
        where = self.config.where
        params = batch_params(
            rows, Rate, raw_key, where, key=registry.get("openexchangerates").row_key, to_params=rate_params,
            columns=VALUE_CHECKS,
        )  # fmt: skip
        if not params:
            return 0
        try:
            with self.engine.begin() as connection:
                self.ensure_table(connection)
                self.upsert(connection, params)
        except SQLAlchemyError as exc:
            message = f"{where}: could not load {raw_key}: {_driver_message(exc)}"
            raise sink_error(message, classify_sqlalchemy(exc)) from None
        except (OverflowError, ValueError, TypeError) as exc:  # a value the driver cannot bind, before any SQL ran
            raise SinkRejected(f"{where}: could not load {raw_key}: {one_line(exc)}; nothing was written") from None
        return len(params)

    def ensure_table(self, connection: Connection) -> None:
        if not self._table_ready:
            self.table.create(connection, checkfirst=True)
            self._table_ready = True

    def upsert(self, connection: Connection, params: list[dict[str, Any]]) -> None:
        if self.backend == "mssql":
            for chunk in _chunks(params, MSSQL_ROWS_PER_MERGE):
                merge = mssql_merge(self.table, len(chunk), self.engine.dialect)
                bound = {f"{c}_{i}": row[c] for i, row in enumerate(chunk) for c in COLUMNS}
                connection.execute(merge, bound)
        else:
            for chunk in _chunks(params, SQLITE_ROWS_PER_UPSERT):
                connection.execute(sqlite_upsert(self.table, chunk))

    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredRow]:
        """Rates whose raw key is in [first_raw_key, last_raw_key] or whose rate_ts is in [since, until]."""
        t = self.table.c
        condition: sa.ColumnElement[bool] = t.raw_key.between(first_raw_key, last_raw_key)
        if since is not None and until is not None:
            condition = sa.or_(condition, t.rate_ts.between(naive_utc(since), naive_utc(until)))
        query = sa.select(t.base, t.currency, t.rate_ts, t.raw_key).where(condition)
        try:
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table(self.table.name):
                    return []
                result = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise SinkError(f"{self.config.where}: could not read the rates: {_driver_message(exc)}") from None
        return [StoredRow((base, cur, to_utc(ts)), raw) for base, cur, ts, raw in result]

    def close(self) -> None:
        self.engine.dispose()


def _driver_message(exc: SQLAlchemyError) -> str:
    """The driver's own first line (SQLAlchemy appends the whole statement and its parameters)."""
    orig = getattr(exc, "orig", None)
    return one_line(orig) if orig is not None else one_line(exc)
