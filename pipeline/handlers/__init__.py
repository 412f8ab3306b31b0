"""Lambda entry points: thin functions that parse the event, call one function of the package and return.

Handler strings: `pipeline.handlers.ingest.<source>` and `pipeline.handlers.process.<source>`, one of each for
every source declared in `pipeline.registry` (the modules derive them by name, so a new source needs no edit here).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

# A Lambda entry point: the event and Lambda's context (None when called outside Lambda, as the local runtime does).
Handler = Callable[[dict[str, Any], LambdaContext | None], dict[str, Any]]
# What a handler module does for one source: (source, event, context) -> the function's result.
Handle = Callable[[str, dict[str, Any], LambdaContext | None], dict[str, Any]]


@cache
def _entry_point(source: str, handle: Handle) -> Handler:
    def handler(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return handle(source, event, context)

    handler.__name__ = handler.__qualname__ = source
    handler.__doc__ = f"The Lambda entry point of {source!r}."
    return handler


def entry_point(name: str, handle: Handle) -> Handler:
    """The entry point `name` of a handler module: a declared source's id, else AttributeError (as for any module)."""
    from pipeline.registry import source_ids

    if name not in source_ids():
        raise AttributeError(f"no handler {name!r}: not a source declared in pipeline.registry")
    return _entry_point(name, handle)
