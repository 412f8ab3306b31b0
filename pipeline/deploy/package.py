"""The function code package: the `pipeline` package alone (its dependencies come in layers), with bytecode
compiled for the runtime, zipped reproducibly."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Final

from pipeline.deploy.archive import Artifact, describe, write_zip
from pipeline.deploy.functions import PROJECT_ROOT
from pipeline.deploy.layers import Warn, compile_bytecode, find_runtime_python, warn_on_stderr

PACKAGE_DIR: Final = PROJECT_ROOT / "pipeline"
TASK_ROOT: Final = "/var/task"  # where Lambda unpacks the function's code
CODE_NAME: Final = "code"


def build_code_package(
    out: Path,
    *,
    package_dir: Path = PACKAGE_DIR,
    interpreter: str | None = None,
    warn: Warn = warn_on_stderr,
) -> Artifact:
    """`<out>/code.zip` holding `pipeline/...` (sources, data files and runtime bytecode)."""
    interpreter = interpreter or find_runtime_python()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".code-") as staging:
        copy = Path(staging) / package_dir.name
        shutil.copytree(package_dir, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        if interpreter is None:
            warn("no Python 3.11 here: the code package ships without bytecode (install python3.11 to add it)")
        else:
            compile_bytecode(copy, interpreter, f"{TASK_ROOT}/{package_dir.name}", warn)
        zip_path = out / f"{CODE_NAME}.zip"
        write_zip(Path(staging), zip_path)
    return describe(CODE_NAME, zip_path)
