"""`python -m pipeline ...` (also installed as `pipeline`): the local stack, runs, one-off ingests, parsing,
verification, replay, layers and deployment.

Expected failures end with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from pipeline.constants import Env
from pipeline.contracts import ContractError, check_source, iso, to_utc
from pipeline.errors import PipelineError
from pipeline.registry import source_ids

app = typer.Typer(
    name="pipeline",
    help="A real-time serverless market-data pipeline, and its local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped or captured output (CI logs, `make demo | tee`) gets room for the tables instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 400)


def _source(value: str) -> str:
    """A SOURCE argument: an unknown one is a usage error (the help lists the choices)."""
    try:
        return check_source(value)
    except ContractError as exc:
        raise typer.BadParameter(str(exc)) from None


def _sources(values: list[str] | None) -> list[str] | None:
    return [_source(v) for v in values] if values else values


SourceArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(source_ids())}", callback=_source)]
SourcesOpt = Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable)", callback=_sources)]
TimeOpt = Annotated[str | None, typer.Option(help="ISO-8601 time, UTC unless it says otherwise")]


class CommandError(PipelineError):
    """An expected failure of a command: printed as one line, exit code 1."""


# The scheduled minutes a command accepts: the simulated sources run any day, but a minute must leave room for the
# runs and windows computed from it (9999-12-31 overflows the first `+ timedelta`).
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100


def _time(value: str | None, name: str, *, past: bool = False) -> datetime | None:
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


def _window(ctx: typer.Context, first: datetime | None, last: datetime | None) -> None:
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
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (`kill`, a CI job cancelled) interrupts like Ctrl-C, so a run releases the messages it holds; either
    ends the command with one line on stderr (what it released) and the exit code a shell reports for the signal:
    130 for Ctrl-C, 143 for SIGTERM."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt as exc:
        raise typer.Exit(_interrupted(exc)) from None
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


def _local_stack() -> Any:
    """The running local stack, with this process's handlers pointed at it."""
    from pipeline.settings import Settings
    from workbench.local import servers as local_stack
    from workbench.local.demo import use_stack

    settings = Settings()
    stack = local_stack.status(settings)
    if stack is None:
        raise CommandError(local_stack.down_reason(local_stack.recorded(settings)))
    use_stack(stack)
    return stack


def _target() -> tuple[Any, Any]:
    """(settings, local stack or None) of the stack a command works on.

    The local stack, unless PIPELINE_TARGET=aws: then AWS (or whatever AWS_ENDPOINT_URL names), with the bucket,
    topic and sink settings from the environment or `.env`.
    """
    from pipeline import clients
    from pipeline.settings import Settings

    if os.environ.get(Env.TARGET, "local") == "aws":
        clients.configure(None)
        return Settings(), None
    stack = _local_stack()
    return stack.settings(), stack


def _print_report(report: Any, as_json: bool, emit: Callable[[Any], None] | None = None) -> None:
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


@app.command()
def run(
    minutes: Annotated[int, typer.Option(min=1, help="How many scheduled minutes to run")] = 30,
    start: TimeOpt = None,
    speed: Annotated[float | None, typer.Option(min=0.01, help="Times real time; default: as fast as possible")] = None,
    source: SourcesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON")] = False,
    artifacts: Annotated[
        bool,
        typer.Option(
            "--artifacts",
            help="Run each function from its built code package and layer, sandboxed in a python3.13 root under "
            "awslambdaric (make runtime-root; layers from `layer build`), and check the AWS calls against IAM",
        ),
    ] = False,
) -> None:
    """Run the schedule and the consumers over the local stack for N scheduled minutes (simulated sources)."""
    from workbench.local.demo import run_minutes

    start_at = _time(start, "start", past=True)
    stack = _local_stack()
    with json_stdout(as_json) as emit, _sigterm_interrupts():
        if artifacts:
            from workbench.local.sandbox.run import run_artifacts, write_durations

            artifacts_report = run_artifacts(stack, minutes, start_at, speed=speed, sources=source)
            written = write_durations(artifacts_report)  # what `pipeline cost` reads
            _print_report(artifacts_report, as_json, emit)
            if not as_json:
                typer.echo(f"durations for `pipeline cost`: {written}")
            return
        report = run_minutes(stack, minutes, start_at, speed=speed, sources=source, progress=not as_json)
        _print_report(report, as_json, emit)


@app.command()
def ingest(
    source: SourceArg,
    at: Annotated[str, typer.Option(help="The scheduled minute, ISO-8601 (UTC unless it says otherwise)")],
) -> None:
    """One ingest invocation for SOURCE at the scheduled minute AT, against the configured stack."""
    from workbench.local.runtime import scheduled_event

    sid, when = source, _time(at, "at", past=True)
    assert when is not None  # a required option
    _target()  # before the handler module is imported: it sets up its logger from the environment
    from pipeline.handlers import ingest as handlers

    result = getattr(handlers, sid)(scheduled_event(sid, when), None)
    print(json.dumps(result, indent=2))


@app.command()
def parse(
    source: SourceArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A saved payload")],
    at: TimeOpt = None,
) -> None:
    """Turn a saved payload (a Yahoo chart JSON, a CoinMarketCap page or API JSON, an OXR body) into raw CSV."""
    from pipeline.raw import rows_to_csv
    from pipeline.sources import parse_file

    sid = source
    rows = parse_file(sid, file, scheduled_at=_time(at, "at"))
    sys.stdout.write(rows_to_csv(sid, rows, for_people=True).decode())  # cells a spreadsheet would run: quoted


@app.command()
def verify(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--from", help="First scheduled minute (ISO-8601)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last scheduled minute (ISO-8601)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    market: Annotated[
        bool,
        typer.Option(
            "--market",
            help="Also measure the sinks against the market: of what existed (bars, snapshots, rate sets), the "
            "share that reached them, every gap with its cause, and freshness p50/p95 (needs --from and --to)",
        ),
    ] = False,
    source: SourcesOpt = None,
) -> None:
    """Reconcile the raw objects' success rows against every sink, minute by minute. Exit 1 on any difference."""
    from workbench.verify import verify as reconcile

    first, last = _time(start, "from", past=True), _time(end, "to", past=True)
    _window(ctx, first, last)
    chosen = source
    if market and (first is None or last is None):
        raise CommandError("--market needs a window: give --from and --to")
    settings, _ = _target()
    with json_stdout(as_json) as emit:
        report = reconcile(settings, first, last, sources=chosen)
        if not market:
            _print_report(report, as_json, emit)
            return
        from workbench.completeness import measure

        assert first is not None and last is not None
        against = measure(settings, first, last, sources=chosen)
        if as_json:
            emit(report.as_dict() | {"market": against.as_dict()})
        else:
            console.print(report.table())
            console.print(against.table())
            for line in report.advice():
                console.print(line, highlight=False, markup=False, soft_wrap=True)
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def replay(
    ctx: typer.Context,
    source: SourcesOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="First scheduled minute (ISO-8601)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last scheduled minute (ISO-8601)")] = None,
) -> None:
    """Publish the events of stored raw objects again (the sinks are idempotent, so this is always safe)."""
    from pipeline import aws
    from workbench.replay import replay as republish

    first, last = _time(start, "from", past=True), _time(end, "to")
    _window(ctx, first, last)
    settings, _ = _target()
    count = republish(
        aws.client("s3", settings),
        aws.client("sns", settings),
        settings.bucket,
        settings.topic_arn,
        sources=source or source_ids(),
        start=first,
        end=last,
    )
    console.print(f"republished {count} event(s)")


@app.command()
def redrive(
    source: SourceArg,
    archive: Annotated[
        bool, typer.Option(help="Copy what is not an event to dead-letters/<source>/ in the bucket, then delete it")
    ] = False,
    queue_url: Annotated[str | None, typer.Option(help="In AWS: the source's queue (a stack output)")] = None,
    dead_letter_queue_url: Annotated[str | None, typer.Option(help="In AWS: its dead-letter queue")] = None,
) -> None:
    """Send the pipeline events in SOURCE's dead-letter queue back to its queue; leave (or archive) the rest."""
    from pipeline import aws
    from pipeline.contracts import check_source
    from pipeline.redrive import redrive as move_back

    sid = check_source(source)
    settings, stack = _target()
    if stack is not None:
        queue_url, dead_letter_queue_url = stack.queues[sid], stack.dead_letter_queues[sid]
    elif not (queue_url and dead_letter_queue_url):
        raise CommandError("with PIPELINE_TARGET=aws, give --queue-url and --dead-letter-queue-url (stack outputs)")
    result = move_back(
        aws.client("sqs", settings),
        sid,
        queue_url,
        dead_letter_queue_url,
        s3=aws.client("s3", settings),
        archive_to=settings.bucket if archive else None,
    )
    console.print(
        f"{sid}: {len(result.redriven)} event(s) sent back to the queue, {len(result.archived)} archived, "
        f"{result.kept} left in the dead-letter queue"
    )


@app.command()
def soak(
    minutes: Annotated[int, typer.Option(min=1, help="Scheduled minutes (default: a whole day)")] = 1440,
    start: TimeOpt = None,
    source: SourcesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
    output: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Also write the figures as JSON to this file")
    ] = None,
) -> None:
    """A simulated trading day on the local stack under injected faults, then a reconciliation; exit 1 unless
    nothing was lost or duplicated (PIPELINE_UNIVERSE_LIMIT makes the stock universe smaller)."""
    from workbench.soak import DEFAULT_DAY, figures_json
    from workbench.soak import soak as run_soak

    chosen = tuple(source) if source else None
    first = _time(start, "start", past=True) or DEFAULT_DAY
    stack = _local_stack()
    with json_stdout(as_json) as emit:
        if as_json:
            report = run_soak(stack, start=first, minutes=minutes, sources=chosen)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, transient=True, console=err) as bar:
                task = bar.add_task("scheduled minutes", total=minutes)
                report = run_soak(
                    stack, start=first, minutes=minutes, sources=chosen,
                    on_minute=lambda _i, at: bar.update(task, advance=1, description=f"minute {at:%H:%M}Z"),
                )  # fmt: skip
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(figures_json(report) + "\n", encoding="utf-8")
        _print_report(report, as_json, emit)


@app.command()
def status(
    source: SourcesOpt = None,
    at: Annotated[
        str | None, typer.Option(help="Measure ages against this time (default: the newest scheduled minute locally)")
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(help="With PIPELINE_TARGET=aws: the stack name (its alarms only, and its dashboard's address)"),
    ] = None,
    queue_url: Annotated[
        list[str] | None, typer.Option(help="With PIPELINE_TARGET=aws: SOURCE=URL of a queue (a stack output)")
    ] = None,
    dead_letter_queue_url: Annotated[
        list[str] | None, typer.Option(help="With PIPELINE_TARGET=aws: SOURCE=URL of a dead-letter queue")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
) -> None:
    """Per source: the newest raw object and sink row and their ages, queue and dead-letter depth, quarantine
    records and this month's budget (on AWS also the alarms in ALARM). Exit 1 when a source is stale or a
    dead-letter queue holds messages."""
    from workbench.status import status as read_status

    chosen = tuple(source) if source else None
    when = _time(at, "at", past=True)
    settings, local = _target()
    if local is not None:
        queues, dead = dict(local.queues), dict(local.dead_letter_queues)
    else:
        queues, dead = (
            _source_urls(queue_url, "queue-url"),
            _source_urls(dead_letter_queue_url, "dead-letter-queue-url"),
        )
        if stack and not (queues and dead):
            from pipeline import aws
            from workbench.status import stack_queues

            found = stack_queues(aws.client("cloudformation", settings), stack)
            queues, dead = {**found[0], **queues}, {**found[1], **dead}
    with json_stdout(as_json) as emit:
        report = read_status(
            settings, queues=queues, dead_letter_queues=dead, target="local" if local is not None else "aws",
            at=when, stack_name=stack, sources=chosen,
        )  # fmt: skip
        _print_report(report, as_json, emit)


def _source_urls(values: list[str] | None, name: str) -> dict[str, str]:
    """`SOURCE=URL` options -> {source: url}."""
    from pipeline.contracts import check_source

    urls = {}
    for value in values or []:
        sid, sep, url = value.partition("=")
        if not sep or not url:
            raise CommandError(f"--{name}: write SOURCE=URL, e.g. yahoo_finance=https://sqs...; got {value!r}")
        urls[check_source(sid)] = url
    return urls


@app.command()
def backfill(
    source: SourceArg,
    start: Annotated[str, typer.Option("--from", help="First minute of the window (ISO-8601)")],
    end: Annotated[str, typer.Option("--to", help="End of the window, exclusive (ISO-8601)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the backfill and its verification as JSON")] = False,
) -> None:
    """Fill a past window of SOURCE through the pipeline's path (raw objects, events, process functions, sinks),
    idempotent with the live minutes and resumable; then verify the window. CoinMarketCap has no history."""
    from pipeline import aws
    from workbench.backfill import backfill as fill
    from workbench.verify import verify as reconcile

    sid = source
    first, last = _time(start, "from", past=True), _time(end, "to", past=True)
    assert first is not None and last is not None  # required options
    settings, stack = _target()
    runtime = None
    if stack is not None:
        from workbench.local.demo import local_runtime

        runtime = local_runtime(stack, settings, (sid,))
    with json_stdout(as_json) as emit, _sigterm_interrupts():
        s3, sns = aws.client("s3", settings), aws.client("sns", settings)

        def processed(minute: datetime) -> None:
            if runtime is not None:
                runtime.poll(minute, [sid])

        try:
            if as_json:
                report = fill(sid, first, last, settings=settings, s3=s3, sns=sns, after_publish=processed)
            else:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                with Progress(*columns, transient=True, console=err) as bar:
                    task = bar.add_task(f"{sid} backfill", total=None)

                    def advance(done: int, total: int, piece: Any) -> None:
                        bar.update(task, completed=done, total=total, description=f"{sid} {piece.key}")

                    report = fill(sid, first, last, settings=settings, s3=s3, sns=sns, after_publish=processed,
                                  on_piece=advance)  # fmt: skip
        except BaseException:
            if runtime is not None:
                runtime.release()
            raise
        if runtime is not None:
            runtime.settle(last + timedelta(minutes=1))
        checked = reconcile(settings, first, last, sources=[sid])
        if as_json:
            emit({"backfill": report.as_dict(), "verify": checked.as_dict()})
        else:
            d = report.as_dict()
            console.print(
                f"{sid} {d['from']} to {d['to']}: {d['pieces']} raw object(s) in the window, {d['written']} written "
                f"({d['rows_added']:,} rows added), {d['unchanged']} already complete, {d['resumed']} done by an "
                f"earlier run; {d['requests']} request(s)"
            )
            if report.stopped:
                console.print(f"[red]stopped:[/red] {report.stopped}", highlight=False)
            console.print(checked.table())
            if stack is None:
                console.print("on AWS the process functions load the events: verify the window again once the "
                              "queue has drained")  # fmt: skip
        if not report.ok or not checked.ok:
            raise typer.Exit(1)


quarantine_app = typer.Typer(help="Show and retry what was set aside under quarantine/ (terminal errors).")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    source: SourcesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON")] = False,
) -> None:
    """The quarantine records: raw key, scope, rows set aside and the reason."""
    from dataclasses import asdict

    from rich.table import Table

    from pipeline import aws
    from pipeline import quarantine as q
    from pipeline.contracts import check_source

    settings, _ = _target()
    s3 = aws.client("s3", settings)
    with json_stdout(as_json) as emit:
        found = [r for sid in (source or source_ids()) for r in q.records(s3, settings.bucket, check_source(sid))]
    if as_json:
        emit([asdict(r) | {"key": r.key} for r in found])
        return
    table = Table(title=f"{len(found)} quarantine record(s) in s3://{settings.bucket}/quarantine/")
    for name in ("source", "raw key", "scope", "rows", "reason"):
        table.add_column(name)
    for r in found:
        table.add_row(r.source, r.raw_key or "-", r.scope, str(r.row_count), r.reason)
    console.print(table)


@quarantine_app.command("retry")
def quarantine_retry(
    source: SourcesOpt = None,
) -> None:
    """Process every quarantined raw object again (once its cause is fixed); a record that now loads is removed."""
    from pipeline import aws
    from pipeline.contracts import check_source
    from pipeline.sinks import get_sink
    from workbench.quarantine import retry

    settings, _ = _target()
    s3 = aws.client("s3", settings)
    failing = 0
    for sid in (check_source(s) for s in (source or source_ids())):
        sink = get_sink(sid, settings, s3=s3)
        try:
            result = retry(s3, settings.bucket, sid, sink)
        finally:
            sink.close()
        failing += len(result.still_failing)
        console.print(f"{sid}: {len(result.resolved)} resolved, {len(result.still_failing)} still failing")
        for key, reason in result.still_failing[:10]:
            console.print(f"  {key}: {reason}", highlight=False)
    if failing:
        raise typer.Exit(1)


@app.command()
def demo(
    minutes: Annotated[int, typer.Option(min=1, help="How many scheduled minutes to run")] = 30,
    start: TimeOpt = None,
    report: Annotated[bool, typer.Option(help="Render the analysis notebook to an HTML report")] = True,
) -> None:
    """Local stack up, N simulated minutes through the whole pipeline, verification, and the analysis report."""
    from workbench.local.demo import demo as run_demo

    ok = run_demo(minutes, _time(start, "start", past=True), console=console, render_report=report)
    if not ok:
        raise typer.Exit(1)


universe_app = typer.Typer(no_args_is_help=True, help="The stock universe (pipeline/data/sp500.csv).")


@universe_app.command("refresh")
def universe_refresh(
    from_csv: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A constituents CSV (Symbol, Security, GICS Sector, ...)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The file to write (default: the shipped universe file)")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the changes, write nothing")] = False,
) -> None:
    """Update the universe from the S&P 500 constituents (Wikipedia's table, or --from-csv), in Yahoo's spelling."""
    from rich.table import Table

    from pipeline.sources.yahoo_finance import universe as u

    target = out or u.universe_file()
    new = u.read_constituents_csv(from_csv) if from_csv else u.fetch_constituents()
    change = u.compare(u.read_universe_file(target), new)
    table = Table(title=f"S&P 500 universe: {len(new)} constituents from {from_csv or u.WIKIPEDIA_URL}")
    for name in ("change", "symbol", "name", "sector"):
        table.add_column(name)
    for listing in change.added:
        table.add_row("[green]added[/green]", listing.symbol, listing.name, listing.sector)
    for listing in change.removed:
        table.add_row("[red]removed[/red]", listing.symbol, listing.name, listing.sector)
    for before, after in change.changed:
        table.add_row("changed", after.symbol, f"{before.name} -> {after.name}", f"{before.sector} -> {after.sector}")
    if change.empty:
        console.print(f"{target}: up to date ({len(new)} constituents)")
        return
    console.print(table)
    if dry_run:
        console.print("dry run: nothing written")
        return
    u.write_universe_file(new, target)
    console.print(f"{target}: {len(change.added)} added, {len(change.removed)} removed, {len(change.changed)} changed")


def _mount_subcommands() -> None:
    from workbench.course_cli import course_app
    from workbench.deploy.cli import cost, deploy, layer_app
    from workbench.local.cli import app as local_app

    app.add_typer(local_app, name="local", help="Start, stop and describe the local stack.")
    app.add_typer(layer_app, name="layer", help="Build the per-function Lambda layers.")
    app.add_typer(universe_app, name="universe", help="The stock universe (pipeline/data/sp500.csv).")
    app.add_typer(course_app, name="course", help="Refresh the course's notebooks and the sizes notebook 06 shows.")
    app.command(name="deploy")(deploy)
    app.command(name="cost")(cost)


_mount_subcommands()


def main() -> None:
    """Entry point: usage errors are Click's usage line and exit 2; expected errors (a bad setting or time, a
    stack that is down, a refused payload) one line on stderr and exit 1; never a traceback for what a user typed."""
    import click
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError
    from typer.exceptions import TyperException

    from pipeline.settings import describe_error, is_settings_error

    expected: tuple[type[BaseException], ...] = (PipelineError, BotoCoreError, ClientError)
    threading.excepthook = _thread_error
    try:
        _check_local_dir(os.environ.get(Env.LOCAL_DIR))
        code = app(standalone_mode=False)
    except expected as exc:
        _fail(str(exc))
    except ValidationError as exc:
        if not is_settings_error(exc):
            raise
        _fail(describe_error(exc))
    except (TyperException, click.ClickException) as exc:  # typer bundles its own click: both kinds
        show = getattr(exc, "show", None)
        if show is None:
            _fail(str(exc))
        show()
        sys.exit(exc.exit_code)
    except (typer.Exit, click.exceptions.Exit) as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, click.Abort, KeyboardInterrupt) as exc:  # outside the commands that handle their own
        sys.exit(_interrupted(exc))
    if isinstance(code, int) and code:
        sys.exit(code)


def _interrupted(exc: BaseException) -> int:
    """One line on stderr for an interrupted command (what it released, if it held anything); 130 for Ctrl-C,
    143 for SIGTERM, as a shell reports a process ended by either."""
    notes = getattr(exc, "__notes__", [])
    print("interrupted" + (f": {'; '.join(notes)}" if notes else ""), file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130


def _check_local_dir(value: str | None) -> None:
    """PIPELINE_LOCAL_DIR names a directory the stack may create or write, or the command stops in one line."""
    if not value:
        return
    path = Path(value).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        why = "is a file, not a directory" if existing == path else f"cannot be created: {existing} is a file"
    elif not os.access(existing, os.W_OK | os.X_OK):
        why = "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
    else:
        return
    raise CommandError(f"{Env.LOCAL_DIR}={value!r} {why} (point it at a directory of your own, or unset it)")


_thread_log = logging.getLogger("pipeline.threads")


def _thread_error(args: threading.ExceptHookArgs) -> None:
    """An exception that ends a thread (the Snowflake connector's abort-request threads once its server is gone)
    is one log line, not a traceback: what failed is reported by the command itself."""
    if args.exc_type is SystemExit:
        return
    from pipeline.errors import one_line

    name = args.thread.name if args.thread is not None else "a thread"
    _thread_log.warning("%s stopped: %s: %s", name, args.exc_type.__name__, one_line(args.exc_value or args.exc_type()))


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(1)
