"""Lambda entry points: plain functions that Lambda calls, each one line over one function of the package.

The one place that says which functions the pipeline has and how the template names them:

- every declared source has an ingest, a process and a redrive function (`SOURCE_KINDS`); the sources whose sink
  is the processed Parquet area also have a compaction function (`COMPACTED_SOURCES`);
- the function of kind `k` for source `s` is `def s(event, context)` in `pipeline/handlers/k.py`, so its handler
  string is `pipeline.handlers.k.s` (`handler_string`), the `Handler:` of its function in the template.

Adding a source adds one `def <source>(event, context)` to each of `ingest.py`, `process.py` and `redrive.py`
(copy an existing one); `workbench.declarations.problems()` names each one missing. Each entry point is decorated
as Powertools' examples are (`logger.inject_lambda_context`, the correlation id taken from the event) and accepts
`context=None` outside Lambda (the local runtime, the tests and the notebooks call them so).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Final, Literal, cast, get_args

from aws_lambda_powertools.utilities.typing import LambdaContext

# A Lambda entry point: the event and Lambda's context (None when called outside Lambda, as the local runtime does).
Handler = Callable[[dict[str, Any], LambdaContext | None], dict[str, Any]]

Kind = Literal["ingest", "process", "redrive", "compact"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
SOURCE_KINDS: Final[tuple[Kind, ...]] = ("ingest", "process", "redrive")  # the functions every source has
SCHEDULED_KINDS: Final[tuple[Kind, ...]] = ("ingest", "redrive")  # a source's functions an EventBridge rule invokes
COMPACTED_SOURCES: Final[tuple[str, ...]] = ("coinmarketcap",)  # the sources whose sink is the processed area
PACKAGE: Final = __name__

# The correlation id of a process function's log lines (Powertools' `correlation_id_path`, a JMESPath into the
# event): the deduplication id of the batch's first SQS FIFO record (the ingest derives it from the raw object's
# bucket, key and ETag), then each record's own while that record is handled. The scheduled functions take the
# EventBridge event's id (`correlation_paths.EVENT_BRIDGE`).
SQS_DEDUPLICATION_ID: Final = "Records[0].attributes.MessageDeduplicationId"


def kinds_of(source: str) -> tuple[Kind, ...]:
    """The functions of one source: ingest, process and redrive, and compact where its sink needs it."""
    return (*SOURCE_KINDS, "compact") if source in COMPACTED_SOURCES else SOURCE_KINDS


def handler_string(kind: Kind, source: str) -> str:
    """The template's `Handler:` of a function: `pipeline.handlers.ingest.yahoo_finance`."""
    return f"{PACKAGE}.{kind}.{source}"


def handler_module(kind: Kind) -> str:
    """The module that holds the entry points of one kind: `pipeline.handlers.ingest`."""
    return f"{PACKAGE}.{kind}"


def parse_handler(handler: str) -> tuple[Kind, str] | None:
    """(kind, source) of a handler string in the form of `handler_string`, else None (another function of the
    stack, such as the RDS option's `pipeline.handlers.sqlserver_database.handler`, is no source's)."""
    kind, _, source = handler.removeprefix(f"{PACKAGE}.").partition(".")
    if not handler.startswith(f"{PACKAGE}.") or kind not in KINDS or not source or "." in source:
        return None
    return kind, source


def entry_point(kind: Kind, source: str) -> Handler | None:
    """The `def <source>` of `pipeline.handlers.<kind>`, or None when that module has none."""
    found = getattr(import_module(handler_module(kind)), source, None)
    return cast(Handler, found) if callable(found) else None


@dataclass(frozen=True)
class OutsideLambda:
    """The context of a call outside Lambda (the fields Powertools' logger reads from a `LambdaContext`)."""

    function_name: str = "local"
    memory_limit_in_mb: int = 0
    invoked_function_arn: str = ""
    aws_request_id: str = ""


def callable_outside_lambda(handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Handler:
    """Let an entry point be called with `context=None`, as the local runtime, the tests and the notebooks do:
    Powertools' `inject_lambda_context` reads the context's fields, so None becomes an `OutsideLambda`."""

    @functools.wraps(handler)
    def call(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return handler(event, OutsideLambda(function_name=handler.__name__) if context is None else context)

    return call
