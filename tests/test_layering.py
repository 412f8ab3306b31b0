"""The layering of the packages (pyproject.toml's [tool.importlinter]): `pipeline` never imports `workbench`, no
import cycle, handlers above process and ingest, above sources and sinks, which are independent of each other.
Imports inside functions count."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The two packages and the contract, in a folder of their own, to break on purpose."""
    for name in ("pipeline", "workbench"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_packages_keep_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _add(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code + "\n")


BREAKS = [
    # (module that gains the import, the import, the contract that must then fail)
    ("pipeline/process.py", "import workbench.verify", "never imports workbench"),
    (
        "pipeline/sinks/snowflake/client.py",
        "def f():\n    from workbench.local import servers",
        "never imports workbench",
    ),
    ("pipeline/handlers/ingest.py", "from workbench import cli", "never imports workbench"),
    ("pipeline/registry.py", "def f():\n    from pipeline.contracts import processed_key", "No import cycle"),
    ("pipeline/quarantine.py", "def f():\n    from pipeline.process import process_event", "No import cycle"),
    (
        "pipeline/sources/yahoo_finance/metrics.py",
        "def f():\n    from pipeline.sources.yahoo_finance import source",
        "No import cycle",
    ),
    ("workbench/local/demo.py", "def f():\n    from workbench import course", "No import cycle"),
    ("pipeline/sources/base.py", "def f():\n    from pipeline.sinks import base", "independent of each other"),
    ("pipeline/sinks/base.py", "from pipeline.sources import base as source_base", "independent of each other"),
    ("pipeline/sinks/base.py", "def f():\n    from pipeline.handlers import ingest", "Handlers above process"),
    ("pipeline/ingest.py", "def f():\n    from pipeline.handlers import process", "Handlers above process"),
    ("pipeline/process.py", "def f():\n    from pipeline import ingest", "Handlers above process"),
    ("workbench/analysis/frames.py", "def f():\n    from workbench.analysis import sinks", "reads no sink"),
    ("workbench/analysis/frames.py", "def f():\n    from pipeline.sinks.snowflake import loader", "reads no sink"),
]


@pytest.mark.parametrize(("module", "code", "contract"), BREAKS)
def test_an_import_against_the_layering_breaks_its_contract(copy: Path, module: str, code: str, contract: str) -> None:
    _add(copy / module, code)
    result = _lint(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


@pytest.mark.parametrize(
    ("module", "code"),
    [
        ("workbench/verify.py", "import pipeline.handlers.ingest"),  # the tooling imports the runtime freely
        ("pipeline/handlers/ingest.py", "def f():\n    from pipeline.sinks import base"),  # downward
        ("pipeline/sources/base.py", "def f():\n    from pipeline import contracts, registry"),  # below sources
        ("pipeline/__main__.py", "from workbench import cli as again"),  # the one hand-over to the command line
    ],
)
def test_an_import_along_the_layering_keeps_every_contract(copy: Path, module: str, code: str) -> None:
    _add(copy / module, code)
    result = _lint(copy)
    assert result.returncode == 0, result.stdout
