"""Fixtures of the deploy tests: a moto server of their own, and a build made of tiny zips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from workbench.deploy.archive import describe, write_zip
from workbench.deploy.build import Build
from workbench.deploy.functions import all_functions


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port for this test module; stopped when the module is done."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def make_build(root: Path, version: str = "1") -> Build:
    """A build with the real shape (a code zip holding pipeline/, one python/ layer per extra set), tiny."""
    code_dir = root / "code-src" / version
    (code_dir / "pipeline").mkdir(parents=True, exist_ok=True)
    (code_dir / "pipeline" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    write_zip(code_dir, root / f"code-{version}.zip")
    layers = {}
    for function in all_functions():
        if function.layer_name in layers:
            continue
        layer_dir = root / "layer-src" / function.layer_name
        layer_dir.mkdir(parents=True, exist_ok=True)
        (layer_dir / "marker.py").write_text(f"LAYER = {function.layer_name!r}\n")
        zip_path = root / f"{function.layer_name}.zip"
        write_zip(layer_dir, zip_path, prefix="python")
        layers[function.layer_name] = describe(function.layer_name, zip_path)
    return Build(all_functions(), describe("code", root / f"code-{version}.zip"), layers, [])


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return make_build(tmp_path_factory.mktemp("tiny-build"))
