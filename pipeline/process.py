"""One processed event: read the raw object, keep success rows, validate and type them, load them into the sink."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pipeline.contracts import ContractError, Event
from pipeline.raw import read_raw, success_rows
from pipeline.schemas import describe, validate_rows
from pipeline.sinks.base import Sink


def parse_event(body: str, expected_source: str | None = None) -> Event:
    """The event in an SQS message body; anything else is a poison message with a one-line error."""
    try:
        event = Event.model_validate_json(body)
    except ValidationError as exc:
        raise ContractError(f"not a pipeline event: {describe(exc)}") from None
    if expected_source and event.source != expected_source:
        raise ContractError(f"event for {event.source!r} reached the {expected_source!r} consumer")
    return event


def process_event(event: Event, *, s3: Any, sink: Sink) -> int:
    """Load one raw object's success rows; returns the rows the sink wrote. All or nothing."""
    rows = success_rows(read_raw(s3, event.bucket, event.key, event.source))
    typed = validate_rows(event.source, rows, where=f"s3://{event.bucket}/{event.key}")
    return sink.load(typed, event.key)
