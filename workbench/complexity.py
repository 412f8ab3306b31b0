"""The size gate of CONTRIBUTING.md: no function above cyclomatic complexity 20 as radon counts it (grade C at
worst: branches in comprehensions and boolean expressions count), no module over 500 lines, in `pipeline`,
`workbench` and `benchmarks` (the tests aside).

`python -m workbench.complexity [PATH...]` prints one line per offender (`path:function cc N`,
`path: N lines`) and exits 1 when there is any; `make lint` and `make test` run it on the three packages.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from radon.complexity import add_inner_blocks, cc_visit
from radon.visitors import Function

MAX_COMPLEXITY = 20  # radon's grade C ends at 20
MAX_LINES = 500
ROOTS = ("pipeline", "workbench", "benchmarks")
PROJECT = Path(__file__).resolve().parents[1]


def modules(paths: Iterable[Path]) -> Iterator[Path]:
    """The Python files of `paths` (files, or folders searched recursively), in name order."""
    for path in paths:
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _name(block: Any) -> str:
    return f"{block.classname}.{block.name}" if block.classname else block.name


def offenders(path: Path, *, shown_as: str | None = None) -> list[str]:
    """One line per function of the module above `MAX_COMPLEXITY` (methods and nested functions included), and one
    when the module is over `MAX_LINES` lines."""
    text = path.read_text(encoding="utf-8")
    name = shown_as or str(path)
    found = [
        f"{name}:{_name(block)} cc {block.complexity}"
        for block in sorted(add_inner_blocks(cc_visit(text)), key=lambda b: b.lineno)
        if isinstance(block, Function) and block.complexity > MAX_COMPLEXITY
    ]
    lines = len(text.splitlines())
    if lines > MAX_LINES:
        found.append(f"{name}: {lines} lines (at most {MAX_LINES})")
    return found


def check(paths: Iterable[Path], *, relative_to: Path | None = None) -> list[str]:
    """The offenders of every module under `paths`, named relative to `relative_to` when given."""
    return [
        line
        for module in modules(paths)
        for line in offenders(module, shown_as=str(module.relative_to(relative_to)) if relative_to else None)
    ]


def main(argv: list[str]) -> int:
    """The given files or folders, or the project's three packages wherever the command runs from."""
    given = [Path(a) for a in argv]
    found = check(given) if given else check((PROJECT / root for root in ROOTS), relative_to=PROJECT)
    for line in found:
        print(line)
    if found:
        print(
            f"{len(found)} over the limits (cc {MAX_COMPLEXITY} a function, {MAX_LINES} lines a module): "
            "see CONTRIBUTING.md",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
