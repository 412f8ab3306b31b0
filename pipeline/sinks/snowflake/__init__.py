"""Snowflake table of 1-minute bars: the Yahoo Finance sink, and a safe way to query it (`query`, `cursor`)."""

from __future__ import annotations

from typing import Any

__all__ = ["cursor", "end_fakesnow_session", "query"]


def __getattr__(name: str) -> Any:
    """The helpers, imported on first use (the process function imports only the loader)."""
    if name in ("cursor", "query"):
        from pipeline.sinks.snowflake import client

        return getattr(client, name)
    if name == "end_fakesnow_session":
        from pipeline.sinks.snowflake.loader import end_fakesnow_session

        return end_fakesnow_session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
