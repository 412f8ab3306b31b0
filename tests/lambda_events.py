"""Loader for the Lambda event fixtures in tests/events/ (real event shapes, edited for this project)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())  # type: ignore[no-any-return]


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of tests/events/<name>.json with top-level fields replaced."""
    event = copy.deepcopy(_load(name))
    event.update(overrides)
    return event
