"""What the course notebooks share: the setup cell's environment check and the last cell's recorded values.

A notebook starts with `stack = check_environment()` (the local stack, started if it is not running, and this
kernel pointed at it) and ends with `record(...)`, which prints the values its test asserts on as one JSON object:
the test reads that output from the executed notebook.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.constants import Env

if TYPE_CHECKING:
    from pipeline.local.stack import LocalStack

# What the notebooks need beyond the Lambda functions' own dependencies.
COURSE_PACKAGES = ("boto3", "pandas", "pyarrow", "matplotlib", "mplfinance", "moto", "fakesnow", "papermill")
RECORD_MARKER = "recorded"


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


def check_environment(start_stack: bool = True) -> LocalStack:
    """Check Python and the course's packages, start the local stack if it is not running, and point this
    process (settings, boto3 clients, the Lambda handlers) at it. Returns the stack."""
    packages: dict[str, str] = {}
    missing = []
    for name in COURSE_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        raise RuntimeError(f"missing package(s) {', '.join(missing)}: run `make install` in the repository")

    from pipeline.local import stack as local_stack
    from pipeline.local.session import use_stack
    from pipeline.settings import Settings

    # A kernel runs in notebooks/; the stack `make lab` or `make demo` started lives in the repository's .local.
    os.environ.setdefault(Env.LOCAL_DIR, str(project_root() / ".local"))
    settings = Settings()
    stack = local_stack.status(settings) if not start_stack else local_stack.up(settings)
    if stack is None:
        raise RuntimeError("the local stack is not running: start it with `python -m pipeline local up`")
    use_stack(stack)
    print(Environment(platform.python_version(), packages, stack))
    return stack


def record(**values: Any) -> dict[str, Any]:
    """Print the values a notebook's test asserts on, as one JSON object (the last cell's output)."""
    print(json.dumps({RECORD_MARKER: values}, indent=1, sort_keys=True, default=str))
    return values


def recorded(notebook: Any) -> dict[str, Any]:
    """The values `record` printed in an executed notebook (an nbformat node), for the tests."""
    for cell in reversed(notebook.cells):
        if cell.cell_type != "code":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if RECORD_MARKER in text:
            return dict(json.loads(text[text.index("{") :])[RECORD_MARKER])
    raise ValueError("the notebook recorded nothing: its last cell should call pipeline.course.record(...)")
