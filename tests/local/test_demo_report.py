"""The demo's HTML report (`make demo` renders notebook 08 to reports/analysis.html) shows what the learner sees in
JupyterLab: the cell that keeps the tests' values (tagged `record`) stays out of it, the others are in it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench.course import KERNEL, RECORD_TAG
from workbench.local.demo import REPORT_HIDDEN_TAG, render_notebook


@pytest.mark.notebook
def test_the_report_leaves_out_the_record_cell(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("print('the analysis, ' + str(6 * 7))"),
        nbformat.v4.new_code_cell("kept_for_the_tests = 'scaffolding'", metadata={"tags": [RECORD_TAG]}),
    ]
    source = tmp_path / "report.ipynb"
    nbformat.write(notebook, source)
    html = render_notebook(source, tmp_path / "out" / "report.html", {}).read_text(encoding="utf-8")
    assert "the analysis, 42" in html
    assert "kept_for_the_tests" not in html


def test_the_report_hides_the_tag_the_course_records_under() -> None:
    assert REPORT_HIDDEN_TAG == RECORD_TAG
