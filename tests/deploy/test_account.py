"""`deploy` on an account that already holds things: a stack to update (its values are kept and checked), a
bucket name taken by a retained data bucket, a first create that never ran. Against the moto server, with every
check an AWS endpoint gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from workbench.cli import app

pytestmark = pytest.mark.stack

ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:market-data/{}-AbCdEf"
SECRETS = [
    "--parameter", f"SnowflakeSecretArn={ARN.format('snowflake')}",
    "--parameter", f"SqlServerUrlSecretArn={ARN.format('sqlserver-url')}",
]  # fmt: skip
LIVE = [*SECRETS, "--parameter", f"OxrAppIdSecretArn={ARN.format('oxr-app-id')}"]
ALERTS = ["--parameter", "AlertEmail=ops@example.com"]
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`deploy` against the moto server as against an AWS account: every check a real endpoint gets is made."""
    monkeypatch.setattr("workbench.deploy.deployer.is_local_endpoint", lambda endpoint: False)

    def run(stack: str, *args: str) -> Any:
        command = ["deploy", "--stack", stack, "--endpoint-url", moto_endpoint, "--region", "us-east-1", *args]
        return CliRunner(env=MOTO_ENV).invoke(app, [*command, "--out", str(tmp_path / "build")])

    return run


@pytest.fixture
def aws(moto_endpoint: str) -> Any:
    def client(name: str) -> Any:
        return boto3.client(
            name, endpoint_url=moto_endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    return client


def parameters(aws: Any, stack: str) -> dict[str, str]:
    [found] = aws("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 4, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("created_with", "mode"),
    [([*LIVE, *ALERTS], "live"), ([*SECRETS, "--parameter", "Mode=simulated"], "simulated")],
    ids=["live-with-alerts", "simulated"],
)
def test_an_update_keeps_the_values_the_stack_has_and_its_checks_see_them(
    created_with: list[str], mode: str, account: Any, aws: Any
) -> None:
    stack = f"mdp-update-{mode}"
    created = account(stack, *created_with, "--parameter", f"BucketName={stack}-data")
    assert created.exit_code == 0, created.output

    # WHEN the stack is updated with one parameter only
    updated = account(stack, "--parameter", "CmcTopN=5")

    # THEN no check asks again for what the stack has, and the stack keeps it
    assert updated.exit_code == 0, updated.output
    values = parameters(aws, stack)
    assert values["CmcTopN"] == "5" and values["Mode"] == mode and values["BucketName"] == f"{stack}-data"
    assert values["SnowflakeSecretArn"] == ARN.format("snowflake")
    if mode == "live":
        assert values["AlertEmail"] == "ops@example.com"

    # ... and a value given empties what the stack had: the checks see that too
    output = one_line(account(stack, "--parameter", "SnowflakeSecretArn="))
    assert "--parameter SnowflakeSecretArn=<secret ARN>" in output
    assert parameters(aws, stack)["SnowflakeSecretArn"] == ARN.format("snowflake")


def test_a_bucket_name_kept_by_a_deleted_stack_is_refused_saying_what_to_do(account: Any, aws: Any) -> None:
    stack, bucket = "mdp-retained", "mdp-retained-data"
    simulated = [*SECRETS, "--parameter", "Mode=simulated", "--parameter", f"BucketName={bucket}"]
    assert account(stack, *simulated).exit_code == 0
    assert account(stack, "--delete").exit_code == 0
    aws("s3").head_bucket(Bucket=bucket)  # retained

    output = one_line(account(stack, *simulated))

    assert f"bucket {bucket} exists in this account" in output
    assert "another --parameter BucketName=" in output and "docs/deploy.md" in output
    with pytest.raises(aws("cloudformation").exceptions.ClientError):
        aws("cloudformation").describe_stacks(StackName=stack)  # nothing was created
    # ... and another name deploys
    again = account(stack, *simulated[:-2], "--parameter", "BucketName=mdp-retained-data-2")
    assert again.exit_code == 0, again.output


def test_a_first_create_that_never_ran_names_the_delete_and_then_deploys(account: Any, aws: Any) -> None:
    stack = "mdp-review"
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    aws("cloudformation").create_change_set(
        StackName=stack, ChangeSetName="never-run", ChangeSetType="CREATE", TemplateBody=json.dumps(template)
    )
    simulated = [*SECRETS, "--parameter", "Mode=simulated"]

    output = one_line(account(stack, *simulated))

    assert "REVIEW_IN_PROGRESS" in output and f"python -m pipeline deploy --stack {stack} --delete" in output
    deleted = account(stack, "--delete")
    assert deleted.exit_code == 0, deleted.output
    created = account(stack, *simulated)
    assert created.exit_code == 0, created.output
