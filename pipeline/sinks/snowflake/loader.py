"""The Yahoo Finance sink: a Snowflake table of 1-minute bars, loaded in bulk and merged on (symbol, ts).

Each raw file costs the same statements whatever its row count:

1. `CREATE OR REPLACE TEMPORARY TABLE <table>_STAGE` (session-scoped, so concurrent loads never meet);
2. one array-bound `INSERT` into it (`executemany` with server-side binding: the connector sends the rows as
   one statement, and Snowflake stages large arrays itself);
3. one `MERGE` on (symbol, ts) into the table.

The MERGE is a single statement, so a raw file lands whole or not at all. A row that is already there is
replaced only by a raw file at least as recent (`raw_key` sorts by scheduled minute), so replaying an old event
never undoes a later correction. `CREATE TABLE IF NOT EXISTS` runs once per sink, on first use.

Only identifiers are ever formatted into the SQL, and they are checked in `configuration.py`; every value is
bound (qmark, server-side), so a symbol such as `x'); DROP TABLE t;--` is stored as data.

Locally the connector talks to a fakesnow server. fakesnow opens the database file per session and gives the
connector no master token, so the connector's own logout never reaches it; the sink ends its session itself and
opens one per load there, leaving the file free for the next client (`pipeline verify`, a notebook).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from pipeline import registry
from pipeline.constants import SourceId
from pipeline.contracts import to_utc
from pipeline.errors import classify_snowflake, one_line
from pipeline.schemas import Bar
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError, StoredRow, batch_params, sink_error
from pipeline.sinks.snowflake.configuration import SnowflakeCredentials

log = logging.getLogger(__name__)

COLUMNS: Final = ("SYMBOL", "TS", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "RAW_KEY", "LOADED_AT")
KEY: Final = ("SYMBOL", "TS")

COLUMN_TYPES: Final = {
    "SYMBOL": "VARCHAR(32) NOT NULL",
    "TS": "TIMESTAMP_TZ NOT NULL",
    "OPEN": "FLOAT NOT NULL",
    "HIGH": "FLOAT NOT NULL",
    "LOW": "FLOAT NOT NULL",
    "CLOSE": "FLOAT NOT NULL",
    "VOLUME": "NUMBER(38, 0) NOT NULL",
    "RAW_KEY": "VARCHAR(256) NOT NULL",
    "LOADED_AT": "TIMESTAMP_TZ NOT NULL",
}


def create_table_sql(table: str) -> str:
    columns = ", ".join(f"{name} {COLUMN_TYPES[name]}" for name in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({', '.join(KEY)}))"


def create_stage_sql(stage: str) -> str:
    columns = ", ".join(f"{name} {COLUMN_TYPES[name]}" for name in COLUMNS)
    return f"CREATE OR REPLACE TEMPORARY TABLE {stage} ({columns})"


def insert_sql(table: str) -> str:
    placeholders = ", ".join("?" for _ in COLUMNS)
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 (identifiers)


def merge_sql(table: str, stage: str) -> str:
    on = " AND ".join(f"t.{c} = s.{c}" for c in KEY)
    update = ", ".join(f"{c} = s.{c}" for c in COLUMNS if c not in KEY)
    return (
        f"MERGE INTO {table} AS t USING {stage} AS s ON {on} "  # noqa: S608 (identifiers only)
        f"WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET {update} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(COLUMNS)}) VALUES ({', '.join('s.' + c for c in COLUMNS)})"
    )


def bar_params(bar: Bar, raw_key: str, loaded_at: datetime) -> tuple[Any, ...]:
    return (bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, raw_key, loaded_at)


class SnowflakeSink:
    source: SourceId = "yahoo_finance"

    def __init__(self, credentials: SnowflakeCredentials) -> None:
        self.credentials = credentials
        self.table = credentials.qualified_table
        self.stage = f"{credentials.table}_STAGE"
        # Statements sent to Snowflake, in all and by the last load (the test and the benchmark read them).
        self.statements = 0
        self.last_load_statements = 0
        self._connection: Any = None
        self._table_ready = False

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> SnowflakeSink:
        return cls(SnowflakeCredentials.from_settings(settings))

    # -- loading ---------------------------------------------------------------------------------------------
    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        params = batch_params(
            rows, Bar, raw_key, self.credentials.where, key=registry.get("yahoo_finance").row_key, to_params=bar_params
        )
        if not params:
            return 0
        before = self.statements
        with self.session(f"could not load {raw_key}") as cursor:
            self.ensure_table(cursor)
            self.execute(cursor, create_stage_sql(self.stage))
            self.execute(cursor, insert_sql(self.stage), params, many=True)
            self.execute(cursor, merge_sql(self.table, self.stage))
        self.last_load_statements = self.statements - before
        return len(params)

    def ensure_table(self, cursor: Any) -> None:
        if not self._table_ready:
            self.execute(cursor, create_table_sql(self.table))
            self._table_ready = True

    def execute(self, cursor: Any, sql: str, params: Any = None, *, many: bool = False) -> Any:
        """One statement (an `executemany` of an INSERT is one statement: the rows go as an array binding)."""
        self.statements += 1
        if many:
            return cursor.executemany(sql, params)
        return cursor.execute(sql, params)

    # -- sessions --------------------------------------------------------------------------------------------
    @contextmanager
    def session(self, doing: str = "query failed") -> Iterator[Any]:
        """A cursor on an open connection; any driver error becomes one `SinkError` line (the event is retried).

        Against fakesnow the session ends when the block does (see the module docstring); against Snowflake the
        connection stays open for the next load and is dropped after an error.
        """
        import snowflake.connector

        try:
            connection = self._connect()
            with connection.cursor() as cursor:
                yield cursor
        except snowflake.connector.errors.Error as exc:
            self._disconnect()
            message = f"{self.credentials.where}: {doing}: {_driver_message(exc)}"
            raise sink_error(message, classify_snowflake(exc)) from None
        finally:
            if self.credentials.is_fakesnow:
                self._disconnect()

    def _connect(self) -> Any:
        import snowflake.connector

        if self._connection is None or self._connection.is_closed():
            try:
                self._connection = snowflake.connector.connect(**self.credentials.connect_args())
            except snowflake.connector.errors.Error as exc:
                raise SinkError(
                    f"{self.credentials.where}: cannot connect: {_driver_message(exc)} "
                    "(is it up and are the credentials right? the event will be retried)"
                ) from None  # transient whatever the cause: the event is fine, the connection is not
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self.credentials.is_fakesnow:
            end_fakesnow_session(connection, self.credentials)
        try:
            connection.close()
        except Exception as exc:  # closing a broken connection must not hide the error that broke it
            log.debug("closing the Snowflake connection failed: %s", one_line(exc))

    def close(self) -> None:
        self._disconnect()

    # -- reading back ----------------------------------------------------------------------------------------
    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredRow]:
        """Bars whose raw key is in [first_raw_key, last_raw_key] or whose ts is in [since, until]."""
        sql = f"SELECT SYMBOL, TS, RAW_KEY FROM {self.table} WHERE RAW_KEY BETWEEN ? AND ?"  # noqa: S608
        params: list[Any] = [first_raw_key, last_raw_key]
        if since is not None and until is not None:
            sql += " OR TS BETWEEN ? AND ?"
            params += [since, until]
        with self.session("could not read the bars") as cursor:
            if not self.table_exists(cursor):
                return []
            cursor.execute(sql, params)
            return [StoredRow((symbol, to_utc(ts)), raw_key) for symbol, ts, raw_key in cursor.fetchall()]

    def table_exists(self, cursor: Any) -> bool:
        """Whether the bars table exists yet (it is created on the first load)."""
        cursor.execute(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (self.credentials.schema_name.upper(), self.credentials.table.upper()),
        )
        return bool(cursor.fetchone()[0])


def end_fakesnow_session(connection: Any, credentials: SnowflakeCredentials) -> None:
    """Log out of a fakesnow server (the request the connector sends on close when it holds a master token)."""
    token = getattr(connection.rest, "token", None)
    if not token or not credentials.host:
        return
    request = urllib.request.Request(  # noqa: S310 (the configured fakesnow endpoint, http or https)
        f"{credentials.protocol}://{credentials.host}:{credentials.port}/session?delete=true",
        data=json.dumps({}).encode(),
        headers={"Authorization": f'Snowflake Token="{token}"', "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=credentials.login_timeout):  # noqa: S310
            pass
    except OSError as exc:  # the server is gone: so is the session
        log.debug("ending the fakesnow session failed: %s", one_line(exc))


def _driver_message(exc: BaseException) -> str:
    msg = getattr(exc, "raw_msg", None) or getattr(exc, "msg", None) or str(exc)
    return one_line(Exception(msg))
