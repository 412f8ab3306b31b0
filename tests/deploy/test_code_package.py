"""The functions' code package holds what they run, `pipeline/`, and nothing of the tooling (`workbench/`)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.cloudformation.template import TEMPLATE_PATH, load_template
from workbench.deploy.package import build_code_package


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("code")
    return build_code_package(out, interpreter=None, warn=lambda message: None).path


@pytest.fixture(scope="module")
def names(code_zip: Path) -> list[str]:
    with zipfile.ZipFile(code_zip) as archive:
        return archive.namelist()


def _handlers() -> list[str]:
    resources = load_template(TEMPLATE_PATH)["Resources"]
    return sorted(r["Properties"]["Handler"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function")


def test_every_file_of_the_code_package_is_under_pipeline(names: list[str]) -> None:
    assert names and all(name.startswith("pipeline/") for name in names), [n for n in names if "pipeline/" not in n]


@pytest.mark.parametrize(
    "tooling",
    [
        "pipeline/__main__.py",
        "pipeline/cli.py",
        "pipeline/course.py",
        "pipeline/verify.py",
        "pipeline/soak.py",
        "pipeline/local/",
        "pipeline/deploy/",
        "pipeline/cloudformation/",
        "pipeline/data/layer_sizes.json",
        "workbench/",
    ],
)
def test_the_tooling_is_not_in_the_code_package(names: list[str], tooling: str) -> None:
    assert not [name for name in names if name.startswith(tooling)]


@pytest.mark.parametrize(
    "runtime",
    [
        "pipeline/__init__.py",
        "pipeline/handlers/ingest.py",
        "pipeline/handlers/sqlserver_database.py",
        "pipeline/sources/simulator.py",
        "pipeline/sinks/snowflake/client.py",
        "pipeline/data/sp500.csv",
        "pipeline/py.typed",
    ],
)
def test_what_the_functions_run_is_in_the_code_package(names: list[str], runtime: str) -> None:
    assert runtime in names


def test_every_handler_of_the_template_imports_from_the_code_package_alone(code_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(code_zip) as archive:
        archive.extractall(tmp_path / "task")
    handlers = _handlers()
    assert "pipeline.handlers.sqlserver_database.handler" in handlers and len(handlers) >= 10
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'task')!r})\n"
        "found = {}\n"
        f"for handler in {handlers!r}:\n"
        "    module, name = handler.rsplit('.', 1)\n"
        "    found[handler] = callable(getattr(importlib.import_module(module), name))\n"
        "import pipeline\n"
        "print(json.dumps({'found': found, 'from': pipeline.__file__,\n"
        "                  'tooling': sorted(m for m in sys.modules if m.split('.')[0] == 'workbench')}))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["found"] == dict.fromkeys(handlers, True)
    assert report["from"].startswith(str(tmp_path / "task"))
    assert report["tooling"] == []
