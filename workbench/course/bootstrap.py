"""What every course notebook starts and ends with: the setup cell's environment check (the local stack, started
if it is not running, and this kernel pointed at it), the rewind of the simulated state a window starts from, a
live call that steps aside for the simulated twin, and the values a notebook records for its test."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.constants import Env

if TYPE_CHECKING:
    from workbench.local.servers import LocalStack

# What the notebooks need beyond the Lambda functions' own dependencies.
COURSE_PACKAGES = ("boto3", "pandas", "pyarrow", "matplotlib", "mplfinance", "moto", "fakesnow", "papermill")
# The last cell of a notebook: tagged `record`, its source and output collapsed, its output of this MIME type.
RECORD_TAG = "record"
RECORD_MIME = "application/vnd.market-data-pipeline.recorded+json"
T = TypeVar("T")


def project_root() -> Path:
    """The repository the package was installed from (editable install), or the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


@dataclass(frozen=True)
class Environment:
    python: str
    packages: dict[str, str]
    stack: LocalStack

    def __str__(self) -> str:
        state = "was already running" if self.stack.already_running else "started now"
        lines = [
            f"Python {self.python} on {platform.system()}",
            "packages: " + ", ".join(f"{name} {v}" for name, v in self.packages.items()),
            f"local stack: {state} (S3/SNS/SQS on moto, Snowflake on fakesnow, SQL Server on SQLite)",
            f"  bucket {self.stack.bucket}, queues: {', '.join(sorted(self.stack.queues))}",
        ]
        return "\n".join(lines)


def check_environment(start_stack: bool = True, *, window_start: Any = None, **settings: Any) -> LocalStack:
    """Check the course's packages, start the local stack if it is not running, and point this process
    (settings, boto3 clients, the Lambda handlers) at it. Returns the stack.

    `settings` are Settings fields to set for this kernel, e.g. `universe_limit=5` (passed to the handlers with the
    stack's settings). `window_start` is the first scheduled minute the notebook runs the pipeline over: see
    `rewind_simulated_state`.
    """
    packages: dict[str, str] = {}
    missing = []
    for name in COURSE_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        raise RuntimeError(f"missing package(s) {', '.join(missing)}: run `make install` in the repository")

    from pipeline.settings import Settings
    from workbench.local import servers as local_stack
    from workbench.local.demo import use_stack

    # A kernel runs in notebooks/; the stack `make lab` or `make demo` started lives in the repository's .local.
    current = Settings() if os.environ.get(Env.LOCAL_DIR) else Settings(local_dir=project_root() / ".local")
    stack = local_stack.up(current) if start_stack else local_stack.status(current)
    if stack is None:
        raise RuntimeError("the local stack is not running: start it with `python -m pipeline local up`")
    use_stack(stack, **settings)
    if window_start is not None:
        rewind_simulated_state(stack, window_start)
    quiet_function_logs()
    plain_rich_output()
    print(Environment(platform.python_version(), packages, stack))
    return stack


def rewind_simulated_state(stack: LocalStack, window_start: Any) -> tuple[str, ...]:
    """Let a notebook's window run as on a fresh stack, whatever ran on the stack before (another notebook's
    window, `make demo`, this notebook once already). Two state documents in the bucket carry one run over to the
    next, and are rewound here; returns the names of the documents removed.

    - Open Exchange Rates' quota state (`state/openexchangerates.json`): removed when it was last written for a
      minute at or after `window_start`. The quota guard never moves its document backwards, so without this a
      window earlier than the last one run would skip every rates minute. (Written for an earlier minute, it
      decides as a fresh stack would: the refresh period has passed.)
    - Yahoo's rotation state (`state/yahoo_finance.json`): always removed. Which share of the universe a minute
      asks for follows from the scheduled minute alone, but how far back each symbol's window reaches follows
      from the document: a symbol last fetched on another day counts as overdue, comes first, with a catch-up
      window of up to `MAX_CATCH_UP` (a demo's run the day before would make 00 read other bars).

    Only the local stack's simulated world is rewound, never an account's. A Yahoo document whose lease is live
    (an ingest run on this stack under way, e.g. `make demo` in another terminal) is left alone: RuntimeError.
    """
    from datetime import UTC, datetime

    from pipeline import aws
    from pipeline.contracts import to_utc
    from pipeline.sources.openexchangerates import QUOTA_STATE
    from pipeline.sources.yahoo_finance.budget import STATE_NAME as YAHOO_STATE
    from pipeline.sources.yahoo_finance.budget import YahooState
    from pipeline.state import S3State

    settings = stack.settings()
    s3 = aws.client("s3", settings)
    store = S3State(s3, settings.bucket)
    removed: list[str] = []
    doc = store.get(QUOTA_STATE) or {}
    written_for = doc.get("minute") or doc.get("last_call")
    if written_for and to_utc(written_for) >= to_utc(window_start):
        s3.delete_object(Bucket=settings.bucket, Key=store.key(QUOTA_STATE))
        removed.append(QUOTA_STATE)
    yahoo = YahooState.load(store)
    if yahoo.version is not None:
        lease = yahoo.lease
        if lease is not None and to_utc(lease["expires"]) > datetime.now(UTC):
            raise RuntimeError(
                f"an ingest run of yahoo_finance on this stack is under way (minute {lease.get('scheduled_at')}, "
                f"its lease ends {lease['expires']}): let it finish, then run this cell again"
            )
        s3.delete_object(Bucket=settings.bucket, Key=store.key(YAHOO_STATE))
        removed.append(YAHOO_STATE)
    return tuple(removed)


# The functions' loggers (Powertools, one per kind of function) and the level a course kernel keeps them at.
FUNCTION_LOGGERS = ("ingest", "process", "redrive", "compact")
COURSE_LOG_LEVEL = "ERROR"


def quiet_function_logs(level: str = COURSE_LOG_LEVEL) -> None:
    """Keep the functions' JSON log lines (one per record, for CloudWatch) out of the notebooks' outputs: a cell
    shows what happened from the function's results instead; errors still print. Loggers created later read the
    environment, those already created are set here."""
    import logging

    os.environ["POWERTOOLS_LOG_LEVEL"] = level
    for name in FUNCTION_LOGGERS:
        logging.getLogger(name).setLevel(level)


def plain_rich_output(width: int = 150) -> None:
    """Rich tables shown in a notebook: HTML for the eye, and a text copy without ANSI colour codes (which a
    stored notebook would otherwise keep as escape sequences), wide enough that no source name is cut."""
    import rich

    rich.reconfigure(color_system=None, width=width)


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field (`universe_limit` -> PIPELINE_UNIVERSE_LIMIT)."""
    from pydantic import AliasChoices

    from pipeline.settings import Settings

    info = Settings.model_fields.get(field)
    if info is None or not isinstance(info.validation_alias, AliasChoices):
        raise ValueError(f"{field!r} is not a setting: see pipeline/settings.py")
    return str(info.validation_alias.choices[0])


# Client libraries whose warnings a live call that cannot reach its service repeats (yfinance: "Cookie/crumb
# fetch failed (DNSError)" once per ticker); try_live's one line says the same once.
QUIET_DURING_LIVE_CALLS = ("yfinance",)


def try_live(call: Callable[[], T], timeout: float = 10.0) -> tuple[T | None, str]:
    """Run a live call with a time limit; returns (its result, "live") or (None, why it stepped aside).

    The course runs without network and without keys: a live call that cannot reach its service says so in
    one line and the notebook carries on with the simulated twin.
    """
    import logging

    loggers = [logging.getLogger(name) for name in QUIET_DURING_LIVE_CALLS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    try:
        return future.result(timeout=timeout), "live"
    except FutureTimeout:
        return None, f"no answer within {timeout:.0f} s (no network here?): using the simulated twin"
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"{type(exc).__name__}: {first}: using the simulated twin"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def record(**values: Any) -> None:
    """Show the values a notebook's test asserts on as the output of its last cell, out of the learner's sight:
    one output of a MIME type no notebook front end renders (JupyterLab, GitHub and nbconvert show nothing), in a
    cell tagged `record` whose source and output are collapsed. `recorded` reads it back."""
    from IPython.display import display

    document = json.loads(json.dumps(values, sort_keys=True, default=str))
    display({RECORD_MIME: document}, raw=True)  # type: ignore[no-untyped-call]


def recorded(notebook: Any) -> dict[str, Any]:
    """The values `record` showed in an executed notebook (an nbformat node), for the tests: the output of its
    cell tagged `record`."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and RECORD_TAG in cell.get("metadata", {}).get("tags", []):
            for output in cell.get("outputs", []):
                if RECORD_MIME in output.get("data", {}):
                    return dict(output["data"][RECORD_MIME])
    raise ValueError(
        f"the notebook recorded nothing: its last cell, tagged {RECORD_TAG!r}, should call workbench.course.record(...)"
    )
