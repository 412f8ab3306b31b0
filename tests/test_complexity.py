"""The size gate (`python -m workbench.complexity`, run by `make lint` and `make test`): a function above radon's
cyclomatic complexity 20 or a module over 500 lines is refused, one line each; 20 and 500 pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workbench import complexity

ROOT = Path(__file__).resolve().parents[1]


def function_of(name: str, complexity_: int) -> str:
    """A function radon counts at `complexity_`: one for the function, one per `if`."""
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(complexity_ - 1))
    return f"def {name}(x):\n{branches}    return -1\n"


def module_of(lines: int) -> str:
    return "".join(f"X{i} = {i}\n" for i in range(lines))


def test_the_synthetic_functions_measure_what_they_say(tmp_path: Path) -> None:
    from radon.complexity import cc_visit

    assert [b.complexity for b in cc_visit(function_of("f", 21) + function_of("g", 20))] == [21, 20]


def test_a_function_of_cc_21_and_a_module_of_501_lines_are_refused(tmp_path: Path) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "branchy.py").write_text(function_of("too_branchy", 21) + "\n\nclass K:\n" + "".join(
        "    " + line + "\n" for line in function_of("method", 22).splitlines()
    ))  # fmt: skip
    (package / "long.py").write_text(module_of(501))

    found = complexity.check([package])

    assert found == [
        f"{package / 'branchy.py'}:too_branchy cc 21",
        f"{package / 'branchy.py'}:K.method cc 22",
        f"{package / 'long.py'}: 501 lines (at most 500)",
    ]


def test_nested_functions_are_measured_on_their_own(tmp_path: Path) -> None:
    inner = "".join("    " + line + "\n" for line in function_of("inner", 21).splitlines())
    (tmp_path / "nested.py").write_text(f"def outer(x):\n{inner}    return inner(x)\n")

    assert complexity.check([tmp_path]) == [f"{tmp_path / 'nested.py'}:outer.inner cc 21"]


def test_a_function_of_cc_20_and_a_module_of_500_lines_pass(tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(function_of("just_enough", 20))
    (tmp_path / "long.py").write_text(module_of(500))

    assert complexity.check([tmp_path]) == []


def test_the_command_prints_each_offender_and_fails(tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(function_of("too_branchy", 21))
    (tmp_path / "long.py").write_text(module_of(501))
    (tmp_path / "fine.py").write_text(function_of("fine", 20))

    run = subprocess.run(
        [sys.executable, "-m", "workbench.complexity", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"{tmp_path / 'branchy.py'}:too_branchy cc 21",
        f"{tmp_path / 'long.py'}: 501 lines (at most 500)",
    ]
    assert "2 over the limits" in run.stderr


def test_the_command_passes_what_is_within_the_limits(tmp_path: Path) -> None:
    (tmp_path / "fine.py").write_text(function_of("fine", 20) + module_of(400))

    run = subprocess.run(
        [sys.executable, "-m", "workbench.complexity", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_the_gate_covers_the_three_packages_and_leaves_out_the_tests() -> None:
    assert complexity.PROJECT == ROOT
    assert complexity.ROOTS == ("pipeline", "workbench", "benchmarks")
    checked = {p.relative_to(ROOT).parts[0] for p in complexity.modules(ROOT / r for r in complexity.ROOTS)}
    assert checked == {"pipeline", "workbench", "benchmarks"}


def test_offenders_are_named_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(module_of(501))

    assert complexity.check([tmp_path / "pkg"], relative_to=tmp_path) == ["pkg/long.py: 501 lines (at most 500)"]
