"""Placeholder layers, for a deploy to the local emulator only.

moto creates Lambda functions and layer versions but cannot run any code, so a deploy to it checks the topology
(queues, subscriptions, schedules, mappings, roles), never the dependencies. Building the six real layers for that
(some 540 MB unzipped, workbench/data/layer_sizes.json) is waste: a placeholder layer is a tiny zip holding a README
that says what it stands for. The code package stays real.

A placeholder must never reach AWS: `deploy_pipeline` refuses a build holding one unless the endpoint is on this
machine (a loopback address), and the zip's README says so to anyone who opens it.
"""

from __future__ import annotations

import ipaddress
import tempfile
import zipfile
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from workbench.deploy.archive import Artifact, describe, write_zip
from workbench.deploy.layers import LayerSpec

# The folder under a build's output that holds placeholder layers, apart from the real ones and their cache.
EMULATOR_DIR: Final = "emulator"
# The file inside every placeholder zip; its presence is what marks a zip as a placeholder.
MARKER: Final = "README-EMULATOR-ONLY.md"
ARTIFACT_PREFIX: Final = "emulator-"

_README = """\
# {name}: placeholder layer, for the local emulator only

This zip stands in for the layer `{name}` in a deploy to the local emulator (moto), which creates functions
and layer versions but cannot run any code. It holds no packages. Functions deployed with it cannot run.

The real layer holds (pip, the versions of constraints.txt as manylinux x86_64 wheels for CPython {python}):

{requirements}

A real deploy builds real layers: `python -m pipeline layer build`, then
`python -m pipeline deploy --stack NAME` without `--endpoint-url`. `deploy` refuses to send this placeholder
anywhere but an emulator on this machine.
"""


def is_local_endpoint(endpoint_url: str | None) -> bool:
    """True for an endpoint on this machine: `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if not endpoint_url:
        return False
    host = urlsplit(endpoint_url if "//" in endpoint_url else f"//{endpoint_url}").hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def placeholder_layer(spec: LayerSpec, out: Path, python_version: str | None = None) -> Artifact:
    """`<out>/emulator/<layer>.zip`: the README alone, reproducible (the same layer gives the same bytes)."""
    folder = out / EMULATOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    text = _README.format(
        name=spec.name,
        python=python_version or spec.runtime.python_version,
        requirements="\n".join(f"- `{r}`" for r in spec.requirements) or "- (nothing)",
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{spec.name}-") as staging:
        (Path(staging) / MARKER).write_text(text, encoding="utf-8")
        zip_path = folder / f"{spec.name}.zip"
        write_zip(Path(staging), zip_path)
    return describe(f"{ARTIFACT_PREFIX}{spec.name}", zip_path)


def is_placeholder(artifact: Artifact) -> bool:
    """Whether a built zip is a placeholder layer (it holds the emulator-only README)."""
    try:
        with zipfile.ZipFile(artifact.path) as archive:
            return MARKER in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def emulator_only_refusal(placeholders: list[str], endpoint_url: str | None) -> str | None:
    """The one-line refusal for placeholder layers headed anywhere but a local emulator, or None when fine."""
    if not placeholders or is_local_endpoint(endpoint_url):
        return None
    where = f"endpoint {endpoint_url}, which is not on this machine" if endpoint_url else "AWS"
    return (
        f"refusing to deploy placeholder layers ({', '.join(placeholders)}) to {where}: they are for the local "
        "emulator only; build real layers with `python -m pipeline layer build` and deploy without --emulator-layers"
    )
