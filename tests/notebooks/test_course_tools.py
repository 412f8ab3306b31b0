"""The course's maintenance tools: recording a full layer build's sizes (`python -m pipeline course layer-sizes`)."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workbench.course import RECORD_MIME, SOLUTION_FIRST_LINE, record_layer_sizes
from workbench.deploy.functions import all_functions

BYTECODE_313 = "Python 3.13.0 (/usr/bin/python3.13, from PIPELINE_RUNTIME_PYTHON)"


def fake_build(folder: Path, *, functions: list[str] | None = None, bytecode_by: str = BYTECODE_313) -> Path:
    """A layer build's folder: sizes.json as `layer build` writes it, and two layer zips sharing a file."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "deps-a": {
            "python/pandas/core.py": 300,
            "python/pyarrow/lib.so": 500,
            "python/pyarrow-26.0.dist-info/RECORD": 7,
        },
        "deps-b": {"python/pandas/core.py": 300, "python/yfinance/base.py": 40},
    }
    layers = {}
    for name, files in contents.items():
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            for path, size in files.items():
                archive.writestr(path, b"x" * size)
        layers[name] = {"zip": f"{name}.zip", "unzipped": sum(files.values()), "zipped": 1, "sha256": "0" * 64}
    names = functions if functions is not None else [f.name for f in all_functions()]
    sizes: dict[str, Any] = {
        "runtime": "python3.13",
        "bytecode_by": bytecode_by,
        "limits": {"unzipped_bytes": 262_144_000},
        "code": {"zip": "code.zip", "unzipped": 10, "zipped": 5, "sha256": "1" * 64},
        "layers": layers,
        "functions": [{"function": name, "layer": "deps-a"} for name in names],
    }
    (folder / "sizes.json").write_text(json.dumps(sizes))
    return folder


def test_a_full_build_is_recorded_with_its_date_runtime_and_one_layers_size(tmp_path: Path) -> None:
    out = tmp_path / "layer_sizes.json"
    document = record_layer_sizes(fake_build(tmp_path / "build"), out, on="2026-12-02")
    assert json.loads(out.read_text()) == document
    assert document["measured"]["on"] == "2026-12-02"
    assert (document["measured"]["runtime"], document["measured"]["python"]) == ("python3.13", "3.13")
    assert document["measured"]["bytecode_by"] == BYTECODE_313
    assert [f["function"] for f in document["functions"]] == [f.name for f in all_functions()]
    # the union of the layers' files: pandas once; without pyarrow's package and its dist-info
    assert document["one_layer"] == {"unzipped": 300 + 500 + 7 + 40, "unzipped_without_pyarrow": 300 + 40}


def test_a_partial_build_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "layer_sizes.json"
    build = fake_build(tmp_path / "build", functions=[all_functions()[0].name])
    with pytest.raises(RuntimeError, match=r"lacks .*build every function"):
        record_layer_sizes(build, out)
    assert not out.exists()


def test_bytecode_of_another_python_is_refused(tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build", bytecode_by="")
    with pytest.raises(RuntimeError, match=re.escape("compiled by no Python, not python3.13's")):
        record_layer_sizes(build, tmp_path / "layer_sizes.json")


def test_no_build_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="run `python -m pipeline layer build` first"):
        record_layer_sizes(tmp_path / "nothing", tmp_path / "layer_sizes.json")


def test_refreshing_an_unknown_notebook_is_one_line_and_runs_nothing() -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    result = CliRunner().invoke(app, ["course", "notebooks", "42"])
    assert result.exit_code == 1
    assert "no notebook 42: the course has 00_overview_and_local_stack.ipynb" in result.output


def test_a_cells_prints_are_stored_as_one_output_per_stream() -> None:
    """The kernel sends prints in pieces that depend on timing; the stored cell keeps one piece per stream run."""
    import nbformat

    from workbench.course import coalesced_streams

    pieces = [
        nbformat.v4.new_output("stream", name="stdout", text="rows from the embedded JSON:"),
        nbformat.v4.new_output("stream", name="stdout", text=" 10\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "a table"}),
        nbformat.v4.new_output("stream", name="stdout", text="after\n"),
    ]
    assert [(o.get("name"), o.get("text")) for o in coalesced_streams(pieces)] == [
        ("stdout", "rows from the embedded JSON: 10\n"),
        ("stderr", "warning\n"),
        (None, None),
        ("stdout", "after\n"),
    ]


def test_every_function_of_the_table_gets_its_size_from_the_measured_layers() -> None:
    """Notebook 06's table: a function's package is the code package plus its layer, so a function added since the
    recorded build (sharing a measured layer) is sized too, and its size is that of its layer's other functions."""
    from workbench.course import measured_function_sizes, measured_layer_sizes

    measured = measured_layer_sizes()
    sizes = {entry["function"]: entry for entry in measured_function_sizes(measured)}
    assert sorted(sizes) == sorted(f.name for f in all_functions())
    for function in all_functions():
        entry = sizes[function.name]
        layer = measured["layers"][function.layer_name]
        assert (entry["layer"], entry["handler"]) == (function.layer_name, function.handler)
        assert (entry["layer_unzipped"], entry["layer_zipped"]) == (layer["unzipped"], layer["zipped"])
        assert (entry["code_unzipped"], entry["code_zipped"]) == (
            measured["code"]["unzipped"],
            measured["code"]["zipped"],
        )
    for recorded in measured["functions"]:  # what the build measured for a function is what the table shows
        shown = sizes[recorded["function"]]
        assert shown["code_unzipped"] + shown["layer_unzipped"] == recorded["unzipped"]


def test_a_function_whose_layer_was_not_measured_says_what_to_run() -> None:
    from workbench.course import measured_function_sizes, measured_layer_sizes

    measured = measured_layer_sizes()
    without_parquet = {**measured, "layers": {k: v for k, v in measured["layers"].items() if k != "deps-parquet"}}
    with pytest.raises(RuntimeError, match=r"measured no deps-parquet: run `python -m pipeline layer build`"):
        measured_function_sizes(without_parquet)


def _exercise_and_solution(first_line: str = SOLUTION_FIRST_LINE) -> Any:
    """A notebook with one exercise (its stub's "not yet" stored) and its solution, as `make notebooks` keeps them."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    exercise = nbformat.v4.new_code_cell(
        'calls_per_month = ...\ncheck("01.x", calls_per_month)', metadata={"tags": ["exercise"]}
    )
    exercise.outputs = [nbformat.v4.new_output("stream", name="stdout", text="not yet (01.x): replace the `...`")]
    solution = nbformat.v4.new_code_cell(
        f'{first_line}\ncalls_per_month = 31 * 24 * 60\ncheck("01.x", calls_per_month)',
        metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
    )
    record = nbformat.v4.new_code_cell(
        "record(exercises=course.results())",
        metadata={"tags": ["record"], "jupyter": {"source_hidden": True, "outputs_hidden": True}},
    )
    record.outputs = [nbformat.v4.new_output("display_data", data={RECORD_MIME: {"exercises": {"01.x": True}}})]
    notebook.cells = [exercise, solution, record]
    return notebook


def test_a_notebook_as_make_notebooks_keeps_it_is_clean_and_its_record_is_read() -> None:
    from workbench.course import output_problems, recorded

    notebook = _exercise_and_solution()
    assert output_problems(notebook) == []
    assert recorded(notebook) == {"exercises": {"01.x": True}}


def test_a_committed_notebook_that_shows_a_solutions_output_is_refused() -> None:
    """The answers stay hidden: a solution's output is a problem (so `make notebooks` never writes it), and the
    refresh removes what the run printed under each solution before it checks."""
    import nbformat

    from workbench.course import hide_solutions, output_problems

    notebook = _exercise_and_solution()
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="44640")]
    assert output_problems(notebook) == ["cell 1: a solution's output"]
    assert output_problems(hide_solutions(notebook)) == []
    assert notebook.cells[0].outputs and notebook.cells[1].outputs == []


def _with(change: Callable[[Any], None]) -> Any:
    notebook = _exercise_and_solution()
    change(notebook)
    return notebook


def _right_verdict(notebook: Any, text: str, *, markdown: bool = False) -> None:
    import nbformat

    data = {"text/markdown": text, "text/plain": "..."} if markdown else None
    output = (
        nbformat.v4.new_output("execute_result", data=data, execution_count=1)
        if markdown
        else nbformat.v4.new_output("stream", name="stdout", text=text)
    )
    notebook.cells[0].outputs = [output]


def _source(index: int, source: str) -> Callable[[Any], None]:
    def change(notebook: Any) -> None:
        notebook.cells[index].source = source

    return change


def _metadata(index: int, metadata: dict[str, Any]) -> Callable[[Any], None]:
    def change(notebook: Any) -> None:
        notebook.cells[index].metadata = metadata

    return change


# Each rule of a notebook a learner opens, broken once: the problem `make notebooks` and the stored-outputs test name.
BROKEN_RULES = [
    (
        "a right verdict as text",
        lambda nb: _right_verdict(nb, "right (01.x): 44,640 calls"),
        'cell 0: a "right" verdict',
    ),
    (
        "a right verdict as Markdown",
        lambda nb: _right_verdict(nb, "✅ **right** (01.x): 44,640 calls", markdown=True),
        'cell 0: a "right" verdict',
    ),
    (
        "a solution whose first line is the answer",
        _source(1, 'calls_per_month = 31 * 24 * 60  # days x hours x minutes\ncheck("01.x", calls_per_month)'),
        "cell 1: a solution whose first line is not",
    ),
    (
        "a solution opened by a blank first line",
        _source(1, f"\n{SOLUTION_FIRST_LINE}\ncalls_per_month = 44_640"),
        "cell 1: a solution whose first line is not",
    ),
    ("a solution not collapsed", _metadata(1, {"tags": ["solution"]}), "cell 1: a solution not collapsed"),
    (
        "an nbval comment in sight",
        _source(0, '# NBVAL_CHECK_OUTPUT\ncalls_per_month = ...\ncheck("01.x", calls_per_month)'),
        "cell 0: an nbval comment in the source",
    ),
    (
        "a record cell untagged",
        _metadata(2, {"jupyter": {"source_hidden": True, "outputs_hidden": True}}),
        "cell 2: a record(...) cell in sight",
    ),
    (
        "a record cell open",
        _metadata(2, {"tags": ["record"], "jupyter": {"source_hidden": True}}),
        "cell 2: a record(...) cell in sight",
    ),
]


@pytest.mark.parametrize(("rule", "change", "problem"), BROKEN_RULES, ids=[r[0] for r in BROKEN_RULES])
def test_a_notebook_that_shows_an_answer_or_the_tests_markers_is_refused(
    rule: str, change: Callable[[Any], None], problem: str
) -> None:
    from workbench.course import output_problems

    found = output_problems(_with(change))
    assert len(found) == 1 and found[0].startswith(problem), (rule, found)


def test_a_not_yet_verdict_and_the_word_right_in_prose_are_no_problem() -> None:
    from workbench.course import output_problems

    assert (
        output_problems(_with(lambda nb: _right_verdict(nb, "not yet (01.x): replace the `...` with your answer")))
        == []
    )
    assert output_problems(_with(lambda nb: _right_verdict(nb, "the right answer comes right (after) the stub"))) == []


def test_make_notebooks_refuses_a_notebook_whose_solution_shows_its_answer_before_running_it(tmp_path: Path) -> None:
    """No run can fix a solution's first line: the refresh refuses it before it starts a stack or a kernel."""
    import nbformat

    from workbench.course import refresh_notebooks

    path = tmp_path / "01_x.ipynb"
    nbformat.write(_with(_source(1, "calls_per_month = 31 * 24 * 60\ncheck('01.x', calls_per_month)")), path)
    before = path.read_text()
    with pytest.raises(
        RuntimeError, match=r"01_x.ipynb: not run, its source holds cell 1: a solution whose first line"
    ):
        refresh_notebooks([path], report=lambda line: None)
    assert path.read_text() == before


def test_every_committed_solution_opens_with_the_neutral_line() -> None:
    """What a collapsed solution shows in JupyterLab, in every chapter: the same line, nothing of the answer."""
    import nbformat

    from workbench.course import course_notebooks

    firsts = {
        cell.source.split("\n", 1)[0]
        for path in course_notebooks()
        for cell in nbformat.read(path, as_version=4).cells
        if "solution" in cell.metadata.get("tags", [])
    }
    assert firsts == {SOLUTION_FIRST_LINE}
