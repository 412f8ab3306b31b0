"""What every sink provides. One folder per sink, the same file names in each:
`configuration.py` (typed credentials/settings that refuse to be built incomplete) and `loader.py` (the Sink)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pipeline.constants import SourceId


class SinkError(Exception):
    """A sink could not take the rows (down, refused, misconfigured); the message is retried."""


class Sink(Protocol):
    source: SourceId

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        """Store the typed rows of one raw object, idempotently by natural key; returns rows written."""
        ...

    def close(self) -> None: ...
