"""What every sink provides. One folder per sink, the same file names in each:
`configuration.py` (typed credentials/settings that refuse to be built incomplete) and `loader.py` (the Sink)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.constants import SourceId
from pipeline.contracts import ContractError, parse_raw_key
from pipeline.errors import Kind, TerminalError, TransientError
from pipeline.schemas import describe

T = TypeVar("T")
P = TypeVar("P")


class SinkError(TransientError):
    """A sink could not take the rows now (down, timing out, throttling): the message is retried later."""


class SinkRejected(TerminalError, SinkError):
    """A sink refuses the rows for what they are (a row it cannot store, a bad key): retrying cannot help."""

    kind: Kind = "terminal"


class Sink(Protocol):
    source: SourceId

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        """Store the typed rows of one raw object, idempotently by natural key; returns rows written."""
        ...

    def close(self) -> None: ...


def sink_error(message: str, kind: Kind) -> SinkError:
    """The sink error of a driver's failure once its kind is known (see the `pipeline.errors` classifiers)."""
    return SinkRejected(message) if kind == "terminal" else SinkError(message)


@dataclass(frozen=True)
class StoredRow:
    """One row as a sink holds it, for reconciliation: its natural key and the raw object it came from."""

    key: tuple[Any, ...]
    raw_key: str


def latest_by_key(rows: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """One row per natural key, the last one of the batch winning (a MERGE refuses duplicate source keys)."""
    return list({key(row): row for row in rows}.values())


def check_rows(rows: Sequence[Any], model: type[BaseModel], where: str) -> None:
    """Every row is a valid row of the sink's model, or one error naming the first that is not.

    Rows normally arrive validated; a row built around validation (`model_construct`) is caught here, before
    anything is sent, so a bad row never leaves half a batch behind.
    """
    for line, row in enumerate(rows, start=1):
        if not isinstance(row, model):
            raise SinkRejected(f"{where}: row {line} is a {type(row).__name__}, expected {model.__name__}")
        try:
            model.model_validate(row.__dict__)
        except ValidationError as exc:
            raise SinkRejected(f"{where}: row {line}: {describe(exc)}; nothing was written") from None


def batch_params(
    rows: Sequence[Any],
    model: type[BaseModel],
    raw_key: str,
    where: str,
    key: Callable[[Any], Hashable],
    to_params: Callable[[Any, str, datetime], P],
) -> list[P]:
    """The bound parameters of one raw object's rows: checked, one per natural key, with the raw key and load time.

    Everything is checked before anything is sent, so a bad row or key never leaves half a batch behind.
    """
    check_rows(rows, model, f"{where}: {raw_key}")
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
