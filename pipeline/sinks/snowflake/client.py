"""Query the Snowflake the pipeline loads without leaving a session open.

A plain connector session left open on the local fakesnow server keeps its DuckDB file attached, and every
later load then fails (fakesnow never sees the connector's logout). These helpers end their session when they
are done, error or not, as the sink does:

    from pipeline.sinks.snowflake import query
    query("SELECT SYMBOL, COUNT(*) FROM BARS_1M GROUP BY SYMBOL ORDER BY 2 DESC LIMIT ?", (5,), settings=settings)

    from pipeline.sinks.snowflake import cursor
    with cursor(settings) as cur:     # several statements in one session
        cur.execute("SELECT MAX(TS) FROM BARS_1M")
        print(cur.fetchone())

They take the settings to connect with; `workbench.local.snowflake` has the same helpers defaulting to the running
local stack (else the environment's `PIPELINE_SNOWFLAKE_*` settings). Values are bound (qmark: `?`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pipeline.settings import Settings
from pipeline.sinks.snowflake.loader import SnowflakeSink


@contextmanager
def cursor(settings: Settings) -> Iterator[Any]:
    """A connector cursor whose session ends with the block; a driver error becomes one `SinkError` line."""
    sink = SnowflakeSink.from_settings(settings)
    try:
        with sink.session("query failed") as cur:
            yield cur
    finally:
        sink.close()


def query(sql: str, params: Sequence[Any] = (), *, settings: Settings) -> list[tuple[Any, ...]]:
    """The rows of one statement, in a session opened and ended for it."""
    with cursor(settings) as cur:
        cur.execute(sql, tuple(params) or None)
        return [tuple(row) for row in cur.fetchall()]
