"""Sinks, one per source. Imported lazily so each process function loads only its own client."""

from __future__ import annotations

from typing import Any

from pipeline.constants import SourceId
from pipeline.settings import Settings
from pipeline.sinks.base import Sink, SinkError

__all__ = ["Sink", "SinkError", "get_sink"]


def get_sink(source: SourceId, settings: Settings, **clients: Any) -> Sink:
    if source == "coinmarketcap":
        from pipeline.sinks.s3parquet.loader import ParquetSink

        return ParquetSink.from_settings(settings, **clients)
    if source == "yahoo_finance":
        from pipeline.sinks.snowflake.loader import SnowflakeSink

        return SnowflakeSink.from_settings(settings, **clients)
    if source == "openexchangerates":
        from pipeline.sinks.sqlserver.loader import SqlServerSink

        return SqlServerSink.from_settings(settings, **clients)
    raise ValueError(f"no sink for source {source!r}")
