"""Runs on the local stack: `run`, `ingest`, `parse`, `soak` and `demo`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.commands.common import (
    SourceArg,
    SourcesOpt,
    TimeOpt,
    console,
    err,
    json_stdout,
    local_stack,
    option_time,
    print_report,
    sigterm_interrupts,
    target_stack,
)


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

    start_at = option_time(start, "start", past=True)
    stack = local_stack()
    with json_stdout(as_json) as emit, sigterm_interrupts():
        if artifacts:
            from workbench.local.sandbox.run import run_artifacts, write_durations

            artifacts_report = run_artifacts(stack, minutes, start_at, speed=speed, sources=source)
            written = write_durations(artifacts_report)  # what `pipeline cost` reads
            print_report(artifacts_report, as_json, emit)
            if not as_json:
                typer.echo(f"durations for `pipeline cost`: {written}")
            return
        report = run_minutes(stack, minutes, start_at, speed=speed, sources=source, progress=not as_json)
        print_report(report, as_json, emit)


def ingest(
    source: SourceArg,
    at: Annotated[str, typer.Option(help="The scheduled minute, ISO-8601 (UTC unless it says otherwise)")],
) -> None:
    """One ingest invocation for SOURCE at the scheduled minute AT, against the configured stack."""
    from workbench.local.events import scheduled_event

    sid, when = source, option_time(at, "at", past=True)
    assert when is not None  # a required option
    target_stack()  # before the handler module is imported: it sets up its logger from the environment
    from pipeline.handlers import ingest as handlers

    result = getattr(handlers, sid)(scheduled_event(sid, when), None)
    print(json.dumps(result, indent=2))


def parse(
    source: SourceArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A saved payload")],
    at: TimeOpt = None,
) -> None:
    """Turn a saved payload (a Yahoo chart JSON, a CoinMarketCap page or API JSON, an OXR body) into raw CSV."""
    from pipeline.raw import rows_to_csv
    from pipeline.sources import parse_file

    sid = source
    rows = parse_file(sid, file, scheduled_at=option_time(at, "at"))
    sys.stdout.write(rows_to_csv(sid, rows, for_people=True).decode())  # cells a spreadsheet would run: quoted


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
    first = option_time(start, "start", past=True) or DEFAULT_DAY
    stack = local_stack()
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
        print_report(report, as_json, emit)


def demo(
    minutes: Annotated[int, typer.Option(min=1, help="How many scheduled minutes to run")] = 30,
    start: TimeOpt = None,
    report: Annotated[bool, typer.Option(help="Render the analysis notebook to an HTML report")] = True,
) -> None:
    """Local stack up, N simulated minutes through the whole pipeline, verification, and the analysis report."""
    from workbench.local.demo import demo as run_demo

    ok = run_demo(minutes, option_time(start, "start", past=True), console=console, render_report=report)
    if not ok:
        raise typer.Exit(1)
