"""`python -m pipeline layer build` and `deploy`: expected failures are one line and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app


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


@pytest.mark.parametrize(
    ("endpoint", "where"),
    [
        ([], "no --endpoint-url"),
        (["--endpoint-url", "https://cloudformation.us-east-1.amazonaws.com"], "is not on this machine"),
    ],
)
def test_emulator_layers_are_refused_for_anything_but_a_local_endpoint(
    endpoint: list[str], where: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["deploy", "--stack", "s", "--emulator-layers", *endpoint, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "--emulator-layers is for the local emulator only" in result.output and where in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing was built


@pytest.mark.stack
def test_a_deploy_to_the_local_emulator_needs_no_layer_build(moto_endpoint: str, tmp_path: Path) -> None:
    import boto3

    # GIVEN no layer build at all
    out = tmp_path / "layers"

    # WHEN the stack is deployed to the local moto server
    runner = CliRunner(env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    args = ["deploy", "--stack", "cli-emulator", "--endpoint-url", moto_endpoint, "--region", "us-east-1"]
    result = runner.invoke(app, [*args, "--out", str(out), "--parameter", "Mode=simulated"])

    # THEN it deployed the real code with placeholder layers, and downloaded nothing
    assert result.exit_code == 0, result.output
    assert "layers: 6 placeholders, for the emulator only" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["code.zip", "emulator"]
    cloudformation = boto3.client(
        "cloudformation", endpoint_url=moto_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    [stack] = cloudformation.describe_stacks(StackName="cli-emulator")["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert all(parameters[k].startswith("artifacts/emulator-deps-") for k in parameters if k.startswith("LayerKey"))
    assert parameters["CodeKey"].startswith("artifacts/code-")

    # ... and --delete removes it
    result = runner.invoke(app, [*args[:5], "--region", "us-east-1", "--delete"])
    assert result.exit_code == 0, result.output
    assert "deleted" in result.output
