"""Sinks, one per source. Imported lazily so each process function loads only its own client."""

from __future__ import annotations

from typing import Any

from pipeline.constants import SourceId
from pipeline.settings import Settings
from pipeline.sinks.base import Sink, SinkError

__all__ = ["Sink", "SinkError", "get_sink"]


def get_sink(source: SourceId, settings: Settings, **clients: Any) -> Sink:
    """The sink of a source (declared in `pipeline.registry`), built from the settings."""
    from pipeline.registry import get

    return get(source).sink_class().from_settings(settings, **clients)  # type: ignore[no-any-return]
