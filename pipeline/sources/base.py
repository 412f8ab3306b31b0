"""What every source provides, and the errors a source raises."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.constants import SourceId
from pipeline.settings import Settings
from pipeline.state import StateStore

RawRow = dict[str, Any]


class SourceError(Exception):
    """An expected failure of a source, with a one-line message a person can act on."""


class PayloadError(SourceError):
    """A payload that cannot be turned into raw rows (a changed page layout, a malformed body)."""


class UpstreamError(SourceError):
    """The service answered with an error (an API error body, an HTTP error, a rate limit)."""


class NothingToIngest(Exception):
    """This minute has nothing to fetch (for example the stock market is closed); no raw object is written."""


class Source(Protocol):
    """A source: a live fetch, its simulated twin returning the same payload form, and one parser."""

    id: SourceId

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> Any:
        """The payload for the scheduled minute: live or simulated, as `settings.mode` says."""
        ...

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        """Raw rows with the contract columns (`pipeline.contracts.RAW_COLUMNS`) for this source."""
        ...

    def load_payload(self, path: Path) -> Any:
        """A saved payload (what `fetch` returns, as a file) for `pipeline parse`."""
        ...
