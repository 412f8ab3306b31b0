"""Servers for the sink tests: a fakesnow server (subprocess) and a moto server (in-process), on free ports.

The sink tests stop and restart servers to prove a sink that is down raises `SinkError`, so they run their own
servers instead of the shared local stack; each test still gets its own dataset (database folder, bucket, file).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from workbench.local.processes import free_port

HOST = "127.0.0.1"


def _wait(port: int, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            answered = s.connect_ex((HOST, port)) == 0
        if answered == up:
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} still {'closed' if up else 'open'} after {timeout}s")


@dataclass
class FakesnowServer:
    """The local stack's fakesnow server in a subprocess; `stop()` and `start()` again on the same port (state is in
    files)."""

    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    idle_seconds: float = 120.0  # a session idle this long is closed when another signs in

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "workbench.local.fakesnow_server", "--port", str(self.port)),
                    *("--host", HOST, "--idle-seconds", str(self.idle_seconds)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait(self.port, up=True)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # uvicorn shuts down on SIGINT
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        _wait(self.port, up=False)


@dataclass
class MotoServer:
    """moto in server mode in this process; its state survives `stop()`/`start()` (it lives in moto's backends)."""

    port: int = field(default_factory=free_port)
    server: ThreadedMotoServer | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        self.server.start()
        _wait(self.port, up=True)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            _wait(self.port, up=False)


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakesnowServer]:
    server = FakesnowServer(log=tmp_path_factory.mktemp("fakesnow") / "fakesnow.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_fakesnow_server(tmp_path: Path) -> Iterator[FakesnowServer]:
    """A fakesnow server of this test alone (to stop and restart it)."""
    server = FakesnowServer(log=tmp_path / "fakesnow.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def s3_client(url: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
