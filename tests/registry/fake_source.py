"""A fake fourth source, declared by the registry tests only: Treasury yields, with a row model and an in-memory sink.

It has what CONTRIBUTING.md asks of a source: a source folder (`tests/registry/treasury_yields/`, the shape of
every folder under `pipeline/sources/`) whose `SOURCE` has a fetch (here only the simulated twin: there is no live
service to call), a parser and a payload loader; here, a pydantic row model (`pipeline/schemas.py` in the project)
a sink with `from_settings`, `load`, `stored_rows` and `close` (`pipeline/sinks/<name>/`); and the three entry
points a contributor adds to `pipeline/handlers/ingest.py`, `process.py` and `redrive.py` (here defined below, and
set on those modules by `declared()` only while a test runs).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from pipeline import registry
from pipeline.handlers import (
    SQS_DEDUPLICATION_ID,
    Handler,
    Kind,
    callable_outside_lambda,
    handler_module,
    ingest,
    process,
    redrive,
)
from pipeline.registry import SourceSpec
from pipeline.schemas import UtcDatetime, _Row
from pipeline.settings import Settings
from pipeline.sinks.base import StoredRow, batch_params

ID = "treasury_yields"


class Yield(_Row):
    """One Treasury yield, in percent, as published at `quote_ts`."""

    tenor: str = Field(min_length=2, max_length=4)
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class MemorySink:
    """A minimal sink that keeps rows in memory, keyed by natural key (idempotent, as every sink is)."""

    held: ClassVar[dict[tuple[Any, ...], StoredRow]] = {}
    built: ClassVar[int] = 0

    def __init__(self) -> None:
        self.source = ID

    @classmethod
    def from_settings(cls, settings: Settings, **clients: Any) -> MemorySink:
        cls.built += 1
        return cls()

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        params = batch_params(
            rows, Yield, raw_key, "memory", key=lambda r: (r.tenor, r.quote_ts), to_params=lambda r, k, _: (r, k)
        )
        for row, key in params:
            self.held[(row.tenor, row.quote_ts)] = StoredRow((row.tenor, row.quote_ts), key)
        return len(params)

    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None, until: datetime | None
    ) -> list[StoredRow]:
        return [row for row in self.held.values() if first_raw_key <= row.raw_key <= last_raw_key]

    def close(self) -> None:
        pass


def spec(**overrides: Any) -> SourceSpec:
    """The fake source's declaration; `overrides` declare it in part (a sink that does not resolve...)."""
    fields: dict[str, Any] = {
        "id": ID,
        "module": "tests.registry.treasury_yields",
        "columns": ("tenor", "yield_pct", "quote_ts"),
        "row_model": f"{__name__}:Yield",
        "natural_key": ("tenor", "quote_ts"),
        "natural_time": "quote_ts",
        "sink": f"{__name__}:MemorySink",
        "sink_label": "memory yields",
        "ingest_extras": ("coinmarketcap", "openexchangerates"),
        "process_extras": ("parquet",),
        "description": "US Treasury yields (a fake source of the registry tests)",
    }
    return SourceSpec(**(fields | overrides))


# -- the entry points, as in pipeline/handlers/<kind>.py ----------------------------------------------------------
@callable_outside_lambda
@ingest.logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def ingest_treasury_yields(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handler: pipeline.handlers.ingest.treasury_yields"""
    return ingest.ingest_scheduled_minute(ID, event)


@callable_outside_lambda
@process.logger.inject_lambda_context(correlation_id_path=SQS_DEDUPLICATION_ID)
def process_treasury_yields(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handler: pipeline.handlers.process.treasury_yields"""
    return process.process_batch(ID, event, context)


@callable_outside_lambda
@redrive.logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def redrive_treasury_yields(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handler: pipeline.handlers.redrive.treasury_yields"""
    return redrive.redrive_when_healthy(ID)


ENTRY_POINTS: dict[Kind, Handler] = {
    "ingest": ingest_treasury_yields,
    "process": process_treasury_yields,
    "redrive": redrive_treasury_yields,
}


@contextmanager
def entry_points() -> Iterator[None]:
    """The three `def treasury_yields(event, context)` in the handler modules, for the block only."""
    modules = [importlib.import_module(handler_module(kind)) for kind in ENTRY_POINTS]
    try:
        for module, handler in zip(modules, ENTRY_POINTS.values(), strict=True):
            setattr(module, ID, handler)
        yield
    finally:
        for module in modules:
            if hasattr(module, ID):
                delattr(module, ID)


@contextmanager
def declared(**overrides: Any) -> Iterator[SourceSpec]:
    """The fake source declared (`spec(**overrides)`) with its entry points, for the block only."""
    with registry.registered(spec(**overrides)) as declared_spec, entry_points():
        yield declared_spec
