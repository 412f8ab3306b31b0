"""`python -m pipeline local up|down|status|env`: start, stop and describe the local stack, and point a shell at it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.constants import Env
from pipeline.settings import Settings
from workbench.cloudformation.template import TemplateError
from workbench.local import servers as local_stack

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
console = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table")]


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _table(stack: local_stack.LocalStack, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("where")
    table.add_column("state")
    for process in (stack.moto, stack.fakesnow):
        state = "[green]running[/green]" if process.running() else "[red]stopped[/red]"
        table.add_row(f"{process.name} (pid {process.pid})", process.url, state)
    table.add_row("bucket", stack.bucket, "")
    table.add_row("topic", stack.topic_arn, "")
    for source, url in stack.queues.items():
        table.add_row(f"queue {source}", url, "")
        table.add_row(f"  dead letters {source}", stack.dead_letter_queues[source], "")
    sf = stack.snowflake
    table.add_row("snowflake (fakesnow)", f"{sf.database}.{sf.schema}.{sf.table}", sf.db_path)
    table.add_row("sql server (sqlite)", stack.sqlserver_url, "")
    return table


@app.command()
def up(
    aws_port: Annotated[
        int | None, typer.Option(envvar=Env.LOCAL_AWS_PORT, help="moto server port (default: a free one)")
    ] = None,
    snowflake_port: Annotated[
        int | None, typer.Option(envvar=Env.LOCAL_SNOWFLAKE_PORT, help="fakesnow server port (default: a free one)")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for each server")
    ] = local_stack.START_TIMEOUT_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Start moto and fakesnow and create the topology from the CloudFormation template (idempotent)."""
    try:
        stack = local_stack.up(Settings(), aws_port=aws_port, snowflake_port=snowflake_port, timeout=timeout)
    except (local_stack.LocalStackError, TemplateError) as exc:
        raise _fail(exc) from None
    if as_json:
        kept = None if stack.kept is None else {"objects": stack.kept.objects, "messages": stack.kept.messages}
        extra = {"already_running": stack.already_running, "restarted": list(stack.restarted), "restored": kept}
        print(json.dumps({**stack.describe(), **extra}, indent=2))
        return
    title = "local stack already running" if stack.already_running else "local stack started"
    if stack.restarted:
        title = f"local stack: {', '.join(stack.restarted)} started again, moto and its state kept"
    console.print(_table(stack, title))
    if stack.kept is not None:
        console.print(f"put back {stack.kept} kept by the last `local down`")
    if not stack.already_running and not stack.restarted:
        console.print(f"state: {stack.local_dir}/{local_stack.STATE_FILE}")


@app.command()
def down(
    discard: Annotated[
        bool,
        typer.Option(
            "--discard", help="Drop what the stack holds (bucket, queues, the sinks' rows), not keep it for `up`."
        ),
    ] = False,
) -> None:
    """Stop the servers `local up` started (only those), keeping what moto holds for the next `local up`."""
    try:
        stack = local_stack.down(Settings(), keep=not discard)
    except local_stack.LocalStackError as exc:
        raise _fail(exc) from None
    if stack is None:
        console.print("no local stack is recorded: nothing to stop")
        return
    console.print(f"stopped moto (pid {stack.moto.pid}) and fakesnow (pid {stack.fakesnow.pid})")
    if stack.kept is not None:
        console.print(f"kept {stack.kept} for the next `local up` (the sinks keep their rows in {stack.local_dir})")
    elif discard:
        console.print("discarded the bucket, the queues and the sinks' rows")


def _running() -> local_stack.LocalStack:
    """The recorded stack if its servers answer, else one line on stderr and exit 1."""
    try:
        stack = local_stack.recorded(Settings())
    except local_stack.LocalStackError as exc:
        raise _fail(exc) from None
    if stack is None or not stack.healthy():
        raise _fail(local_stack.LocalStackError(local_stack.down_reason(stack)))
    return stack


def export_lines(env: Mapping[str, str]) -> str:
    """`export NAME=value` lines, each value quoted for a POSIX shell."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


@app.command()
def env() -> None:
    """Print `export` lines that point the aws CLI, boto3 and the pipeline's commands at the running stack.

    Use: eval "$(python -m pipeline local env)". They set the endpoint, the region, moto's dummy credentials and
    the PIPELINE_* settings of the stack (exit 1 if it is not running).
    """
    print(export_lines(_running().env()), end="")


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Say what runs; with --json, print what scripts and notebooks need to reach the stack (exit 1 if down)."""
    stack = _running()
    if as_json:
        print(json.dumps(stack.describe(), indent=2))
    else:
        console.print(_table(stack, f"local stack (since {stack.started_at})"))
