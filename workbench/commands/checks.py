"""What the stack holds and how it is doing: `verify` (the sinks against the raw objects, and against the market)
and `status`."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.commands.common import (
    CommandError,
    SourcesOpt,
    check_window,
    console,
    json_stdout,
    option_time,
    print_report,
    target_stack,
)


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

    first, last = option_time(start, "from", past=True), option_time(end, "to", past=True)
    check_window(ctx, first, last)
    chosen = source
    if market and (first is None or last is None):
        raise CommandError("--market needs a window: give --from and --to")
    settings, _ = target_stack()
    with json_stdout(as_json) as emit:
        report = reconcile(settings, first, last, sources=chosen)
        if not market:
            print_report(report, as_json, emit)
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
    when = option_time(at, "at", past=True)
    settings, local = target_stack()
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
        print_report(report, as_json, emit)


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
