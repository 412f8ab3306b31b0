"""Refreshing the committed notebooks (`make notebooks`): each one run top to bottom on a fresh local stack of
its own, its solutions' outputs removed, and written back only if what a learner reads is clean."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.course.bootstrap import RECORD_TAG, project_root
from workbench.kernel import kernel_config

ANSI_ESCAPE_PATTERN = r"\x1b\[[0-9;]*[A-Za-z]"
SOLUTION_TAG = "solution"
# A cell that runs the pipeline with the learner's answer (a "Build it" exercise's piece): like a solution's, its
# output would show what the answer does before the learner tried, so the committed notebook keeps none.
RUNS_ANSWER_TAG = "runs-answer"
# A solution cell is collapsed, and JupyterLab still shows a collapsed cell's first line: this one, which gives
# nothing of the answer away.
SOLUTION_FIRST_LINE = "# Solution: run this cell only after you have tried the exercise above."
# A checker's "right" verdict, as text ("right (02.raw_key): ...") or as Markdown ("✅ **right** (02.raw_key)").
RIGHT_VERDICT = r"\bright\**\s+\(\d\d\.\w+\)"
# nbval's comment markers: the tests read the cell tag instead (`nbval-check-output`), which the learner never sees.
NBVAL_COMMENT = r"(?m)^\s*#\s*(NBVAL|PYTEST_VALIDATE)_[A-Z_]+\s*$"
OUTPUT_NOISE = ("Kernel is running over TCP", "Cookie/crumb fetch failed", "Traceback (most recent call last)")
# The kernel the tests and `make notebooks` run: the interpreter running them (the project's .venv), whatever
# the notebook's metadata names; the stored metadata keeps the kernel `make install` registers.
KERNEL = "python3"
NOTEBOOK_TIMEOUT_SECONDS = 900


def course_notebooks(directory: Path | None = None) -> list[Path]:
    """The course's numbered notebooks, in order."""
    return sorted((directory or project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def output_texts(notebook: Any) -> list[tuple[int, str]]:
    """(cell index, text) of every stored output of a notebook (nbformat node); an error output as a traceback."""
    texts: list[tuple[int, str]] = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                texts.append((index, "Traceback (most recent call last): " + output.get("ename", "")))
            for text in [output.get("text", ""), *(str(v) for v in output.get("data", {}).values())]:
                texts.append((index, "".join(text) if isinstance(text, list) else text))
    return texts


def output_problems(notebook: Any) -> list[str]:
    """What a learner should not read in a stored notebook: tracebacks, ANSI colour codes, the kernel's TCP
    warning, a client library's network noise, a Rich table that cut a source's name, and what `answer_problems`
    finds (answers and test scaffolding in sight). One line each, by cell; [] when clean."""
    import re

    ansi = re.compile(ANSI_ESCAPE_PATTERN)
    problems = []
    for index, text in output_texts(notebook):
        found = [n for n in OUTPUT_NOISE if n in text]
        if ansi.search(text):
            found.append("an ANSI escape")
        if "openexchange…" in text:
            found.append("a Rich table that cut a source's name")
        problems += [f"cell {index}: {what}" for what in found]
    problems += answer_problems(notebook)
    return sorted(problems, key=lambda p: int(p.split(":")[0].split()[1]))


def answer_problems(notebook: Any) -> list[str]:
    """What gives an answer away, or shows the tests' scaffolding, in a notebook a learner opens: a solution's
    output, a "right" verdict in any output, a solution not collapsed or whose first line (which a collapsed cell
    still shows) is not `SOLUTION_FIRST_LINE`, an nbval comment marker in a cell's source, a `record(...)` cell
    not tagged `record` and collapsed. One line each; [] when clean."""
    import re

    problems = [f'cell {i}: a "right" verdict' for i, t in output_texts(notebook) if re.search(RIGHT_VERDICT, t)]
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        tags, hidden = cell.get("metadata", {}).get("tags", []), _collapsed(cell)
        if re.search(NBVAL_COMMENT, cell.source):
            problems.append(f"cell {index}: an nbval comment in the source (tag the cell `nbval-check-output`)")
        if "record(" in cell.source and not (RECORD_TAG in tags and hidden and _outputs_collapsed(cell)):
            problems.append(f"cell {index}: a record(...) cell in sight (tag it {RECORD_TAG!r}, collapse it)")
        if RUNS_ANSWER_TAG in tags and cell.get("outputs"):
            problems.append(f"cell {index}: the output of a cell that runs the learner's answer")
        if SOLUTION_TAG not in tags:
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index}: a solution's output")
        if not hidden:
            problems.append(f"cell {index}: a solution not collapsed")
        if cell.source.split("\n", 1)[0].rstrip() != SOLUTION_FIRST_LINE:
            problems.append(f"cell {index}: a solution whose first line is not {SOLUTION_FIRST_LINE!r}")
    return problems


def _collapsed(cell: Any) -> bool:
    return cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True


def _outputs_collapsed(cell: Any) -> bool:
    return cell.get("metadata", {}).get("jupyter", {}).get("outputs_hidden") is True


def execute_notebook(path: Path, timeout: int = NOTEBOOK_TIMEOUT_SECONDS, **parameters: Any) -> Any:
    """Run a notebook top to bottom in a kernel over IPC, in its folder, as the tests do; the executed notebook
    (nbformat node) with its metadata as committed. `parameters` replace the values of the parameters cell."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    kept = {k: notebook.metadata[k] for k in ("kernelspec", "language_info") if k in notebook.metadata}
    if parameters:
        cell = next(c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", []))
        cell.source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(path.parent)}},
        record_timing=False, config=kernel_config(),
    )  # fmt: skip
    client.execute()
    notebook.metadata.update(kept)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesced_streams(cell.outputs)
    return notebook


def hide_solutions(notebook: Any) -> Any:
    """The notebook (nbformat node) with its solution cells' outputs removed, and those of the cells that run the
    pipeline with the learner's answer (tagged `runs-answer`): a committed notebook shows no answer and no verdict on
    one; the learner sees them by running the solution, or their own answer, once they have tried."""
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and (SOLUTION_TAG in tags or RUNS_ANSWER_TAG in tags):
            cell.outputs, cell.execution_count = [], None
    return notebook


def without_outputs(notebook: Any) -> Any:
    """The notebook (nbformat node) with every code cell's outputs removed, in place."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def coalesced_streams(outputs: list[Any]) -> list[Any]:
    """A cell's outputs with consecutive pieces of one stream joined: the kernel sends a cell's prints in pieces
    that depend on timing, so the stored notebook would change from run to run without it."""
    joined: list[Any] = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            joined.append(output)
    return joined


def refresh_notebooks(
    paths: list[Path] | None = None, *, report: Callable[[str], None] = print, timeout: int = NOTEBOOK_TIMEOUT_SECONDS
) -> list[Path]:
    """Re-execute the course's notebooks in place, in order, on a fresh local stack of their own (a temporary
    folder: the repository's `.local` stack and data are not touched), and write each one back only if it ran to
    the end with clean outputs (`output_problems`). What `make notebooks` runs. Returns the notebooks written."""
    import shutil
    import tempfile
    import time
    from unittest import mock

    import nbformat
    from nbclient.exceptions import CellExecutionError

    from pipeline.settings import Settings
    from workbench.local import servers

    chosen = paths or course_notebooks()
    for path in chosen:  # what no run can fix (a solution's first line, a marker in sight): refused before any run
        unfit = answer_problems(without_outputs(nbformat.read(path, as_version=4)))  # type: ignore[no-untyped-call]
        if unfit:
            raise RuntimeError(f"{path.name}: not run, its source holds {'; '.join(unfit[:3])}")
    local_dir = Path(tempfile.mkdtemp(prefix="pipeline-notebooks-"))
    settings = Settings(local_dir=local_dir)
    stack = servers.up(settings, aws_port=0, snowflake_port=0)
    env = {**stack.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"}  # the kernels inherit this process's environment
    written = []
    try:
        with mock.patch.dict(os.environ, env):
            report(f"a fresh local stack in {local_dir}")
            for path in chosen:
                began = time.monotonic()
                try:
                    notebook = hide_solutions(execute_notebook(path, timeout))
                except CellExecutionError as exc:
                    failed = f"{exc.ename}: {exc.evalue}"
                    raise RuntimeError(f"{path.name}: a cell failed, so it is not written: {failed}") from None
                problems = output_problems(notebook)
                if problems:
                    raise RuntimeError(f"{path.name}: not written, it holds {'; '.join(problems[:3])}")
                nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
                written.append(path)
                report(f"{path.name}: executed and written ({time.monotonic() - began:.0f} s)")
    finally:
        servers.down(settings, keep=False)
        shutil.rmtree(local_dir, ignore_errors=True)
    return written
