"""The artifacts tests need the python3.13 root (`make runtime-root`; `make test-artifacts` makes it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import clients
from workbench.local.sandbox import root

ROOT_MISSING = "no python3.13 root: `make runtime-root` builds it (make test-artifacts does)"


@pytest.fixture(scope="session")
def runtime_root_dir() -> Path:
    """The python3.13 root filesystem; the test is skipped without it."""
    try:
        root.root_python()
    except root.RootError:
        pytest.skip(ROOT_MISSING)
    return root.root_dir()


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Runs point this process at the local stack (os.environ, cached clients): leave no trace for other tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    clients.reset()
