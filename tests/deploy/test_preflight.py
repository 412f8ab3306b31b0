"""What `python -m pipeline deploy` refuses before it builds or creates anything: a stack name too long for the
names the template builds from it, a live stack whose alarms nobody would hear, a reservation the account cannot
make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.cloudformation.template import load_template
from workbench.deploy import preflight

BODY = load_template()
ALERTS = ["--parameter", "AlertEmail=ops@example.com"]


def deploy(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["deploy", *args, "--out", str(tmp_path)])


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ("x" * 39, "use a stack name of at most 38 characters"),
        ("x" * 120, "use a stack name of at most 38 characters"),
        ("market-data-pipeline-" + "y" * 18, "'<stack>-process-openexchangerates', would have 65 (at most 64)"),
        ("x" * 129, "at most 128 characters"),
        ("1abc", "a letter, then letters, digits and hyphens"),
        ("my_stack", "a letter, then letters, digits and hyphens"),
        ("my stack", "a letter, then letters, digits and hyphens"),
    ],
)
def test_a_stack_name_the_resources_cannot_carry_is_refused_in_one_line_before_anything_is_built(
    stack: str, message: str, tmp_path: Path
) -> None:
    result = deploy(tmp_path, "--stack", stack, *ALERTS)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert not list(tmp_path.iterdir())  # nothing was built


@pytest.mark.parametrize("stack", ["m", "md", "market-data-pipeline", "x" * 38, "A-1-b"])
def test_a_stack_name_within_every_limit_passes(stack: str) -> None:
    preflight.check_stack_name(stack, BODY)
    preflight.check_stack_name(stack, BODY, {"CreateSqlServer": "true"})


def test_the_limit_is_computed_from_the_templates_names_so_a_longer_name_lowers_it() -> None:
    resources = preflight.named_resources(BODY)
    kinds = {r.what for r in resources}
    assert {"Lambda function name", "SQS queue name (with .fifo)", "alarm name", "EventBridge rule name"} <= kinds
    assert min(r.max_stack_name for r in resources) == 38  # "<stack>-process-openexchangerates" is 64 at 38
    body = {**BODY, "Resources": dict(BODY["Resources"])}
    function = body["Resources"]["IngestYahooFinanceFunction"]
    body["Resources"]["IngestYahooFinanceFunction"] = {
        **function,
        "Properties": {**function["Properties"], "FunctionName": {"Fn::Sub": "${AWS::StackName}-" + "z" * 40}},
    }
    with pytest.raises(preflight.PreflightError, match="at most 23 characters"):
        preflight.check_stack_name("x" * 38, body)


@pytest.mark.parametrize(
    "extra", [[], ["--parameter", "Mode=live"], ["--parameter", "AlertEmail="]], ids=["default", "live", "empty"]
)
def test_a_live_stack_without_an_alert_email_is_refused_before_anything_is_built(
    extra: list[str], tmp_path: Path
) -> None:
    result = deploy(tmp_path, "--stack", "market-data-pipeline", *extra)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "no AlertEmail" in output and "--parameter AlertEmail=you@example.com" in output
    assert "--without-alerts" in output and "Traceback" not in output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("parameters", "without_alerts", "warned"),
    [
        ({"AlertEmail": "ops@example.com"}, False, False),
        ({"AlertEmail": "ops@example.com", "Mode": "live"}, True, False),
        ({"Mode": "simulated"}, False, False),  # nothing real to alert about
        ({}, True, True),  # deployed, and said loudly
        ({"Mode": "live", "AlertEmail": ""}, True, True),
    ],
)
def test_an_alert_email_or_an_explicit_choice_lets_the_deploy_go_on(
    parameters: dict[str, str], without_alerts: bool, warned: bool
) -> None:
    warning = preflight.check_alert_email(parameters, without_alerts=without_alerts)
    assert (warning is not None) is warned
    if warning:
        assert "nobody is subscribed" in warning


class Lambda:
    def __init__(self, limit: int, unreserved: int) -> None:
        self.settings = {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}}
        self.calls = 0

    def get_account_settings(self) -> dict[str, Any]:
        self.calls += 1
        return self.settings


@pytest.mark.parametrize(("limit", "unreserved"), [(10, 10), (100, 100), (1000, 100)])
def test_a_reservation_the_account_cannot_make_is_refused(limit: int, unreserved: int) -> None:
    with pytest.raises(preflight.PreflightError, match=f"concurrency limit is {limit} with {unreserved} unreserved"):
        preflight.check_reserved_concurrency(Lambda(limit, unreserved), {"YahooIngestReservedConcurrency": "1"})


@pytest.mark.parametrize(
    ("limit", "unreserved", "parameters", "asked"),
    [
        (10, 10, {}, 0),  # the default reserves nothing: the account is not even asked
        (10, 10, {"YahooIngestReservedConcurrency": "0"}, 0),
        (1000, 1000, {"YahooIngestReservedConcurrency": "1"}, 1),
        (1000, 101, {"YahooIngestReservedConcurrency": "1"}, 1),
    ],
)
def test_no_reservation_or_one_the_account_can_make_passes(
    limit: int, unreserved: int, parameters: dict[str, str], asked: int
) -> None:
    client = Lambda(limit, unreserved)
    preflight.check_reserved_concurrency(client, parameters)
    assert client.calls == asked
