"""`python -m pipeline layer build` and `deploy`: expected failures are one line and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layer", "build", "--function", "ingest-nope"], "unknown function 'ingest-nope'"),
        (["deploy", "--stack", "s", "--parameter", "MaxReceiveCount"], "expected NAME=VALUE"),
        (
            ["deploy", "--stack", "s", "--parameter", "MaxRecieveCount=5"],
            "the template has no parameter MaxRecieveCount",
        ),
        (["deploy", "--stack", "s", "--template", "missing.yaml"], "no template at missing.yaml"),
    ],
)
def test_an_expected_failure_is_one_line_before_anything_is_built(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, [*args, *(["--out", str(tmp_path)] if args[0] == "layer" else [])])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing was built
