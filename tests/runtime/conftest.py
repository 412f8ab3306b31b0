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


@pytest.fixture
def stack(clean_stack, local_env, monkeypatch):
    """The emptied local stack, with the handlers pointed at it and the command line too (PIPELINE_TARGET=aws: it
    works on what AWS_ENDPOINT_URL names, the local stack)."""
    from pipeline.constants import Env
    from workbench.local.demo import use_stack

    use_stack(clean_stack)
    clients.reset()
    monkeypatch.setenv(Env.TARGET, "aws")
    yield clean_stack
    clients.reset()
