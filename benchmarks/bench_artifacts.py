"""Init and invocation durations of the functions run from their built artifacts, as Lambda runs them.

A fresh local stack, then `BENCH_ARTIFACTS_MINUTES` (default 3) scheduled minutes of `pipeline run --artifacts`:
each function in its own sandboxed python3.13 execution environment under awslambdaric (`make runtime-root`;
layers from `python -m pipeline layer build`, else installed for cp313). Per function: the init phase of the cold
start (process start to the runtime's first `next`: interpreter, awslambdaric, the handler module), the cold
invocation (the first, which loads the source or sink and opens its clients), and the warm ones after it; the
peak memory of the environment's cgroup. The universe is cut to `BENCH_ARTIFACTS_UNIVERSE` (default 50) symbols.

Results: benchmarks/results/artifacts.md.
"""

from __future__ import annotations

import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pipeline.settings import Settings
from workbench.local import servers
from workbench.local.demo import DEFAULT_START
from workbench.local.sandbox import root
from workbench.local.sandbox.run import run_artifacts

RESULTS = Path(__file__).resolve().parent / "results" / "artifacts.md"
MINUTES = int(os.environ.get("BENCH_ARTIFACTS_MINUTES", "3"))
UNIVERSE = int(os.environ.get("BENCH_ARTIFACTS_UNIVERSE", "50"))


def _ms(value: dict[str, float] | None, key: str = "median") -> str:
    return "-" if not value else f"{value[key]:,.0f}"


def main() -> None:
    try:
        root.root_python()
    except root.RootError as exc:
        print(f"skipped: {exc}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as local_dir:
        settings = Settings(local_dir=Path(local_dir))
        stack = servers.up(settings, aws_port=0, snowflake_port=0)
        try:
            report = run_artifacts(stack, MINUTES, DEFAULT_START, parameters={"UniverseLimit": UNIVERSE})
        finally:
            servers.down(settings, keep=False)
    data = report.as_dict()
    stamp = (root.root_dir() / root.STAMP).read_text(encoding="utf-8").split()
    lines = [
        "# The functions from their built artifacts: init and invocation durations",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `python -m benchmarks artifacts`: {MINUTES} scheduled minutes of "
        f"`pipeline run --artifacts` on a fresh local stack ({UNIVERSE} symbols), {os.cpu_count()} CPUs, "
        f"{platform.python_version()} driving; the functions run python3.13 in the Debian 13 root "
        f"(made by debootstrap in {stamp[-1] if stamp else '?'}).",
        "",
        "- init: process start to the runtime's first request for an event (interpreter, awslambdaric, handler "
        "module); Lambda reports it as Init Duration;",
        "- cold: the first invocation (the source or sink module and its clients load then); warm: the ones after;",
        "- max memory: the peak of the environment's memory cgroup over the run.",
        "",
        "| function | invocations | init ms | cold ms | warm ms (median) | warm ms (max) | max memory MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, f in data["functions"].items():
        warm = f["warm_invocation_ms"]
        memory = "-" if f["max_memory_used_mb"] is None else f"{f['max_memory_used_mb']} of {f['memory_mb']}"
        lines.append(
            f"| {name} | {f['invocations']} | {_ms(f['init_ms'])} | {_ms(f['cold_invocation_ms'])} | "
            f"{_ms(warm)} | {_ms(warm, 'max')} | {memory} |"
        )
    lines += ["", f"Run ok: {report.ok}; IAM findings: {len(report.missing)} missing, {len(report.unused)} unused.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
