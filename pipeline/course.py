"""What the course notebooks share: the setup cell's environment check and the last cell's recorded values.

A notebook starts with `stack = check_environment()` (the local stack, started if it is not running, and this
kernel pointed at it) and ends with `record(...)`, which prints the values its test asserts on as one JSON object:
the test reads that output from the executed notebook.
"""

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
    from pipeline.local.servers import LocalStack

# What the notebooks need beyond the Lambda functions' own dependencies.
COURSE_PACKAGES = ("boto3", "pandas", "pyarrow", "matplotlib", "mplfinance", "moto", "fakesnow", "papermill")
RECORD_MARKER = "recorded"
T = TypeVar("T")


def project_root() -> Path:
    """The repository the package was installed from (editable install), or the working directory."""
    here = Path(__file__).resolve().parents[1]
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


def check_environment(start_stack: bool = True, **settings: Any) -> LocalStack:
    """Check the course's packages, start the local stack if it is not running, and point this process
    (settings, boto3 clients, the Lambda handlers) at it. Returns the stack.

    `settings` are Settings fields to set for this kernel, e.g. `universe_limit=5` (they become the matching
    PIPELINE_* environment variables, which the handlers read).
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

    from pipeline.local import servers as local_stack
    from pipeline.local.demo import use_stack
    from pipeline.settings import Settings

    for name, value in settings.items():
        os.environ[env_name(name)] = str(value)
    # A kernel runs in notebooks/; the stack `make lab` or `make demo` started lives in the repository's .local.
    os.environ.setdefault(Env.LOCAL_DIR, str(project_root() / ".local"))
    current = Settings()
    stack = local_stack.up(current) if start_stack else local_stack.status(current)
    if stack is None:
        raise RuntimeError("the local stack is not running: start it with `python -m pipeline local up`")
    use_stack(stack)
    print(Environment(platform.python_version(), packages, stack))
    return stack


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field (`universe_limit` -> PIPELINE_UNIVERSE_LIMIT)."""
    from pydantic import AliasChoices

    from pipeline.settings import Settings

    info = Settings.model_fields.get(field)
    if info is None or not isinstance(info.validation_alias, AliasChoices):
        raise ValueError(f"{field!r} is not a setting: see pipeline/settings.py")
    return str(info.validation_alias.choices[0])


def try_live(call: Callable[[], T], timeout: float = 10.0) -> tuple[T | None, str]:
    """Run a live call with a time limit; returns (its result, "live") or (None, why it stepped aside).

    The course runs without network and without keys: a live call that cannot reach its service says so in
    one line and the notebook carries on with the simulated twin.
    """
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


def record(**values: Any) -> None:
    """Print the values a notebook's test asserts on, as one JSON object (the last cell's output)."""
    print(json.dumps({RECORD_MARKER: values}, indent=1, sort_keys=True, default=str))


def recorded(notebook: Any) -> dict[str, Any]:
    """The values `record` printed in an executed notebook (an nbformat node), for the tests."""
    for cell in reversed(notebook.cells):
        if cell.cell_type != "code":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if RECORD_MARKER in text:
            return dict(json.loads(text[text.index("{") :])[RECORD_MARKER])
    raise ValueError("the notebook recorded nothing: its last cell should call pipeline.course.record(...)")
