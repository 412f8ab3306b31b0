"""The three sources. Each module is imported only when asked for, so a function loads only its own."""

from __future__ import annotations

from importlib import import_module

from pipeline.contracts import check_source
from pipeline.sources.base import NothingToIngest, PayloadError, Source, SourceError, UpstreamError

__all__ = ["NothingToIngest", "PayloadError", "Source", "SourceError", "UpstreamError", "get_source"]


def get_source(source_id: str) -> Source:
    module = import_module(f"pipeline.sources.{check_source(source_id)}")
    return module.SOURCE  # type: ignore[no-any-return]
