from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipeline import clients


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Runs point this process at the local stack (configured settings, cached clients): leave no trace for other
    tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    clients.configure(None)
