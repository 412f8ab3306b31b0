"""Placeholder layers for the local emulator: what they hold, when `deploy` uses them, and that they can never
be deployed anywhere but an endpoint on this machine."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from workbench.cloudformation.template import TEMPLATE_PATH
from workbench.deploy.build import build_for_emulator, emulator_build
from workbench.deploy.deployer import DeployError, deploy_pipeline
from workbench.deploy.emulator import MARKER, is_local_endpoint
from workbench.deploy.functions import all_functions
from workbench.deploy.layers import LayerSpec, build_layer, layer_specs
from workbench.deploy.runtime import find_runtime_python


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:4566", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:5000", True),
        ("127.0.0.1:5000", True),
        ("https://cloudformation.us-east-1.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
        ("http://192.168.1.20:4566", False),
        ("http://localhost.example.com:4566", False),
        ("http://127.0.0.1.nip.io:5000", False),
        ("", False),
        (None, False),
    ],
)
def test_only_an_endpoint_on_this_machine_counts_as_local(endpoint: str | None, local: bool) -> None:
    assert is_local_endpoint(endpoint) is local


def test_placeholder_layers_hold_a_readme_that_says_they_are_for_the_emulator_only(tmp_path: Path) -> None:
    # WHEN the emulator build is made
    build = emulator_build(tmp_path)

    # THEN every layer is a placeholder holding the README alone, under a key that says so
    assert build.placeholder_layers == sorted(layer_specs(all_functions()))
    for name, artifact in build.layers.items():
        assert artifact.path.parent == tmp_path / "emulator"
        assert artifact.s3_key.startswith(f"artifacts/emulator-{name}-")
        with zipfile.ZipFile(artifact.path) as archive:
            assert archive.namelist() == [MARKER]
            readme = archive.read(MARKER).decode()
        assert "for the local emulator only" in readme and "python -m pipeline layer build" in readme
        assert all(f"`{r}`" in readme for r in layer_specs(all_functions())[name].requirements)
    # ... the code package is the real one
    with zipfile.ZipFile(build.code.path) as archive:
        assert "pipeline/handlers/ingest.py" in archive.namelist()
    # ... and a second build gives the same bytes (the same S3 keys, so nothing is uploaded again)
    again = emulator_build(tmp_path)
    assert {n: a.sha256 for n, a in again.layers.items()} == {n: a.sha256 for n, a in build.layers.items()}


class _NoAws:
    """A boto3 session that fails the test if anything asks it for a client."""

    region_name = "us-east-1"

    def client(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a client was created: the refusal must come before anything is sent")


@pytest.mark.parametrize("endpoint", [None, "https://cloudformation.eu-west-1.amazonaws.com", "http://10.1.2.3:4566"])
def test_placeholder_layers_are_refused_for_aws_before_anything_is_sent(endpoint: str | None, tmp_path: Path) -> None:
    build = emulator_build(tmp_path)
    with pytest.raises(DeployError) as refused:
        deploy_pipeline(
            "s", build, session=_NoAws(), template=TEMPLATE_PATH, endpoint_url=endpoint, console=Console(quiet=True)
        )
    message = str(refused.value)
    assert message.startswith("refusing to deploy placeholder layers (deps-coinmarketcap, ")
    assert "python -m pipeline layer build" in message and "\n" not in message


def _fake_installer(spec: LayerSpec, target: Path) -> dict[str, str]:
    (target / "fake_dependency.py").write_text(f"LAYER = {spec.name!r}\n")
    return {}  # no distribution, so nothing for constraints.txt to disagree with


def test_the_emulator_gets_the_real_layers_when_every_layer_is_cached(tmp_path: Path) -> None:
    specs = layer_specs(all_functions())
    names = sorted(specs)
    python = find_runtime_python()  # what build_for_emulator compiles with too (the cache key names it)
    # GIVEN every layer but one built earlier
    for name in names[1:]:
        build_layer(specs[name], tmp_path, interpreter=python, installer=_fake_installer, warn=print)
    assert build_for_emulator(tmp_path).placeholder_layers == names  # one missing: all placeholders

    # WHEN the last one is built too
    build_layer(specs[names[0]], tmp_path, interpreter=python, installer=_fake_installer, warn=print)

    # THEN the emulator gets the real, cached layers, unless placeholders are asked for
    real = build_for_emulator(tmp_path)
    assert real.placeholder_layers == []
    assert all(artifact.cached and artifact.path.parent == tmp_path for artifact in real.layers.values())
    assert build_for_emulator(tmp_path, placeholders=True).placeholder_layers == names
