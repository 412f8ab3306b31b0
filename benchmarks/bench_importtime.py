"""Cold-start import time of each Lambda handler, measured with `python -X importtime`.

For each function of the function table (workbench/deploy/functions.py), a fresh interpreter imports the handler
module (what Lambda does at init) and then what the handler loads on its first call: its source or sink module
and the libraries that module imports inside its functions (yfinance, bs4, requests, snowflake.connector). Each
measurement is repeated, the median kept.

Three settings:
- venv: the project's virtual environment (bytecode cached by earlier runs);
- layer: the built code package and layer (`python -m pipeline layer build`) unpacked as Lambda does
  (/var/task, /opt/python), with the bytecode they ship, and nothing written at run time (-B, as on a
  read-only file system);
- layer, no bytecode: the same without the shipped __pycache__, so every import compiles its source.

Results: benchmarks/results/importtime.md.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workbench.deploy.build import DEFAULT_OUT
from workbench.deploy.functions import Function, all_functions
from workbench.deploy.layers import find_runtime_python

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "importtime.md"
REPEAT = int(os.environ.get("BENCH_IMPORTTIME_REPEAT", "5"))
REPEAT_NO_BYTECODE = int(os.environ.get("BENCH_IMPORTTIME_REPEAT_NO_BYTECODE", "3"))
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


@dataclass(frozen=True)
class Sample:
    handler_ms: float  # importing the handler module
    first_call_ms: float  # then the source or sink module it loads on its first call
    heaviest: tuple[tuple[str, float], ...]  # top-level packages by cumulative import time

    @property
    def total_ms(self) -> float:
        return self.handler_ms + self.first_call_ms


def _parse(stderr: str, modules: list[str]) -> Sample:
    cumulative: dict[str, float] = {}
    packages: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        name, micros = match.group(4), int(match.group(2))
        cumulative[name] = micros / 1000
        top = name.split(".")[0]
        if "." not in name and top not in sys.stdlib_module_names and top != "pipeline":
            packages[top] = max(packages.get(top, 0.0), micros / 1000)
    handler, *lazy = modules
    heaviest = tuple(sorted(packages.items(), key=lambda kv: -kv[1])[:4])
    return Sample(cumulative.get(handler, 0.0), sum(cumulative.get(m, 0.0) for m in lazy), heaviest)


def measure(function: Function, python: str, path: list[str] | None, repeat: int) -> list[Sample]:
    """`repeat` fresh interpreters importing the handler, then its first-call modules."""
    modules = [function.handler_module, *function.first_call_modules()]
    imports = "; ".join(f"import {m}" for m in modules)
    if path is None:
        command = [python, "-X", "importtime", "-c", imports]
    else:  # no site-packages of the build machine ahead of the layer, no bytecode written
        prelude = f"import sys; sys.path[:0] = {path!r}; "
        command = [python, "-B", "-S", "-X", "importtime", "-c", prelude + imports]
    samples = []
    env = {**os.environ, "PIPELINE_MODE": "simulated", "AWS_DEFAULT_REGION": "us-east-1"}
    for _ in range(repeat):
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=ROOT)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"importing {function.handler_module} failed: {last}")
        samples.append(_parse(result.stderr, modules))
    return samples


@contextmanager
def unpacked(function: Function, out: Path, bytecode: bool) -> Iterator[list[str] | None]:
    """The function's code and layer unpacked like /var/task and /opt; None if they were not built."""
    code_zip, layer_zip = out / "code.zip", out / f"{function.layer_name}.zip"
    if not (code_zip.is_file() and layer_zip.is_file()):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-importtime-") as scratch:
        task, opt = Path(scratch) / "task", Path(scratch) / "opt"
        for archive, target in ((code_zip, task), (layer_zip, opt)):
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.namelist() if bytecode or "__pycache__/" not in m]
                zipped.extractall(target, members)
        # The runtime's own boto3/botocore come after the layer on Lambda's path (/var/runtime).
        runtime = Path(scratch) / "runtime"
        runtime.mkdir()
        site = Path(sysconfig.get_paths()["purelib"])
        for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"):
            if (site / name).exists():
                (runtime / name).symlink_to(site / name)
        yield [str(task), str(opt / "python"), str(runtime)]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}"


def main() -> None:
    python = find_runtime_python() or sys.executable
    base = getattr(sys, "_base_executable", sys.executable)
    rows: list[str] = []
    heavy_rows: list[str] = []
    built = (DEFAULT_OUT if DEFAULT_OUT.is_absolute() else ROOT / DEFAULT_OUT).resolve()
    for function in all_functions():
        print(f"  {function.name}", flush=True)
        venv = measure(function, python, None, REPEAT)
        cells = [
            function.name,
            f"`{function.handler_module}` + " + ", ".join(f"`{m}`" for m in function.first_call_modules()),
            _ms([s.handler_ms for s in venv]),
            _ms([s.first_call_ms for s in venv]),
            _ms([s.total_ms for s in venv]),
        ]
        for bytecode, repeat in ((True, REPEAT), (False, REPEAT_NO_BYTECODE)):
            with unpacked(function, built, bytecode) as path:
                if path is None:
                    cells.append("not built")
                else:
                    cells.append(_ms([s.total_ms for s in measure(function, base, path, repeat)]))
        rows.append("| " + " | ".join(cells) + " |")
        heavy = ", ".join(f"{name} {ms:,.0f}" for name, ms in venv[len(venv) // 2].heaviest)
        heavy_rows.append(f"| {function.name} | {heavy} |")
    interpreter = subprocess.run([python, "-VV"], capture_output=True, text=True, check=False).stdout.strip()
    text = f"""# Cold-start import time of the Lambda handlers

Measured {datetime.now(UTC):%Y-%m-%d} with `python -X importtime` ({interpreter.splitlines()[0]}),
{os.cpu_count()} CPUs, median of {REPEAT} fresh interpreters ({REPEAT_NO_BYTECODE} without bytecode).
Run it again with `make bench` (or `python -m benchmarks importtime`); build the layers first
(`python -m pipeline layer build`) to get the last two columns.

- handler: importing the handler module, which Lambda does during the init phase;
- first call: then importing the source (ingest) or sink (process) module the handler loads lazily, and the
  libraries that module imports inside its functions (a driver SQLAlchemy loads by URL, pymssql, is not counted);
- layer: the same from the built code package and layer, unpacked as Lambda unpacks them, nothing
  written at run time (as on a read-only /opt); "no bytecode" drops the shipped `__pycache__`.

Times in ms (import time only; the interpreter's own start-up is not counted).

| function | modules | handler | first call | venv total | layer total | layer total, no bytecode |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Heaviest third-party packages on the way (cumulative ms, venv, median run):

| function | packages |
| --- | --- |
{chr(10).join(heavy_rows)}
"""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"  written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
