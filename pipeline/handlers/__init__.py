"""Lambda entry points: thin functions that parse the event, call one function of the package and return.

Handler strings: `pipeline.handlers.ingest.<source>` and `pipeline.handlers.process.<source>`, one of each for
every source declared in `pipeline.registry` (the modules derive them by name, so a new source needs no edit here).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Handler = Callable[..., dict[str, Any]]


@cache
def _entry_point(source: str, handle: Callable[[str, dict[str, Any], Any], dict[str, Any]]) -> Handler:
    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return handle(source, event, context)

    handler.__name__ = handler.__qualname__ = source
    handler.__doc__ = f"The Lambda entry point of {source!r}."
    return handler


def entry_point(name: str, handle: Callable[[str, dict[str, Any], Any], dict[str, Any]]) -> Handler:
    """The entry point `name` of a handler module: a declared source's id, else AttributeError (as for any module)."""
    from pipeline.registry import source_ids

    if name not in source_ids():
        raise AttributeError(f"no handler {name!r}: not a source declared in pipeline.registry")
    return _entry_point(name, handle)
