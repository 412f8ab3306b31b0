"""Query the Snowflake the pipeline loads, from a script, a shell or a notebook, without leaving a session open:
`pipeline.sinks.snowflake`'s helpers, which connect with the running local stack's settings when given none
(`python -m pipeline local up`), else with the environment's `PIPELINE_SNOWFLAKE_*` settings, so the same call
reads a real account.

    from workbench.local.snowflake import cursor, query
    query("SELECT SYMBOL, COUNT(*) FROM BARS_1M GROUP BY SYMBOL ORDER BY 2 DESC LIMIT ?", (5,))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pipeline.settings import Settings
from pipeline.sinks.snowflake import client


def default_settings() -> Settings:
    """The running local stack's settings, else those of the environment."""
    from workbench.local import servers

    stack = servers.status()
    return stack.settings() if stack is not None else Settings()


@contextmanager
def cursor(settings: Settings | None = None) -> Iterator[Any]:
    """A connector cursor whose session ends with the block; a driver error becomes one `SinkError` line."""
    with client.cursor(settings or default_settings()) as cur:
        yield cur


def query(sql: str, params: Sequence[Any] = (), settings: Settings | None = None) -> list[tuple[Any, ...]]:
    """The rows of one statement, in a session opened and ended for it."""
    return client.query(sql, params, settings=settings or default_settings())
