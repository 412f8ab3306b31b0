"""The local Snowflake: fakesnow's HTTP server, with a session's DuckDB connection released the moment it ends.

`python -m workbench.local.fakesnow_server --host H --port P` serves fakesnow's own app (`fakesnow.server.app`, the
same one `python -m fakesnow -s` runs). One thing is added: fakesnow forgets a session when the connector ends it,
but a statement that failed in that session (a cast error in a MERGE, say) leaves a reference cycle through the
exception's traceback that still holds the session's DuckDB connection, so the database file stays attached until
Python's garbage collector happens to run, and every other session's load fails meanwhile on DuckDB's file lock.
A collection right after each `/session` request (ending, or a heartbeat) releases it at once: nothing a payload
holds can wedge the local Snowflake.
"""

from __future__ import annotations

import argparse
import gc
import importlib
from collections.abc import Sequence
from typing import Any

import uvicorn

SESSION_PATH = "/session"


class ReleaseEndedSessions:
    """ASGI middleware: after a `/session` request, collect the cycles a failed statement left behind."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope.get("type") == "http" and scope.get("path") == SESSION_PATH:
            gc.collect()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.local.fakesnow_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = importlib.import_module("fakesnow.server").app  # `fakesnow.server` the attribute is a function
    uvicorn.run(ReleaseEndedSessions(app), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
