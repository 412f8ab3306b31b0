"""`python -m pipeline ...` (also installed as `pipeline`): the local stack, runs, one-off ingests, parsing,
verification, replay, layers and deployment.

Expected failures end with one line on stderr and a non-zero exit, never a traceback. The commands are in
`workbench.commands` (a module per group); this module mounts them and is the entry point.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

import typer

from pipeline.constants import Env
from pipeline.errors import PipelineError
from workbench.commands.checks import status, verify
from workbench.commands.common import CommandError, err, interrupted
from workbench.commands.recovery import backfill, quarantine_app, redrive, replay
from workbench.commands.runs import demo, ingest, parse, run, soak
from workbench.commands.universe import universe_app

app = typer.Typer(
    name="pipeline",
    help="A real-time serverless market-data pipeline, and its local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _mount_commands() -> None:
    """The commands in the order `--help` lists them (commands first, then the groups)."""
    from workbench.course_cli import course_app
    from workbench.deploy.cli import cost, deploy, layer_app
    from workbench.local.cli import app as local_app

    for command in (run, ingest, parse, verify, replay, redrive, soak, status, backfill):
        app.command()(command)
    app.add_typer(quarantine_app, name="quarantine")
    app.command()(demo)
    app.add_typer(local_app, name="local", help="Start, stop and describe the local stack.")
    app.add_typer(layer_app, name="layer", help="Build the per-function Lambda layers.")
    app.add_typer(universe_app, name="universe", help="The stock universe (pipeline/data/sp500.csv).")
    app.add_typer(course_app, name="course", help="Refresh the course's notebooks and the sizes notebook 06 shows.")
    app.command(name="deploy")(deploy)
    app.command(name="cost")(cost)


_mount_commands()

__all__ = ["CommandError", "app", "demo", "main"]


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
        sys.exit(interrupted(exc))
    if isinstance(code, int) and code:
        sys.exit(code)


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
