"""Putting things right: `replay` (events published again), `redrive` (a dead-letter queue sent back), `backfill`
(a past window through the pipeline's path) and `quarantine list|retry`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from pipeline.registry import source_ids
from workbench.commands.common import (
    CommandError,
    SourceArg,
    SourcesOpt,
    check_window,
    console,
    err,
    json_stdout,
    option_time,
    sigterm_interrupts,
    target_stack,
)


def replay(
    ctx: typer.Context,
    source: SourcesOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="First scheduled minute (ISO-8601)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last scheduled minute (ISO-8601)")] = None,
) -> None:
    """Publish the events of stored raw objects again (the sinks are idempotent, so this is always safe)."""
    from pipeline import aws
    from workbench.replay import replay as republish

    first, last = option_time(start, "from", past=True), option_time(end, "to")
    check_window(ctx, first, last)
    settings, _ = target_stack()
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
    settings, stack = target_stack()
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
    first, last = option_time(start, "from", past=True), option_time(end, "to", past=True)
    assert first is not None and last is not None  # required options
    settings, stack = target_stack()
    runtime = None
    if stack is not None:
        from workbench.local.demo import local_runtime

        runtime = local_runtime(stack, settings, (sid,))
    with json_stdout(as_json) as emit, sigterm_interrupts():
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

    settings, _ = target_stack()
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

    settings, _ = target_stack()
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
