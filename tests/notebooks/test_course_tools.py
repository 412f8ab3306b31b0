"""The course's maintenance tools: recording a full layer build's sizes (`python -m pipeline course layer-sizes`)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from workbench.course import record_layer_sizes
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


def test_a_committed_notebook_that_shows_a_solutions_output_is_refused() -> None:
    """The answers stay hidden: a solution's output is a problem (so `make notebooks` never writes it), and the
    refresh removes what the run printed under each solution before it checks."""
    import nbformat

    from workbench.course import hide_solutions, output_problems

    notebook = nbformat.v4.new_notebook()
    exercise = nbformat.v4.new_code_cell("answer = ...", metadata={"tags": ["exercise"]})
    exercise.outputs = [nbformat.v4.new_output("stream", name="stdout", text="not yet (01.x): replace the `...`")]
    solution = nbformat.v4.new_code_cell("answer = 44_640", metadata={"tags": ["solution"]})
    solution.outputs = [nbformat.v4.new_output("stream", name="stdout", text="right (01.x): 44,640 calls")]
    notebook.cells = [exercise, solution]
    assert output_problems(notebook) == ["cell 1: a solution's output"]
    assert output_problems(hide_solutions(notebook)) == []
    assert notebook.cells[0].outputs and notebook.cells[1].outputs == []
