"""What the commands of `python -m pipeline` share: the consoles, the SOURCE and time options, the stack a command
works on, `--json` output on a clean stdout, SIGTERM as an interrupt, and how a report ends a command."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from pipeline.constants import Env
from pipeline.contracts import ContractError, check_source, iso, to_utc
from pipeline.errors import PipelineError
from pipeline.registry import source_ids

# Piped or captured output (CI logs, `make demo | tee`) gets room for the tables instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 400)


def source_argument(value: str) -> str:
    """A SOURCE argument: an unknown one is a usage error (the help lists the choices)."""
    try:
        return check_source(value)
    except ContractError as exc:
        raise typer.BadParameter(str(exc)) from None


def sources_option(values: list[str] | None) -> list[str] | None:
    return [source_argument(v) for v in values] if values else values


SourceArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(source_ids())}", callback=source_argument)]
SourcesOpt = Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable)", callback=sources_option)]
TimeOpt = Annotated[str | None, typer.Option(help="ISO-8601 time, UTC unless it says otherwise")]


class CommandError(PipelineError):
    """An expected failure of a command: printed as one line, exit code 1."""


# The scheduled minutes a command accepts: the simulated sources run any day, but a minute must leave room for the
# runs and windows computed from it (9999-12-31 overflows the first `+ timedelta`).
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100


def option_time(value: str | None, name: str, *, past: bool = False) -> datetime | None:
    """The time an option gives; with `past`, a scheduled minute that must have come already (a future minute
    would be ingested before it exists and move the sources' state ahead of the clock)."""
    if value is None:
        return None
    try:
        when = to_utc(value)
    except (ValueError, OverflowError) as exc:
        raise CommandError(f"--{name}: {exc} (write e.g. 2026-11-02T14:45Z)") from None
    if not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        raise CommandError(f"--{name}: {value!r} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    from pipeline.sources.base import MAX_CLOCK_SKEW

    now = datetime.now(UTC)
    if past and when > now + MAX_CLOCK_SKEW:
        raise CommandError(f"--{name}: {value!r} is later than now ({iso(now)}): give a minute that has come")
    return when


def check_window(ctx: typer.Context, first: datetime | None, last: datetime | None) -> None:
    """--from after --to is a usage error, not an empty window."""
    if first is not None and last is not None and first > last:
        raise typer.BadParameter(f"{iso(first)} is after --to {iso(last)}", ctx=ctx, param_hint="'--from'")


@contextlib.contextmanager
def json_stdout(enabled: bool = True) -> Iterator[Callable[[Any], None]]:
    """While a `--json` command works, everything it or its libraries write to stdout (the handlers' Powertools
    logs, a subprocess's output) goes to stderr; the document given to the function yielded is written to stdout
    once the work is over (also when it ends in an error or an exit code)."""
    out = sys.stdout
    documents: list[Any] = []
    done = False

    def write(document: Any) -> None:
        out.write(json.dumps(document, indent=2, default=str) + "\n")
        out.flush()

    def emit(document: Any) -> None:  # written at once when the block is over already
        if done:
            write(document)
        else:
            documents.append(document)

    if not enabled:
        yield lambda document: print(json.dumps(document, indent=2, default=str))
        return
    for logger in [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (out, sys.__stdout__):
                handler.setStream(sys.stderr)
    saved = _redirect_fd(1, 2)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield emit
    finally:
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)
        done = True
        for document in documents:
            write(document)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt (the command then exits 143, not 130)."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (`kill`, a CI job cancelled) interrupts like Ctrl-C, so a run releases the messages it holds; either
    ends the command with one line on stderr (what it released) and the exit code a shell reports for the signal:
    130 for Ctrl-C, 143 for SIGTERM."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt as exc:
        raise typer.Exit(interrupted(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _redirect_fd(fd: int, to: int) -> int | None:
    """Point file descriptor `fd` at `to` (for subprocesses and C code); the saved original, if `fd` is the
    process's real stdout."""
    try:
        if sys.stdout.fileno() != fd:
            return None
    except (AttributeError, ValueError, io.UnsupportedOperation):  # captured: no descriptor to redirect
        return None
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(to, fd)
    return saved


def local_stack() -> Any:
    """The running local stack, with this process's handlers pointed at it."""
    from pipeline.settings import Settings
    from workbench.local import servers
    from workbench.local.demo import use_stack

    settings = Settings()
    stack = servers.status(settings)
    if stack is None:
        raise CommandError(servers.down_reason(servers.recorded(settings)))
    use_stack(stack)
    return stack


def target_stack() -> tuple[Any, Any]:
    """(settings, local stack or None) of the stack a command works on.

    The local stack, unless PIPELINE_TARGET=aws: then AWS (or whatever AWS_ENDPOINT_URL names), with the bucket,
    topic and sink settings from the environment or `.env`.
    """
    from pipeline import clients
    from pipeline.settings import Settings

    if os.environ.get(Env.TARGET, "local") == "aws":
        clients.configure(None)
        return Settings(), None
    stack = local_stack()
    return stack.settings(), stack


def print_report(report: Any, as_json: bool, emit: Callable[[Any], None] | None = None) -> None:
    """A run or verification report as a table (or JSON, through `emit` of `json_stdout`); exit 1 unless it is
    all well."""
    if as_json:
        (emit or (lambda doc: print(json.dumps(doc, indent=2, default=str))))(report.as_dict())
    else:
        console.print(report.table())
        for line in getattr(report, "advice", list)():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def interrupted(exc: BaseException) -> int:
    """One line on stderr for an interrupted command (what it released, if it held anything); 130 for Ctrl-C,
    143 for SIGTERM, as a shell reports a process ended by either."""
    notes = getattr(exc, "__notes__", [])
    print("interrupted" + (f": {'; '.join(notes)}" if notes else ""), file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130
