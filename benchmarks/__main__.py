"""Run every `benchmarks/bench_*.py` module's `main()`, in name order (or only those named on the command line)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def discover() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = discover()
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    if not chosen:
        print(f"no benchmark matches {' '.join(argv)}: choose from {', '.join(names)}", file=sys.stderr)
        return 2
    for name in chosen:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"== {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
