"""One processed event: read the raw object, keep success rows, validate and type them, load them into the sink.

Every row is accounted for: a success row loads or is rejected; an error row (the source's own) is skipped; a row
whose status is neither word, or whose fields do not match the header, is rejected (`pipeline.raw.row_problem`);
rows of the object sharing a natural key with other values are all rejected, an exact repeat loads once
(`conflicting`).

Rows are validated once, here, by their row model (`type_rows`); the sink then names the typed rows whose values
its column types cannot hold (`Sink.refusals`, which does not validate again). Row by row: a success row that does
not validate, or that the sink refuses, costs only itself. The good rows of the object are loaded, the bad ones
come back in `Processed.rejected` (line number, reason naming the field) for the caller to quarantine. A raw
object that cannot be read is a `TerminalError` when it is gone or refused (quarantined) and a `TransientError`
when S3 could not answer (retried with back-off). An event is only an instruction to read one object this pipeline
wrote (`accept_event`): its `rows` is never counted, what was loaded is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pipeline import registry
from pipeline.contracts import STATUS_SUCCESS, ContractError, Event, check_event, iso, parse_raw_key, to_utc
from pipeline.errors import TerminalError, TransientError, classify_botocore, one_line
from pipeline.quarantine import RejectedRow
from pipeline.raw import read_raw, row_problem
from pipeline.schemas import describe
from pipeline.sinks.base import Sink


def parse_event(body: str, expected_source: str | None = None) -> Event:
    """The event in an SQS message body; anything else is a poison message with a one-line error."""
    try:
        event = Event.model_validate_json(body)
    except ValidationError as exc:
        raise ContractError(f"not a pipeline event: {describe(exc)}") from None
    except ValueError as exc:  # a body that is not even text pydantic can read (bad UTF-8 surrogates...)
        raise ContractError(f"not a pipeline event: {one_line(exc)}") from None
    if expected_source and event.source != expected_source:
        raise ContractError(f"event for {event.source!r} reached the {expected_source!r} consumer")
    return event


def accept_event(body: str, *, source: str, bucket: str) -> Event:
    """The event in an SQS message body if this pipeline can have written it for `source`'s consumer: the
    configured `bucket`, a key under `raw/<source>/` in the contract layout, `scheduled_at` its key's minute
    (`pipeline.contracts.check_event`). Anything else is a poison message (a ContractError), decided before any
    object is read. The process and redrive functions and `quarantine retry` all accept events here."""
    event = parse_event(body, expected_source=source)
    check_event(event, bucket=bucket, source=source)
    return event


@dataclass(frozen=True)
class Processed:
    """What one event came to: rows the sink wrote, and the success rows that could not validate."""

    loaded: int
    rejected: tuple[RejectedRow, ...] = field(default_factory=tuple)


def read_rows(s3: Any, bucket: str, key: str, source: str) -> list[dict[str, str]]:
    """The raw object's rows, its S3 failures as the package's two kinds."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read_raw(s3, bucket, key, source)
    except (ClientError, BotoCoreError) as exc:
        where = f"s3://{bucket}/{key}: {one_line(exc)}"
        if classify_botocore(exc) == "terminal":
            raise TerminalError(where) from None
        raise TransientError(where) from None
    except UnicodeDecodeError as exc:
        raise ContractError(f"s3://{bucket}/{key}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def type_rows(
    source: str, rows: list[dict[str, str]], minute: datetime | None = None
) -> tuple[list[Any], list[RejectedRow]]:
    """(typed success rows, rejected success rows); line numbers count the header as line 1.

    With `minute` (the scheduled minute of the raw key the rows were read from), a row whose own `scheduled_at` is
    another minute is rejected: the raw object holds what one invocation fetched, never another minute's rows.
    """
    typed, rejected = _typed_lines(source, rows, minute)
    return [row for _, row in typed], rejected


def _typed_lines(
    source: str, rows: list[dict[str, str]], minute: datetime | None = None
) -> tuple[list[tuple[int, Any]], list[RejectedRow]]:
    spec = registry.get(source)
    model = spec.model()
    typed: list[tuple[int, Any]] = []
    rejected: list[RejectedRow] = []
    for line, row in enumerate(rows, start=2):
        if problem := row_problem(row):  # a ragged row, a status that is neither word: set aside, never skipped
            rejected.append(RejectedRow(line, problem, _cells(row)))
            continue
        if row.get("status") != STATUS_SUCCESS:
            continue
        try:
            typed_row = model.model_validate(row)
        except ValidationError as exc:
            rejected.append(RejectedRow(line, describe(exc), _cells(row)))
            continue
        if minute is not None and (why := _not_of_minute(row.get("scheduled_at"), minute)):
            rejected.append(RejectedRow(line, why, _cells(row)))
            continue
        typed.append((line, typed_row))
    conflicts, repeats = conflicting(spec, typed)
    rejected.extend(RejectedRow(line, why, _cells(rows[line - 2])) for line, why in conflicts.items())
    return [(line, row) for line, row in typed if line not in conflicts and line not in repeats], rejected


def conflicting(spec: registry.SourceSpec, typed: list[tuple[int, Any]]) -> tuple[dict[int, str], set[int]]:
    """({line: reason}, repeats) for the typed rows of one raw object sharing a natural key with another of its rows.

    Rows of a key that hold other values conflict: which is right is unknown, so each of them is set aside with a
    reason naming the key and the other lines (across raw objects, the later raw key wins: that is a revision).
    Rows that repeat the first of their key exactly are `repeats`: dropped, the first one loads."""
    groups: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
    for line, row in typed:
        groups.setdefault(spec.row_key(row), []).append((line, row))
    conflicts: dict[int, str] = {}
    repeats: set[int] = set()
    for key, members in groups.items():
        if len(members) < 2:
            continue
        if all(row == members[0][1] for _, row in members[1:]):
            repeats.update(line for line, _ in members[1:])
            continue
        named = ", ".join(
            f"{name}={iso(value) if isinstance(value, datetime) else value}"
            for name, value in zip(spec.natural_key, key, strict=True)
        )
        for line, _ in members:
            others = ", ".join(str(other) for other, _ in members if other != line)
            conflicts[line] = f"duplicate key {named}: line {others} holds the same key with other values"
    return conflicts, repeats


def _cells(row: dict[Any, Any]) -> dict[str, str]:
    """A row's cells for its quarantine record (a missing cell empty; the surplus of a ragged row dropped)."""
    return {k: "" if v is None else str(v) for k, v in row.items() if isinstance(k, str) and k}


def _not_of_minute(scheduled_at: str | None, minute: datetime) -> str | None:
    """Why a row's `scheduled_at` is not its raw key's minute, or None when it is."""
    try:
        at = to_utc(scheduled_at or "")
    except (ContractError, ValueError):
        return f"scheduled_at: {scheduled_at!r} is not a time (its raw key's minute is {iso(minute)})"
    if at != minute:
        return f"scheduled_at: {scheduled_at!r} is not its raw key's minute {iso(minute)}"
    return None


def process_event(event: Event, *, s3: Any, sink: Sink) -> Processed:
    """Load one raw object's valid success rows; the invalid ones, and those whose values the sink's column types
    cannot hold (`Sink.refusals`), come back rejected, never loaded."""
    rows = read_rows(s3, event.bucket, event.key, event.source)
    _, minute = parse_raw_key(event.key)
    typed, rejected = _typed_lines(event.source, rows, minute)
    refusals = getattr(sink, "refusals", None)  # a sink without the check refuses a whole batch in `load`
    refused = refusals([row for _, row in typed]) if refusals is not None else {}
    for index, reason in refused.items():
        line = typed[index][0]
        rejected.append(RejectedRow(line, f"refused by the sink: {reason}", _cells(rows[line - 2])))
    good = [row for index, (_, row) in enumerate(typed) if index not in refused]
    loaded = sink.load(good, event.key) if good or not rejected else 0
    return Processed(loaded, tuple(sorted(rejected, key=lambda r: r.line)))
