"""The Yahoo Finance sink: a Snowflake table of 1-minute bars, merged on (symbol, ts) in one statement per raw file.

Each raw file costs one statement whatever its row count (plus `CREATE TABLE IF NOT EXISTS` once per sink):

    MERGE INTO <table> AS t
    USING (SELECT f.value[0]::VARCHAR AS SYMBOL, ... FROM (SELECT PARSE_JSON(?) AS doc) AS d,
           LATERAL FLATTEN(INPUT => d.doc) AS f) AS s
    ON t.SYMBOL = s.SYMBOL AND t.TS = s.TS AND t.TS BETWEEN <first ts> AND <last ts>
    WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE ...
    WHEN NOT MATCHED THEN INSERT ...

The rows travel as one bound JSON document (an array of row arrays): the SQL text stays the same size whatever the
file holds, nothing is staged, no temporary table is made, and the file lands whole or not at all. A row that is
already there is replaced only by a raw file at least as recent (`raw_key` sorts by scheduled minute), so replaying an
old event never undoes a later correction. The `TS BETWEEN` window (the batch's own first and last bar) lets
Snowflake prune the table's micro-partitions, which arrive in time order, so the MERGE reads the few partitions of
those minutes instead of the whole table as it grows. Why this path and not a staged file or an array binding is in
the sinks' README (measured by `make bench`, see `benchmarks/bench_sinks.py`).

Only identifiers and the window's two timestamps (datetimes the sink formats itself) are ever written into the SQL;
identifiers are checked in `configuration.py`, and every row value is bound inside the JSON document, so a symbol such
as `x'); DROP TABLE t;--` is stored as data.

Locally the connector talks to a fakesnow server. fakesnow opens the database file per session and gives the
connector no master token, so the connector's own logout never reaches it; the sink ends its session itself and
opens one per load there, leaving the file free for the next client (`pipeline verify`, a notebook).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from pipeline import registry
from pipeline.constants import SourceId
from pipeline.contracts import to_utc
from pipeline.errors import SNOWFLAKE_SESSION_EXPIRED, classify_snowflake, one_line
from pipeline.schemas import Bar
from pipeline.settings import Settings
from pipeline.sinks.base import (
    Check,
    SinkError,
    SinkRejected,
    StoredRow,
    batch_params,
    column_refusals,
    finite,
    integer_bits,
    integer_digits,
    sink_error,
    text,
    timestamp,
)
from pipeline.sinks.snowflake.configuration import SnowflakeCredentials

log = logging.getLogger(__name__)
T = TypeVar("T")

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


# What each column can hold, checked in Python before anything is sent: a value the server would refuse for its
# type costs only its row, and never reaches a statement (see `SnowflakeSink.session` for what a refused
# statement does to the local stand-in). Snowflake recommends years 1582 to 9999 for timestamps; the last day is
# left out so that every offset of a stored time still converts. VOLUME is NUMBER(38, 0), but the rows travel as
# one JSON document whose integers are read exactly only up to 2**63 - 1 (beyond, as a rounded double): a larger
# volume would be stored as another number, so it is refused.
VALUE_CHECKS: Final[dict[str, Check]] = {
    "symbol": text(32),
    "ts": timestamp(datetime(1582, 10, 15, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
    "open": finite,
    "high": finite,
    "low": finite,
    "close": finite,
    "volume": lambda v: integer_digits(38)(v) or integer_bits(64)(v),
}


def create_table_sql(table: str) -> str:
    columns = ", ".join(f"{name} {COLUMN_TYPES[name]}" for name in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({', '.join(KEY)}))"


# How each column is read back out of the bound JSON document (a VARIANT) in the MERGE's source.
CASTS: Final = {
    "SYMBOL": "VARCHAR",
    "TS": "TIMESTAMP_TZ",
    "OPEN": "FLOAT",
    "HIGH": "FLOAT",
    "LOW": "FLOAT",
    "CLOSE": "FLOAT",
    "VOLUME": "NUMBER(38, 0)",
    "RAW_KEY": "VARCHAR",
    "LOADED_AT": "TIMESTAMP_TZ",
}
_TIMESTAMP_LITERAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00:00$")


def source_sql() -> str:
    """The MERGE's source: the rows of the one bound JSON document, typed as the table's columns."""
    columns = ", ".join(f"f.value[{i}]::{CASTS[name]} AS {name}" for i, name in enumerate(COLUMNS))
    return f"SELECT {columns} FROM (SELECT PARSE_JSON(?) AS doc) AS d, LATERAL FLATTEN(INPUT => d.doc) AS f"  # noqa: S608 - constant columns, the rows are bound


def timestamp_literal(ts: datetime) -> str:
    """A UTC datetime as a TIMESTAMP_TZ literal (only datetimes the sink holds, never text from a file)."""
    text = to_utc(ts).isoformat()
    if not _TIMESTAMP_LITERAL.match(text):  # pragma: no cover - isoformat of a UTC datetime always matches
        raise ValueError(f"not a UTC timestamp: {text!r}")
    return f"'{text}'::TIMESTAMP_TZ"


# Rows a MERGE carries at most: a raw object of a live minute holds ~700 bars (a fifth of the universe over the
# look-back), a backfilled hour of the whole universe ~30,000, which one statement would make the local Snowflake
# (DuckDB expanding the bound JSON) take tens of GB; chunks keep every statement the size of a live minute's.
MERGE_ROWS: Final = 1_000


def merge_sql(table: str, window: tuple[datetime, datetime] | None = None) -> str:
    """One MERGE of a bound JSON document of rows into the table; `window` (first, last ts) narrows the match."""
    on = " AND ".join(f"t.{c} = s.{c}" for c in KEY)
    if window is not None:
        on += f" AND t.TS BETWEEN {timestamp_literal(window[0])} AND {timestamp_literal(window[1])}"
    update = ", ".join(f"{c} = s.{c}" for c in COLUMNS if c not in KEY)
    return (
        f"MERGE INTO {table} AS t USING ({source_sql()}) AS s ON {on} "  # noqa: S608 (identifiers only)
        f"WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET {update} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(COLUMNS)}) VALUES ({', '.join('s.' + c for c in COLUMNS)})"
    )


def bar_params(bar: Bar, raw_key: str, loaded_at: datetime) -> tuple[Any, ...]:
    return (bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, raw_key, loaded_at)


def rows_document(params: Sequence[tuple[Any, ...]]) -> str:
    """The rows as one JSON array of arrays (datetimes in ISO 8601 with their offset, floats round-tripping)."""

    def value(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime) else v

    return json.dumps([[value(v) for v in row] for row in params], allow_nan=False, separators=(",", ":"))


def batch_window(params: Sequence[tuple[Any, ...]]) -> tuple[datetime, datetime]:
    """The first and last bar time of a batch (the MERGE's match window)."""
    times = [row[1] for row in params]
    return min(times), max(times)


class SnowflakeSink:
    source: SourceId = "yahoo_finance"

    def __init__(self, credentials: SnowflakeCredentials) -> None:
        self.credentials = credentials
        self.table = credentials.qualified_table
        self._connection: Any = None
        self._table_ready = False

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> SnowflakeSink:
        return cls(SnowflakeCredentials.from_settings(settings))

    # -- loading ---------------------------------------------------------------------------------------------
    def refusals(self, rows: Sequence[Any]) -> dict[int, str]:
        """The bars the table cannot hold (see `VALUE_CHECKS`), by index, with the reason."""
        return column_refusals(rows, Bar, VALUE_CHECKS)

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        params = batch_params(
            rows, Bar, raw_key, self.credentials.where, key=registry.get("yahoo_finance").row_key,
            to_params=bar_params, columns=VALUE_CHECKS,
        )  # fmt: skip
        if not params:
            return 0
        chunks = [params[i : i + MERGE_ROWS] for i in range(0, len(params), MERGE_ROWS)]
        try:
            statements = [(merge_sql(self.table, batch_window(chunk)), rows_document(chunk)) for chunk in chunks]
        except ValueError as exc:  # pragma: no cover - the checks above refuse what JSON cannot write
            raise SinkRejected(f"{self.credentials.where}: {raw_key}: {exc}; nothing was written") from None

        def merge(cursor: Any) -> None:
            self.ensure_table(cursor)
            for sql, document in statements:  # each MERGE idempotent by (symbol, ts): a retry redoes them all
                self.execute(cursor, sql, (document,))

        self.run(f"could not load {raw_key}", merge)
        return len(params)

    def ensure_table(self, cursor: Any) -> None:
        if not self._table_ready:
            self.execute(cursor, create_table_sql(self.table))
            self._table_ready = True

    def execute(self, cursor: Any, sql: str, params: Any = None) -> Any:
        """One statement sent to Snowflake."""
        return cursor.execute(sql, params)

    # -- sessions --------------------------------------------------------------------------------------------
    def run(self, doing: str, work: Callable[[Any], T]) -> T:
        """`work(cursor)` in a session. When Snowflake says the session has expired (390112, a warm Lambda whose
        connection outlived its session), sign in again and run it once more instead of failing the record."""
        try:
            with self.session(doing) as cursor:
                return work(cursor)
        except SessionExpired:
            log.warning("%s: the Snowflake session has expired: signing in again", self.credentials.where)
        with self.session(doing) as cursor:
            return work(cursor)

    @contextmanager
    def session(self, doing: str = "query failed") -> Iterator[Any]:
        """A cursor on an open connection; a driver error becomes one line of its kind: `SinkRejected` when the
        server refuses the statement for what it is (a `ProgrammingError`, such as SQL state 22007 for a value its
        type cannot take), `SinkError` when it could not answer (down, timing out, a session to sign in again).

        Against fakesnow the session ends when the block does (see the module docstring); against Snowflake the
        connection stays open for the next load. After an error the open transaction is rolled back and the
        connection dropped, so nothing a refused statement left behind reaches the next load.
        """
        import snowflake.connector

        try:
            connection = self._connect()
            with connection.cursor() as cursor:
                yield cursor
        except snowflake.connector.errors.Error as exc:
            self._reset()
            raise self._translate(exc, doing) from None
        finally:
            if self.credentials.is_fakesnow:
                self._disconnect()

    def _translate(self, exc: BaseException, doing: str) -> SinkError | SinkRejected:
        """A connector error as the sink's error of its kind (decided here, where it is caught)."""
        message = f"{self.credentials.where}: {doing}: {_driver_message(exc)}"
        if getattr(exc, "errno", None) == SNOWFLAKE_SESSION_EXPIRED:
            return SessionExpired(message)
        if any(sign in str(exc) for sign in DUCKDB_LOCK_SIGNS):
            return SinkError(f"{self.credentials.where}: {doing}: {self._lock_message()}")
        kind = classify_snowflake(exc)
        if kind == "terminal":
            return SinkRejected(message)
        if (held := self._held_by_another_session(exc)) is not None:
            return SinkError(f"{self.credentials.where}: {doing}: {held}")
        return sink_error(message, kind)

    def _reset(self) -> None:
        """Roll back whatever the failed statement left open, then drop the connection (a new one next time)."""
        connection = self._connection
        if connection is not None and not connection.is_closed():
            try:
                connection.rollback()
            except Exception as exc:  # a connection already broken has nothing left to roll back
                log.debug("rolling back after an error failed: %s", one_line(exc))
        self._disconnect()

    def _connect(self) -> Any:
        use_tmp_for_connector_caches()
        import snowflake.connector

        if self._connection is None or self._connection.is_closed():
            try:
                self._connection = snowflake.connector.connect(**self.credentials.connect_args())
            except snowflake.connector.errors.Error as exc:
                if (held := self._held_by_another_session(exc)) is not None:
                    raise SinkError(f"{self.credentials.where}: cannot connect: {held}") from None
                raise SinkError(
                    f"{self.credentials.where}: cannot connect: {_driver_message(exc)} "
                    "(is it up and are the credentials right? the event will be retried)"
                ) from None  # transient whatever the cause: the event is fine, the connection is not
        return self._connection

    def _held_by_another_session(self, exc: BaseException) -> str | None:
        """Against fakesnow: why the database file cannot be opened when another session holds it, else None."""
        if not self.credentials.is_fakesnow or self.credentials.db_path is None:
            return None
        path = self.credentials.db_path / f"{self.credentials.database}.db"
        if not any(sign in str(exc) for sign in DUCKDB_LOCK_SIGNS) and not database_file_locked(path):
            return None
        return self._lock_message()

    def _lock_message(self) -> str:
        path = (self.credentials.db_path or Path(".")) / f"{self.credentials.database}.db"
        return (
            f"another session holds the lock on the local Snowflake's database file {path} "
            "(a connector session left open, in a notebook or a shell?): end it with "
            "`pipeline.sinks.snowflake.end_fakesnow_session(connection, credentials)`, query through "
            "`workbench.local.snowflake.query(...)` next time, or restart the local stack; the event will be retried"
        )

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

        def read(cursor: Any) -> list[StoredRow]:
            if not self.table_exists(cursor):
                return []
            cursor.execute(sql, params)
            return [StoredRow((symbol, to_utc(ts)), raw_key) for symbol, ts, raw_key in cursor.fetchall()]

        return self.run("could not read the bars", read)

    def table_exists(self, cursor: Any) -> bool:
        """Whether the bars table exists yet (it is created on the first load)."""
        cursor.execute(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (self.credentials.schema_name.upper(), self.credentials.table.upper()),
        )
        return bool(cursor.fetchone()[0])


class SessionExpired(SinkError):
    """Snowflake ended the session (390112); `SnowflakeSink.run` signs in again once."""


# What DuckDB says when a database file is held by another connection (the fakesnow server's sessions).
DUCKDB_LOCK_SIGNS: Final = ("Could not set lock on file", "Conflicting lock is held", "Unique file handle conflict")
CACHE_DIR_VARIABLES: Final = {
    # The connector's OCSP response cache (read when the connector module is imported).
    "SF_OCSP_RESPONSE_CACHE_DIR": "ocsp",
    # Its token cache (unused: client_store_temporary_credential is off, but never under HOME either).
    "SF_TEMPORARY_CREDENTIAL_CACHE_DIR": "credentials",
}


def use_tmp_for_connector_caches() -> None:
    """Point the connector's caches at the temporary directory (HOME is read-only in Lambda; /tmp is writable).

    A variable already set wins. The OCSP cache directory is read when the connector is imported, so it is
    re-read here when the connector was imported first.
    """
    root = Path(tempfile.gettempdir()) / "snowflake"
    changed = False
    for name, folder in CACHE_DIR_VARIABLES.items():
        if name not in os.environ:
            (root / folder).mkdir(parents=True, exist_ok=True)
            os.environ[name] = str(root / folder)
            changed = True
    if changed and "snowflake.connector.ocsp_snowflake" in sys.modules:
        sys.modules["snowflake.connector.ocsp_snowflake"].OCSPCache.reset_cache_dir()


def database_file_locked(path: Path) -> bool:
    """Whether another process holds DuckDB's lock on a database file (fakesnow's server, for an open session)."""
    import fcntl

    try:
        with path.open("rb") as file:
            fcntl.lockf(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.lockf(file, fcntl.LOCK_UN)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return False


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
