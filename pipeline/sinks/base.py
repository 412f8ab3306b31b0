"""What every sink provides. One folder per sink, the same file names in each:
`configuration.py` (typed credentials/settings that refuse to be built incomplete) and `loader.py` (the Sink).

A sink's errors are of two kinds, decided where the driver's error is caught: `SinkError` (transient: the sink is
down, throttling or timing out; the event is retried) and `SinkRejected` (terminal: what was sent can never be
stored; the event is quarantined). A value the sink's column type cannot hold costs only its row: `refusals`
names those rows before anything is sent, and the process loads the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from pipeline.constants import SourceId
from pipeline.contracts import ContractError, parse_raw_key
from pipeline.errors import Kind, TerminalError, TransientError

T = TypeVar("T")
P = TypeVar("P")


class SinkError(TransientError):
    """A sink could not take the rows now (down, timing out, throttling): the message is retried later."""


class SinkRejected(TerminalError):
    """A sink refuses the rows for what they are (a value its type cannot hold, a bad key): retrying cannot help."""


class Sink(Protocol):
    source: SourceId

    def refusals(self, rows: Sequence[Any]) -> dict[int, str]:
        """The rows this sink's column types cannot hold, by index in `rows`, each with its reason (no I/O)."""
        ...

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        """Store the typed rows of one raw object, idempotently by natural key; returns rows written."""
        ...

    def close(self) -> None: ...


def sink_error(message: str, kind: Kind) -> SinkError | SinkRejected:
    """The sink error of a driver's failure once its kind is known (see the `pipeline.errors` classifiers)."""
    return SinkRejected(message) if kind == "terminal" else SinkError(message)


# --- what a column type can hold -------------------------------------------------------------------------------

Check = Callable[[Any], str | None]


def finite(value: Any) -> str | None:
    """A float column (Snowflake FLOAT, SQL Server FLOAT(53), Parquet double) holds finite numbers only here:
    JSON and the drivers have no infinity, and a NaN is not a price."""
    if value is None or (isinstance(value, float) and math.isfinite(value)) or isinstance(value, int):
        return None
    return f"{value!r} is not a finite number"


def integer_digits(digits: int) -> Check:
    """NUMBER(digits, 0) / DECIMAL(digits, 0): an integer of at most `digits` digits."""

    def check(value: Any) -> str | None:
        if value is None or (isinstance(value, int) and abs(value) < 10**digits):
            return None
        return f"{value!r} does not fit NUMBER({digits}, 0)"

    return check


def integer_bits(bits: int) -> Check:
    """A signed integer column of `bits` bits (Parquet int32, int64)."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value: Any) -> str | None:
        if value is None or (isinstance(value, int) and low <= value <= high):
            return None
        return f"{value!r} does not fit a {bits}-bit integer"

    return check


def text(max_length: int | None = None) -> Check:
    """A text column: no NUL character (the drivers and the tools that read the tables end a string there), and at
    most `max_length` characters."""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return f"{type(value).__name__} is not text"
        if "\x00" in value:
            return "holds a NUL character"
        if max_length is not None and len(value) > max_length:
            return f"{len(value):,} characters, over the column's {max_length}"
        return None

    return check


def timestamp(first: datetime, last: datetime) -> Check:
    """A timestamp column: an aware datetime whose UTC time lies in [first, last] (the type's range, or the range
    its readers can convert back)."""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            return f"{value!r} is not a UTC timestamp"
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            return f"{value.isoformat()} cannot be converted to UTC"
        if not first <= utc <= last:
            return f"{utc.isoformat()} is outside [{first:%Y-%m-%d}, {last:%Y-%m-%d}]"
        return None

    return check


def column_refusals(rows: Sequence[Any], model: type[BaseModel], columns: Mapping[str, Check]) -> dict[int, str]:
    """The rows that are not rows of `model`, or hold a value a column's check refuses: {index: reason}.

    Rows arrive typed: their row model validated them once, where the process typed the raw rows
    (`pipeline.process.type_rows`); a sink does not validate them again, it checks what its own column types can
    hold (a reason names the field: `close: inf is not a finite number`)."""
    refused: dict[int, str] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, model):
            refused[index] = f"a {type(row).__name__}, expected {model.__name__}"
            continue
        for name, check in columns.items():
            if (why := check(getattr(row, name, None))) is not None:
                refused[index] = f"{name}: {why}"
                break
    return refused


@dataclass(frozen=True)
class StoredRow:
    """One row as a sink holds it, for reconciliation: its natural key and the raw object it came from."""

    key: tuple[Any, ...]
    raw_key: str


def latest_by_key(rows: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """One row per natural key (a MERGE refuses duplicate source keys): a row repeating another exactly loads once.

    Rows of one raw object that share a key but hold other values are set aside by the process before a sink is
    called (`pipeline.process.conflicting`); should two still arrive, the batch is refused (`SinkRejected`), never
    the last one silently winning."""
    out: dict[Hashable, T] = {}
    for row in rows:
        held = out.setdefault(key(row), row)
        if held != row:
            raise SinkRejected(f"two rows for the key {key(row)!r} hold other values; nothing was written")
    return list(out.values())


def check_rows(
    rows: Sequence[Any], model: type[BaseModel], where: str, columns: Mapping[str, Check] | None = None
) -> None:
    """Every row is a row of the sink's model whose values its columns hold, or one error naming the first that is
    not.

    The process loads only rows the sink does not refuse (`Sink.refusals`); a caller that skipped the refusals is
    caught here by the same checks, before anything is sent, so a value the store cannot hold never reaches the
    driver and never leaves half a batch behind.
    """
    refused = column_refusals(rows, model, columns or {})
    if refused:
        index, reason = next(iter(refused.items()))
        raise SinkRejected(f"{where}: row {index + 1}: {reason}; nothing was written")


def batch_params(
    rows: Sequence[Any],
    model: type[BaseModel],
    raw_key: str,
    where: str,
    key: Callable[[Any], Hashable],
    to_params: Callable[[Any, str, datetime], P],
    columns: Mapping[str, Check] | None = None,
) -> list[P]:
    """The bound parameters of one raw object's rows: checked, one per natural key, with the raw key and load time.

    Everything is checked before anything is sent, so a bad row or key never leaves half a batch behind.
    """
    check_rows(rows, model, f"{where}: {raw_key}", columns)
    try:
        parse_raw_key(raw_key)
    except ContractError as exc:
        raise SinkRejected(f"{where}: {exc}") from None
    loaded_at = datetime.now(UTC)
    return [to_params(row, raw_key, loaded_at) for row in latest_by_key(rows, key)]


class Reconcilable(Protocol):
    """A sink that can say what it holds, for `pipeline verify`."""

    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None, until: datetime | None
    ) -> list[StoredRow]:
        """Rows whose raw key lies in [first_raw_key, last_raw_key], or whose natural time lies in [since, until]."""
        ...
