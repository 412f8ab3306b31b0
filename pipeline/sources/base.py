"""What every source provides, and the errors a source raises."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.constants import SourceId
from pipeline.errors import Kind, PipelineError, TerminalError, TransientError
from pipeline.settings import Settings
from pipeline.state import StateStore

RawRow = dict[str, Any]


class SourceError(PipelineError):
    """An expected failure of a source, with a one-line message a person can act on."""


class PayloadError(TerminalError, SourceError):
    """A payload that cannot be turned into raw rows (a changed page layout, a malformed body)."""


class UpstreamError(TransientError, SourceError):
    """The service could not answer now (an HTTP error, a rate limit, a timeout): the next try may succeed."""


class UpstreamRefused(TerminalError, UpstreamError):
    """The service refuses the request for what it is (a key or plan it does not accept): never retried."""

    kind: Kind = "terminal"


class NothingToIngest(Exception):
    """This minute has nothing to fetch (for example the stock market is closed); no raw object is written."""


class Source(Protocol):
    """A source: a live fetch, its simulated twin returning the same payload form, and one parser."""

    id: SourceId

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> Any:
        """The payload for the scheduled minute: live or simulated, as `settings.mode` says."""
        ...

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        """Raw rows with the contract columns (`pipeline.registry.get(id).raw_columns`) for this source."""
        ...

    def load_payload(self, path: Path) -> Any:
        """A saved payload (what `fetch` returns, as a file) for `pipeline parse`."""
        ...
