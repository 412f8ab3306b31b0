"""What `python -m pipeline deploy` refuses before it builds or creates anything: a stack name too long for the
names the template builds from it, a live stack whose alarms nobody would hear, a reservation the account cannot
make."""

from __future__ import annotations

import re
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


ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:market-data/{}-AbCdEf"
SECRETS = [
    "--parameter", f"SnowflakeSecretArn={ARN.format('snowflake')}",
    "--parameter", f"SqlServerUrlSecretArn={ARN.format('sqlserver-url')}",
]  # fmt: skip
LIVE = [*SECRETS, "--parameter", f"OxrAppIdSecretArn={ARN.format('oxr-app-id')}"]
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`deploy` against the moto server as against an AWS account: every check a real endpoint gets is made."""
    monkeypatch.setattr("workbench.deploy.deployer.is_local_endpoint", lambda endpoint: False)

    def run(tmp_path: Path, stack: str, *args: str) -> Any:
        command = ["deploy", "--stack", stack, "--endpoint-url", moto_endpoint, "--region", "us-east-1", *args]
        return CliRunner(env=MOTO_ENV).invoke(app, [*command, "--out", str(tmp_path)])

    return run


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 4, result.output
    return " ".join(result.output.split())


@pytest.mark.stack
@pytest.mark.parametrize(
    "extra", [[], ["--parameter", "Mode=live"], ["--parameter", "AlertEmail="]], ids=["default", "live", "empty"]
)
def test_a_live_stack_without_an_alert_email_is_refused_before_anything_is_built(
    extra: list[str], tmp_path: Path, account: Any
) -> None:
    output = one_line(account(tmp_path, "mdp-no-alerts", *LIVE, *extra))
    assert "no AlertEmail" in output and "--parameter AlertEmail=you@example.com" in output
    assert "--without-alerts" in output
    assert not list(tmp_path.iterdir())


@pytest.mark.stack
@pytest.mark.parametrize(
    ("given", "named", "not_named"),
    [
        (["--parameter", "Mode=simulated"], ["SnowflakeSecretArn=", "SqlServerUrlSecretArn=", "CreateSqlServer=true"],
         ["OxrAppIdSecretArn"]),
        ([*ALERTS], ["SnowflakeSecretArn=", "SqlServerUrlSecretArn=", "OxrAppIdSecretArn="], []),
        ([*ALERTS, "--parameter", "Mode=live", *SECRETS], ["OxrAppIdSecretArn="],
         ["SnowflakeSecretArn", "SqlServerUrl"]),
        (["--parameter", "Mode=simulated", "--parameter", "CreateSqlServer=true"], ["SnowflakeSecretArn="],
         ["SqlServerUrlSecretArn", "OxrAppIdSecretArn"]),
        (["--parameter", "Mode=simulated", "--parameter", f"SnowflakeSecretArn={ARN.format('s')}",
          "--parameter", "CreateSqlServer=false"], ["SqlServerUrlSecretArn=", "CreateSqlServer=true"],
         ["SnowflakeSecretArn", "OxrAppIdSecretArn"]),
    ],
    ids=["simulated", "live", "live-without-oxr", "simulated-rds", "simulated-no-sqlserver"],
)  # fmt: skip
def test_a_stack_whose_sinks_have_no_secret_is_refused_naming_the_parameters_to_type(
    given: list[str], named: list[str], not_named: list[str], tmp_path: Path, account: Any
) -> None:
    output = one_line(account(tmp_path, "mdp-secrets", *given))
    assert "needs its secrets" in output
    assert all(f"--parameter {name}" in output or name in output for name in named), output
    assert all(name not in output for name in not_named), output
    assert not list(tmp_path.iterdir())  # nothing was built


@pytest.mark.parametrize(
    "values",
    [
        {"Mode": "simulated", "SnowflakeSecretArn": ARN, "SqlServerUrlSecretArn": ARN},
        {"Mode": "simulated", "SnowflakeSecretArn": ARN, "CreateSqlServer": "true"},
        {"Mode": "live", "SnowflakeSecretArn": ARN, "SqlServerUrlSecretArn": ARN, "OxrAppIdSecretArn": ARN},
        {"Mode": "live", "SnowflakeSecretArn": ARN, "CreateSqlServer": "true", "OxrAppIdSecretArn": ARN},
    ],
)
def test_a_stack_with_its_sinks_secrets_passes(values: dict[str, str]) -> None:
    preflight.check_sink_secrets(values)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("Mode=weird", "Mode='weird' is not one of live, simulated"),
        ("Mode=Live", "Mode='Live' is not one of live, simulated"),
        ("OxrRefreshSeconds=301", "OxrRefreshSeconds='301' is not one of 300, 600"),
        ("CmcTopN=0", "CmcTopN=0 is below its minimum 1"),
        ("CmcTopN=101", "CmcTopN=101 is above its maximum 100"),
        ("CmcTopN=ten", "CmcTopN='ten' is not a number"),
        ("SnowflakeSecretArn=market-data/snowflake", "SnowflakeSecretArn='market-data/snowflake' does not match"),
        ("BucketName=My_Bucket", "BucketName='My_Bucket' does not match"),
        ("CreateSqlServer=yes", "CreateSqlServer='yes' is not one of true, false"),
    ],
)
def test_a_value_the_template_does_not_allow_is_refused_in_one_line_before_anything(
    parameter: str, message: str, tmp_path: Path
) -> None:
    output = one_line(deploy(tmp_path, "--stack", "mdp", *LIVE, *ALERTS, "--parameter", parameter))
    assert message in output and "fix the --parameter value" in output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "values",
    [
        {"Mode": "simulated"},
        {"OxrRefreshSeconds": "300", "CmcTopN": "100", "UniverseLimit": "0"},
        {"CmcTopN": "1", "MaxReceiveCount": "5"},
        {"SnowflakeSecretArn": "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:sf-AbCdEf"},
        {"SnowflakeSecretArn": "", "BucketName": ""},
        {"BucketName": "my.data-bucket-1", "CreateSqlServer": "true"},
    ],
)
def test_values_the_template_allows_pass(values: dict[str, str]) -> None:
    preflight.check_parameter_values(BODY["Parameters"], values)


def test_without_credentials_deploy_says_what_to_type_before_anything_is_built(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "no-such-file")
    env = {
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere, "AWS_CONFIG_FILE": nowhere, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None, "AWS_DEFAULT_REGION": "us-east-1",
    }  # fmt: skip
    out = tmp_path / "build"
    args = ["deploy", "--stack", "mdp", *LIVE, *ALERTS, "--out", str(out)]
    output = one_line(CliRunner(env=env).invoke(app, args))
    assert "no AWS credentials" in output and "aws configure" in output and "AWS_PROFILE" in output
    assert not out.exists()  # nothing was built


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


DEFAULTS = preflight.effective_parameters(BODY["Parameters"], {}, {})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"CoinMarketCapSchedule": "rate(10 minutes)"}, "pass --parameter FreshnessMinutes=10 or more"),
        ({"CoinMarketCapSchedule": "rate(1 hour)", "FreshnessMinutes": "30"}, "FreshnessMinutes=60 or more"),
        ({"YahooFinanceSchedule": "rate(6 minutes)"}, "the yahoo_finance freshness alarm fires after"),
        ({"OxrRefreshSeconds": "300"}, "pass --parameter OxrRefreshSeconds=1800"),
        ({"OxrRefreshSeconds": "600", "OxrMonthlyQuota": "2000"}, "pass --parameter OxrRefreshSeconds=900"),
        ({"OpenExchangeRatesSchedule": "rate(2 hours)"}, "a shorter schedule"),
        ({"OxrRefreshSeconds": "300", "OpenExchangeRatesSchedule": "rate(10 minutes)", "OxrMonthlyQuota": "0"},
         "two refresh periods (600 s)"),
    ],
)  # fmt: skip
def test_a_schedule_its_freshness_alarm_would_flap_on_is_refused_naming_what_to_change(
    parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(preflight.PreflightError, match=re.escape(message)):
        preflight.check_freshness({**DEFAULTS, **parameters}, BODY["Parameters"])


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"CoinMarketCapSchedule": "rate(5 minutes)"},
        {"CoinMarketCapSchedule": "rate(10 minutes)", "FreshnessMinutes": "10"},
        {"YahooFinanceSchedule": "rate(1 minute)", "CoinMarketCapSchedule": "rate(2 minutes)"},
        {"OxrRefreshSeconds": "300", "OxrMonthlyQuota": "0"},
        {"OxrRefreshSeconds": "300", "OxrMonthlyQuota": "10000"},
        {"OxrRefreshSeconds": "1800"},
        {"OxrRefreshSeconds": "43200", "OpenExchangeRatesSchedule": "rate(1 hour)"},
        {"CoinMarketCapSchedule": "rate(1 day)", "SchedulesEnabled": "false"},  # no freshness alarm at all
    ],
)
def test_a_schedule_its_freshness_alarm_can_follow_passes(parameters: dict[str, str]) -> None:
    assert preflight.check_freshness({**DEFAULTS, **parameters}, BODY["Parameters"]) == []


def test_a_cron_schedule_is_deployed_with_a_warning_that_its_alarm_is_not_checked() -> None:
    warnings = preflight.check_freshness(
        {**DEFAULTS, "CoinMarketCapSchedule": "cron(0/5 * * * ? *)"}, BODY["Parameters"]
    )
    assert warnings == [
        "CoinMarketCapSchedule=cron(0/5 * * * ? *): the coinmarketcap freshness alarm is not checked against it"
    ]
