"""The local stack's servers as processes: started detached (their own session, so they outlive the command that
started them), waited for until they answer, recognised by pid and command line (a recycled pid is left alone),
and stopped; `workbench.local.servers` starts moto and fakesnow through them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import psutil
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from pipeline.errors import PipelineError

HOST: Final = "127.0.0.1"
STOP_TIMEOUT_SECONDS: Final = 10.0
START_POLL_SECONDS: Final = 0.1
STOP_POLL_SECONDS: Final = 0.05

# Children started by this process, so that stopping them also reaps them (no zombie left behind).
_children: dict[int, subprocess.Popen[bytes]] = {}


class LocalStackError(PipelineError, RuntimeError):
    """An expected failure of the local stack (port in use, a server that did not come up...)."""


@dataclass
class ServerProcess:
    """A server `up` started: how to reach it, and how to tell it is still the one we started."""

    name: str
    pid: int
    port: int
    log: str
    marker: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def running(self) -> bool:
        return _pid_matches(self.pid, self.marker, self.port)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the servers bind: a port whose last connections wait out TIME_WAIT is free, one with a listener is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
        return False


def choose_port(given: int | None, env_name: str) -> int:
    if given is None and os.environ.get(env_name):
        try:
            given = int(os.environ[env_name])
        except ValueError:
            raise LocalStackError(f"{env_name}={os.environ[env_name]!r} is not a port number") from None
    if not given:
        return free_port()
    if port_in_use(given):
        raise LocalStackError(f"port {given} on {HOST} is in use: stop what uses it or choose another port")
    return given


def start(name: str, command: list[str], port: int, log: Path, marker: str) -> ServerProcess:
    """Start `command` detached (its own session, so it outlives this process), output to `log`."""
    with open(log, "ab") as out:
        out.write(f"\n--- {datetime.now(UTC).isoformat()} {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[process.pid] = process
    return ServerProcess(name=name, pid=process.pid, port=port, log=str(log), marker=marker)


def answers(url: str) -> bool:
    """True when an HTTP server answers at `url` (any status code)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - http://127.0.0.1 only
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def wait_until_up(process: ServerProcess, url: str, timeout: float) -> None:
    """Poll `url` until the server answers; one line naming its log when it exits or does not answer in time."""

    def answered() -> bool:
        child = _children.get(process.pid)
        if child is not None and child.poll() is not None:
            raise LocalStackError(
                f"the {process.name} server exited at start (code {child.returncode}, port {process.port}): "
                f"see {process.log}"
            )
        return answers(url)

    try:
        until(answered, timeout, START_POLL_SECONDS)
    except RetryError:
        raise LocalStackError(
            f"the {process.name} server did not answer on {url} within {timeout:.0f} s: see {process.log}"
        ) from None


def until(condition: Callable[[], bool], timeout: float, every: float) -> None:
    """Call `condition` every `every` seconds until it returns True; RetryError after `timeout` seconds (an
    exception it raises ends the wait at once)."""
    Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(every), retry=retry_if_result(lambda ok: not ok))(
        condition
    )


def _pid_matches(pid: int, marker: str, port: int) -> bool:
    """True when `pid` is alive and still runs the server we started (not a recycled pid, not a zombie)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:  # our own child, not yet reaped: its pid cannot have been reused
            return True
        del _children[pid]  # reaped: from now on the pid may be anyone's (pids wrap, at 32768 here)
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        args = process.cmdline()
    except psutil.Error:  # gone, a zombie, or not ours to read
        return False
    return any(marker in a for a in args) and str(port) in args


def stop(process: ServerProcess, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGINT (fakesnow waits for it), then SIGTERM, then SIGKILL; only if the pid is still our server."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if not process.running():
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        with contextlib.suppress(RetryError):
            until(lambda: not process.running(), timeout / 2, STOP_POLL_SECONDS)
    child = _children.pop(process.pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)
