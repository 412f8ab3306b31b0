"""Query the Snowflake the pipeline loads, from a script, a shell or a notebook, without leaving a session open.

A plain connector session left open on the local fakesnow server keeps its DuckDB file attached, and every
later load then fails (fakesnow never sees the connector's logout). These helpers end their session when they
are done, error or not, as the sink does:

    from pipeline.sinks.snowflake import query
    query("SELECT SYMBOL, COUNT(*) FROM BARS_1M GROUP BY SYMBOL ORDER BY 2 DESC LIMIT ?", (5,))

    from pipeline.sinks.snowflake import cursor
    with cursor() as cur:             # several statements in one session
        cur.execute("SELECT MAX(TS) FROM BARS_1M")
        print(cur.fetchone())

Without settings they use the running local stack (`python -m pipeline local up`), else the environment's
`PIPELINE_SNOWFLAKE_*` settings, so the same call reads a real account. Values are bound (qmark: `?`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pipeline.settings import Settings
from pipeline.sinks.snowflake.loader import SnowflakeSink


def default_settings() -> Settings:
    """The running local stack's settings, else those of the environment."""
    from workbench.local import servers

    stack = servers.status()
    return stack.settings() if stack is not None else Settings()


@contextmanager
def cursor(settings: Settings | None = None) -> Iterator[Any]:
    """A connector cursor whose session ends with the block; a driver error becomes one `SinkError` line."""
    sink = SnowflakeSink.from_settings(settings or default_settings())
    try:
        with sink.session("query failed") as cur:
            yield cur
    finally:
        sink.close()


def query(sql: str, params: Sequence[Any] = (), settings: Settings | None = None) -> list[tuple[Any, ...]]:
    """The rows of one statement, in a session opened and ended for it."""
    with cursor(settings) as cur:
        cur.execute(sql, tuple(params) or None)
        return [tuple(row) for row in cur.fetchall()]
