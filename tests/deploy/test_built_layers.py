"""The layers `python -m pipeline layer build` left in build/layers: the tested versions, and importable by the
runtime's Python. Skipped where nothing was built (a fresh clone); `layer build` itself fails on a wrong version."""

from __future__ import annotations

import importlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from workbench.deploy.build import DEFAULT_OUT
from workbench.deploy.functions import PROJECT_ROOT, all_functions
from workbench.deploy.layers import _strippable, constraint_pins, installed_versions, untested_versions
from workbench.deploy.runtime import find_runtime_python

BUILT = PROJECT_ROOT / DEFAULT_OUT
MANIFESTS = sorted(BUILT.glob("deps-*.json")) if BUILT.is_dir() else []


def _unzipped(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    return into


@pytest.mark.skipif(not MANIFESTS, reason="no layer built here (python -m pipeline layer build)")
@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=[p.stem for p in MANIFESTS])
def test_a_built_layer_holds_exactly_the_versions_of_constraints_txt(manifest_path: Path, tmp_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text())
    site = _unzipped(manifest_path.with_suffix(".zip"), tmp_path) / "python"
    installed = installed_versions(site)  # read from the layer's own dist-info, as importlib.metadata does
    assert installed, f"{manifest_path.stem} has no distribution"
    assert untested_versions(installed, constraint_pins()) == {}
    assert manifest["packages"] == installed
    assert manifest["runtime"] in ("python3.13", "python3.12")


@pytest.mark.slow
@pytest.mark.skipif(not MANIFESTS or not (BUILT / "code.zip").is_file(), reason="no layer built here")
@pytest.mark.parametrize("function", all_functions(), ids=[f.name for f in all_functions()])
def test_the_runtime_python_imports_each_function_from_its_code_and_layer(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    python = find_runtime_python()
    if python is None or python.root is None:
        pytest.skip("no runtime root filesystem here (make runtime-root)")
    layer = BUILT / f"{function.layer_name}.zip"
    if not layer.is_file():
        pytest.skip(f"{function.layer_name} not built")
    _unzipped(BUILT / "code.zip", tmp_path / "task")
    _unzipped(layer, tmp_path / "opt")
    # What Lambda's runtime has on /var/runtime and the layers leave out: the AWS SDK (pure Python)
    for name in ("boto3", "botocore", "s3transfer", "jmespath"):
        package = Path(importlib.import_module(name).__file__ or "").parent
        shutil.copytree(package, tmp_path / "runtime" / name, ignore=shutil.ignore_patterns("__pycache__"))
    modules = [function.handler_module, *function.first_call_modules()]
    code = (
        "import sys; sys.path[:0] = ['/mnt/work/task', '/mnt/work/opt/python']; sys.path.append('/mnt/work/runtime')\n"
        f"import importlib\nfor name in {modules!r}: importlib.import_module(name)\n"
        "import pipeline; print(pipeline.__file__)"
    )
    result = python.run(["-c", code], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "/mnt/work/task/pipeline/__init__.py"


def test_only_unvendored_libraries_with_debug_sections_are_stripped(tmp_path: Path) -> None:
    elf = b"\x7fELF" + b"\0" * 60
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg.libs").mkdir()
    (tmp_path / "pkg" / "_debug.abi3.so").write_bytes(elf + b".debug_info")
    (tmp_path / "pkg" / "_plain.so").write_bytes(elf + b".symtab")
    (tmp_path / "pkg.libs" / "libblas-1234.so.0").write_bytes(elf + b".debug_info")  # patched by auditwheel
    (tmp_path / "pkg" / "notes.so.txt").write_bytes(b"not an ELF .debug_info")
    assert [p.name for p in sorted(tmp_path.rglob("*")) if _strippable(p)] == ["_debug.abi3.so"]
