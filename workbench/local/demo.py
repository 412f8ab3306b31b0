"""Runs over the local stack: N scheduled minutes through the whole pipeline, and the demo around it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import aws
from pipeline.constants import Env, SourceId
from pipeline.contracts import check_source, floor_minute, iso
from pipeline.registry import source_ids

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline.handlers import Handler
    from pipeline.settings import Settings
    from workbench.local.run_report import RunReport
    from workbench.local.runtime import LocalRuntime
    from workbench.local.servers import LocalStack

# Monday 2 November 2026, 09:45 in New York: inside US trading hours, so every source has data. A fixed default
# keeps the demo and the course's recorded outputs the same from one run to the next.
DEFAULT_START = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)

ANALYSIS_NOTEBOOK = Path("notebooks") / "08_analysis.ipynb"
REPORT_DIR = Path("reports")
# The tag of the notebooks' cell that keeps the tests' values (`workbench.course.bootstrap.RECORD_TAG`; the course
# imports this package, so the tag is spelled here too and a test holds the two equal).
REPORT_HIDDEN_TAG = "record"


# The simulated Open Exchange Rates service publishes new rates every minute and has no plan limits, so locally the
# quota guard polls it every minute (set these to 3600 and 1000 to watch the free plan's guard at work instead).
SIMULATED_OXR_PLAN = {Env.OXR_REFRESH_SECONDS: "60", Env.OXR_MONTHLY_QUOTA: "0"}
_PLAN_FIELDS = {Env.OXR_REFRESH_SECONDS: "oxr_refresh_seconds", Env.OXR_MONTHLY_QUOTA: "oxr_monthly_quota"}


def use_stack(stack: LocalStack, **overrides: Any) -> Settings:
    """Point this process's handlers (settings, clients, sinks) at the local stack; returns the settings they use.

    The settings are passed to the handlers (`clients.configure`), not written to os.environ; the stack keeps the
    overrides, so its `settings()` are the same ones from then on. PIPELINE_MODE=live in the environment runs the
    live sources against the local stack; the simulated service's plan (SIMULATED_OXR_PLAN) applies unless the
    environment sets it; `overrides` (Settings fields) come last.
    """
    from pipeline import clients

    mode = os.environ.get(Env.MODE)
    plan = {_PLAN_FIELDS[name]: value for name, value in SIMULATED_OXR_PLAN.items() if name not in os.environ}
    stack.defaults = {**plan, **({"mode": mode} if mode else {})}  # as the environment says now
    stack.overrides = {**stack.overrides, **overrides}
    settings = stack.settings()
    # Powertools reads its log level from the environment: the handlers' logs stay at warnings while minutes run.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    clients.configure(settings)
    return settings


def chosen_sources(sources: Sequence[str] | None) -> tuple[SourceId, ...]:
    """The sources a run covers: those named (checked), else every declared source."""
    return tuple(check_source(s) for s in sources) if sources else source_ids()


def local_runtime(
    stack: Any,
    settings: Settings,
    sources: tuple[SourceId, ...],
    *,
    ingest_handlers: Mapping[SourceId, Handler] | None = None,
    process_handlers: Mapping[SourceId, Handler] | None = None,
    redrive: Callable[[SourceId], int] | None = None,
    compact_handlers: Mapping[SourceId, Handler] | None = None,
) -> LocalRuntime:
    """The local runtime over the stack's queues for `sources` (`ingest_handlers`/`process_handlers`/`redrive`/
    `compact_handlers` replace the in-process handlers, redrive and compaction, as the artifacts run does)."""
    from workbench.local.runtime import LocalRuntime

    return LocalRuntime(
        aws.client("sqs", settings),
        stack.queues,
        stack.dead_letter_queues,
        sources=sources,
        region=settings.region,
        ingest_handlers=ingest_handlers,
        process_handlers=process_handlers,
        redrive=redrive,
        compact_handlers=compact_handlers,
    )


def run_minutes(
    stack: Any,
    minutes: int,
    start: datetime | None = None,
    *,
    speed: float | None = None,
    sources: Sequence[str] | None = None,
    progress: bool = True,
) -> RunReport:
    """`minutes` scheduled minutes from `start` (default `DEFAULT_START`) through ingest, queues and sinks."""
    runtime = local_runtime(stack, use_stack(stack), chosen_sources(sources))
    first = floor_minute(start or DEFAULT_START)
    if not progress:
        return runtime.run(minutes, first, speed=speed)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("scheduled minutes", total=minutes)
        return runtime.run(
            minutes,
            first,
            speed=speed,
            on_minute=lambda _i, at: bar.update(task, advance=1, description=f"minute {at:%H:%M}Z"),
        )


def render_notebook(notebook: Path, html: Path, parameters: dict[str, Any]) -> Path:
    """Execute `notebook` with papermill and render it, with its figures, to a standalone HTML file."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    from workbench.kernel import kernel_config

    html.parent.mkdir(parents=True, exist_ok=True)
    executed = html.with_suffix(".ipynb")
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        cwd=str(notebook.parent),
        progress_bar=False,
        config=kernel_config(),  # IPC: no "kernel is running over TCP without encryption" warning
    )
    node = nbformat.read(executed, as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(template_name="lab")  # type: ignore[no-untyped-call]
    # the tests' record cell stays out of the report, as JupyterLab keeps it out of sight
    hide = TagRemovePreprocessor(remove_cell_tags={REPORT_HIDDEN_TAG}, enabled=True)  # type: ignore[no-untyped-call]
    exporter.register_preprocessor(hide, enabled=True)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(node)
    html.write_text(body, encoding="utf-8")
    return html


def demo(minutes: int, start: datetime | None, *, console: Console, render_report: bool = True) -> bool:
    """The whole job: stack up, N minutes, the run summary, verification, the analysis report. True if all is well."""
    from pipeline.settings import Settings
    from workbench.local import servers as local_stack
    from workbench.verify import verify

    console.rule("[bold]1. The local stack")
    stack = local_stack.up(Settings())
    settings = use_stack(stack)  # the stack's settings, with the simulated service's plan (SIMULATED_OXR_PLAN)
    console.print(f"moto (S3, SNS, SQS) at {settings.aws_endpoint_url}; bucket {settings.bucket}")

    first = floor_minute(start or DEFAULT_START)
    last = first + timedelta(minutes=minutes - 1)
    for line in reset_later_state(settings, first):
        console.print(line, highlight=False)
    console.rule(f"[bold]2. {minutes} scheduled minutes, {iso(first)} to {iso(last)}")
    console.print(_market_hours(first, minutes), highlight=False)
    report = run_minutes(stack, minutes, first)
    console.print(report.table())
    for source, stats in report.sources.items():
        for line in stats.ingest_errors[:3] + stats.process_errors[:3]:
            console.print(f"[red]{source}:[/red] {line}", highlight=False)

    console.rule("[bold]3. Reconciliation: raw objects against every sink")
    verification = verify(settings, first, last)
    console.print(verification.table())

    if "openexchangerates" in report.sources:
        console.print(_oxr_budget(settings, last), highlight=False)
    if "coinmarketcap" in report.sources:
        console.print(_cmc_budget(settings, last), highlight=False)

    html = None
    if render_report and ANALYSIS_NOTEBOOK.exists():
        console.rule("[bold]4. The analysis report")
        html = render_notebook(
            ANALYSIS_NOTEBOOK, REPORT_DIR / "analysis.html", {"start": iso(first), "minutes": minutes}
        )
        console.print(f"Open it in a browser: [bold]{html.resolve()}[/bold]")

    ok = report.ok and verification.ok
    console.rule("[bold green]done" if ok else "[bold red]something needs a look")
    console.print("The local stack is still running (`python -m pipeline local status`; stop it with `make down`).")
    return ok


def reset_later_state(settings: Settings, first: datetime) -> list[str]:
    """The simulated sources' state documents written for a time after `first`, deleted; a line for each.

    A source's state never moves backwards (`pipeline.sources.budget.later`): after a run of a later day (the soak's,
    or `pipeline run --start` later on), the demo's fixed window would find every forex minute "already called" and
    load no rate. The simulated services have no plan to protect, so the demo starts their state afresh; with
    PIPELINE_MODE=live the documents count a real plan's calls and are left as they are.
    """
    from pipeline.constants import STATE_PREFIX
    from pipeline.sources.budget import later
    from pipeline.state import S3State

    if settings.mode != "simulated":
        return []
    s3 = aws.client("s3", settings)
    state = S3State(s3, settings.bucket)
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=f"{STATE_PREFIX}/"):
        for entry in page.get("Contents", []):
            name = entry["Key"].removeprefix(f"{STATE_PREFIX}/").removesuffix(".json")
            try:
                doc = state.get(name)
                written_later = isinstance(doc, dict) and later(doc, first, first)
            except ValueError:  # not JSON, or a time that is not one: the source's own guard reports it
                continue
            if written_later:
                s3.delete_object(Bucket=settings.bucket, Key=entry["Key"])
                lines.append(
                    f"{entry['Key']} was written after {iso(first)} (by a later run): reset, its counts with it, as "
                    "this window comes first"
                )
    return lines


def _market_hours(first: datetime, minutes: int) -> str:
    """How many of the run's minutes have stock bars to fetch, by the NYSE calendar (the others are skipped)."""
    from pipeline.calendar import XNYS, closed_reason, is_open

    open_minutes = sum(is_open(XNYS, first + timedelta(minutes=i - 1)) for i in range(minutes))
    line = f"NYSE calendar: {open_minutes} of {minutes} minute(s) have stock bars to fetch"
    if open_minutes < minutes:
        last = first + timedelta(minutes=minutes - 1)
        reason = closed_reason(XNYS, last - timedelta(minutes=1), last)
        line += f"; yahoo_finance skips the others ({reason or 'outside the regular session'})"
    return line


def _cmc_budget(settings: Any, now: datetime) -> str:
    """One line on the CoinMarketCap API plan's credits, as the credit guard sees them at `now`."""
    from pipeline.sources.coinmarketcap.budget import credit_report
    from pipeline.state import S3State

    if not (settings.cmc_api_key or settings.cmc_api_key_secret_arn):
        return "CoinMarketCap budget: the home page is read (no API key), so no API credits are spent"
    c = credit_report(
        S3State(aws.client("s3", settings), settings.bucket), settings.cmc_monthly_credits,
        settings.cmc_min_interval_seconds, now,
    )  # fmt: skip
    plan = f"{c.monthly_credits:,}" if c.monthly_credits else "unlimited"
    return (
        f"CoinMarketCap budget: {c.credits} credit(s) in {c.month} of {plan}; at one call per "
        f"{c.min_interval_seconds} s the month ends at ~{c.projected_credits:,}"
    )


def _oxr_budget(settings: Any, now: datetime) -> str:
    """One line on the Open Exchange Rates plan's budget, as the quota guard sees it at `now`."""
    from pipeline.sources.openexchangerates import quota_report
    from pipeline.state import S3State

    q = quota_report(S3State(aws.client("s3", settings), settings.bucket), settings, now=now)
    quota = f"{q.quota:,}" if q.quota else "unlimited"
    return (
        f"Open Exchange Rates budget: {q.calls} call(s) in {q.month} of {quota}; at one call per "
        f"{q.refresh_seconds} s the month ends at ~{q.projected_calls:,} (next call after {q.next_call_after or '-'})"
    )
