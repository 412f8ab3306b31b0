"""The local Snowflake: fakesnow's HTTP server, with a session's DuckDB connection released when it ends or idles.

`python -m workbench.local.fakesnow_server --host H --port P` serves fakesnow's own app (`fakesnow.server.app`, the
same one `python -m fakesnow -s` runs). fakesnow opens the database file for each session, and DuckDB lets one
connection at a time hold it, so a session that is never released fails every other session's load on DuckDB's
file lock. Two things are added:

- **A session that ended is released at once.** fakesnow forgets a session when the connector ends it, but a
  statement that failed in that session (a cast error in a MERGE, say) leaves a reference cycle through the
  exception's traceback that still holds the DuckDB connection, until Python's garbage collector happens to run. A
  collection right after each `/session` request (ending, or a heartbeat) releases it: nothing a payload holds can
  wedge the local Snowflake.
- **A session left idle is closed when another signs in.** A process killed mid-load, or a notebook's connector
  never closed, never ends its session. When a client signs in, every session that has sent nothing for
  `--idle-seconds` (120 by default) is closed first. A session closed so answers its next request with Snowflake's
  "must login again", and the connector signs in again.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import uvicorn

SESSION_PATH = "/session"
LOGIN_PATH = "/session/v1/login-request"
IDLE_SECONDS = 120.0
_TOKEN_PREFIX = 'Snowflake Token="'  # noqa: S105 - the header's form, not a secret


def _token(scope: Any) -> str | None:
    """The session token of a request (`Authorization: Snowflake Token="..."`), as fakesnow reads it."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            text = value.decode("latin-1")
            return text[len(_TOKEN_PREFIX) : -1] if text.startswith(_TOKEN_PREFIX) else None
    return None


class ReleaseSessions:
    """ASGI middleware over fakesnow's app: collect after a `/session` request, close idle sessions at a sign-in."""

    def __init__(
        self,
        app: Any,
        sessions: MutableMapping[str, Any],
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.seen: dict[str, float] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        token = _token(scope)
        if token is not None:
            self.seen[token] = self.clock()
        if scope.get("path") == LOGIN_PATH:
            self.close_idle()
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                self.seen[token] = self.clock()
            if scope.get("path") == SESSION_PATH:
                gc.collect()

    def close_idle(self) -> list[str]:
        """Close the sessions that sent nothing for `idle_seconds` (a session first met here starts its clock)."""
        now = self.clock()
        closed = []
        for token in list(self.sessions):
            if now - self.seen.setdefault(token, now) < self.idle_seconds:
                continue
            connection = self.sessions.pop(token, None)
            self.seen.pop(token, None)
            if connection is not None:
                connection.close()
                closed.append(token)
        self.seen = {t: at for t, at in self.seen.items() if t in self.sessions}
        if closed:
            gc.collect()
        return closed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.local.fakesnow_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    server = importlib.import_module("fakesnow.server")  # `fakesnow.server` the attribute is a function
    app = ReleaseSessions(server.app, server.sessions, idle_seconds=args.idle_seconds)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
