"""The function code package: the `pipeline` package alone (its dependencies come in layers, the tooling stays in
`workbench`), with bytecode compiled for the runtime, zipped reproducibly."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Final

from workbench.deploy.archive import Artifact, describe, write_zip
from workbench.deploy.functions import PROJECT_ROOT
from workbench.deploy.layers import Warn, compile_bytecode, warn_on_stderr
from workbench.deploy.runtime import LambdaRuntime, RuntimePython, find_runtime_python, lambda_runtime

PACKAGE_DIR: Final = PROJECT_ROOT / "pipeline"
TASK_ROOT: Final = "/var/task"  # where Lambda unpacks the function's code
CODE_NAME: Final = "code"
# `python -m pipeline` hands over to the command line (workbench), which no function runs or ships.
COMMAND_LINE_ONLY: Final = ("__main__.py",)


def ignore_in_code_package(folder: str, names: list[str]) -> set[str]:
    """What `shutil.copytree` leaves out of the code package: caches, hidden files, the command line's entry."""
    skipped = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")(folder, names)
    if Path(folder).name == "pipeline":
        skipped |= {name for name in names if name in COMMAND_LINE_ONLY}
    return skipped


def build_code_package(
    out: Path,
    *,
    package_dir: Path = PACKAGE_DIR,
    runtime: LambdaRuntime | None = None,
    interpreter: RuntimePython | str | None = None,
    warn: Warn = warn_on_stderr,
) -> Artifact:
    """`<out>/code.zip` holding `pipeline/...` (sources, data files and bytecode of the runtime's Python)."""
    runtime = runtime or lambda_runtime()
    interpreter = interpreter or find_runtime_python(runtime)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".code-") as staging:
        copy = Path(staging) / package_dir.name
        shutil.copytree(package_dir, copy, ignore=ignore_in_code_package)
        if interpreter is None:
            warn(
                f"no Python {runtime.python_version} here: the code package ships without bytecode (`make` the "
                "runtime's root filesystem under .local/, or set PIPELINE_RUNTIME_PYTHON, to add it)"
            )
        else:
            compile_bytecode(copy, interpreter, f"{TASK_ROOT}/{package_dir.name}", warn)
        zip_path = out / f"{CODE_NAME}.zip"
        write_zip(Path(staging), zip_path)
    return describe(CODE_NAME, zip_path)
