"""The Lambda Runtime API of one execution environment, served on loopback by the local runtime.

The runtime inside the sandbox (awslambdaric) long-polls `GET /2018-06-01/runtime/invocation/next` for the next
event and answers with `POST .../invocation/<id>/response` or `.../invocation/<id>/error`; a handler that cannot
be loaded is reported with `POST /2018-06-01/runtime/init/error`. Its first `next` marks the end of the init
phase. `POST /local/aws-calls` (not part of Lambda's API) receives the AWS calls the function's botocore made.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

PREFIX: Final = "/2018-06-01/runtime"
CALLS_PATH: Final = "/local/aws-calls"


@dataclass
class Invocation:
    """One event handed to the runtime, and what it answered."""

    event: bytes
    deadline_ms: int
    function_arn: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    done: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0  # time.monotonic() when the runtime took it
    finished: float = 0.0
    response: bytes | None = None
    error: dict[str, Any] | None = None


class _Stop:
    """Put on the queue to release a waiting `next` when the environment shuts down."""


class RuntimeApi:
    """A threaded HTTP server playing the Runtime API for one execution environment."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Invocation | _Stop] = queue.Queue()
        self._current: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()  # the runtime asked for its first event: init is over
        self.ready_at = 0.0
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        self.calls: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def submit(self, invocation: Invocation) -> None:
        with self._lock:
            self._current[invocation.request_id] = invocation
        self._queue.put(invocation)

    def reset(self) -> None:
        """A new execution environment will talk to this API: forget the old one's init and pending events."""
        self.release()
        while not self._queue.empty():
            self._queue.get_nowait()
        self.ready.clear()
        self.init_failed.clear()
        self.init_error = None

    def release(self) -> None:
        """Let a `next` still waiting return (the environment is going away)."""
        self._queue.put(_Stop())

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    # -- the HTTP side -------------------------------------------------------------------------------------------
    def _next(self) -> Invocation | None:
        if not self.ready.is_set():
            self.ready_at = time.monotonic()
            self.ready.set()
        item = self._queue.get()
        if isinstance(item, _Stop):
            return None
        item.started = time.monotonic()
        return item

    def _finish(self, request_id: str, response: bytes | None, error: dict[str, Any] | None) -> bool:
        with self._lock:
            invocation = self._current.pop(request_id, None)
        if invocation is None:
            return False
        invocation.finished = time.monotonic()
        invocation.response, invocation.error = response, error
        invocation.done.set()
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the runtime is gone
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._answer(HTTPStatus.NOT_FOUND, b'{"errorType": "NotFound"}')
                    return
                invocation = api._next()
                if invocation is None:
                    self._answer(HTTPStatus.GONE, b'{"errorType": "EnvironmentShutdown"}')
                    return
                self._answer(
                    HTTPStatus.OK,
                    invocation.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if self.path == CALLS_PATH:
                    api.calls.extend(json.loads(body or b"[]"))
                    self._answer(HTTPStatus.ACCEPTED)
                elif parts == ["init", "error"]:
                    api.init_error = _error(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    api.init_failed.set()
                    self._answer(HTTPStatus.ACCEPTED, b'{"status": "OK"}')
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    error = _error(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    known = api._finish(parts[1], body if parts[2] == "response" else None,
                                        error if parts[2] == "error" else None)  # fmt: skip
                    status = HTTPStatus.ACCEPTED if known else HTTPStatus.BAD_REQUEST
                    self._answer(status, b'{"status": "OK"}' if known else b'{"errorType": "InvalidRequestID"}')
                else:
                    self._answer(HTTPStatus.NOT_FOUND, b'{"errorType": "NotFound"}')

        return Handler


def _error(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(parsed, dict):
        parsed = {"errorMessage": str(parsed)}
    parsed.setdefault("errorType", error_type or "Unhandled")
    return parsed
