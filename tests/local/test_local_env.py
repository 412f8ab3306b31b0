"""`local env`: GIVEN the running local stack, WHEN a shell evals `python -m pipeline local env`, THEN a plain boto3
script (no project import, no credentials of its own) and the pipeline's own commands reach the stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import pytest

from workbench.cloudformation.topology import LOCAL_CREDENTIALS
from workbench.local.cli import export_lines
from workbench.local.servers import LocalStack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]

# Lists the bucket and the queues with boto3 alone: everything it needs must come from the environment.
PLAIN_SCRIPT = textwrap.dedent(
    """
    import json, os
    import boto3

    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=os.environ["PIPELINE_BUCKET"]).get("Contents", [])]
    queues = boto3.client("sqs").list_queues()["QueueUrls"]
    print(json.dumps({"keys": keys, "queues": queues, "region": s3.meta.region_name}))
    """
)


def bare_environment(local_dir: str, home: Path) -> dict[str, str]:
    """This machine's environment without any AWS or pipeline setting, and a HOME without ~/.aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIPELINE_", "BOTO"))}
    return env | {"HOME": str(home), "PIPELINE_LOCAL_DIR": local_dir}


def in_shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def test_after_eval_a_plain_boto3_script_lists_the_stacks_bucket_and_queues(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    key = f"scratch/{uuid.uuid4().hex}.txt"
    s3 = boto3.client(
        "s3",
        endpoint_url=local_stack.aws_endpoint_url,
        region_name=local_stack.region,
        aws_access_key_id=LOCAL_CREDENTIALS,
        aws_secret_access_key=LOCAL_CREDENTIALS,
    )
    s3.put_object(Bucket=local_stack.bucket, Key=key, Body=b"hello")
    (tmp_path / "plain.py").write_text(PLAIN_SCRIPT)
    try:
        result = in_shell(
            f'eval "$({sys.executable} -m pipeline local env)" && {sys.executable} {tmp_path / "plain.py"}',
            bare_environment(local_stack.local_dir, tmp_path),
        )

        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)
        assert key in listed["keys"]
        assert set(local_stack.queues.values()) <= set(listed["queues"])
        assert listed["region"] == local_stack.region
    finally:
        s3.delete_object(Bucket=local_stack.bucket, Key=key)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_after_eval_the_aws_cli_lists_the_stacks_topics_and_bucket(local_stack: LocalStack, tmp_path: Path) -> None:
    # (aws CLI v1's sqs commands ignore AWS_ENDPOINT_URL in us-east-1, aws/aws-cli#8737: the README says so)
    result = in_shell(
        f'eval "$({sys.executable} -m pipeline local env)" && aws sns list-topics --output json '
        '&& aws s3 ls "s3://$PIPELINE_BUCKET/" >/dev/null && echo listed',
        bare_environment(local_stack.local_dir, tmp_path),
    )

    assert result.returncode == 0, result.stderr
    topics, listed = result.stdout.rsplit("}", 1)
    assert local_stack.topic_arn in {t["TopicArn"] for t in json.loads(topics + "}")["Topics"]}
    assert listed.strip() == "listed"


def test_without_eval_the_same_script_finds_no_credentials(local_stack: LocalStack, tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(PLAIN_SCRIPT)
    # the endpoint, region and bucket alone, as a script built from `local status --json` used to have them
    reach = {"AWS_ENDPOINT_URL": local_stack.aws_endpoint_url, "AWS_DEFAULT_REGION": local_stack.region}
    env = bare_environment(local_stack.local_dir, tmp_path) | reach | {"PIPELINE_BUCKET": local_stack.bucket}
    result = in_shell(f"{sys.executable} {tmp_path / 'plain.py'}", env)

    assert result.returncode != 0
    assert "NoCredentialsError" in result.stderr


def test_the_pipelines_commands_use_the_exported_settings(local_stack: LocalStack, tmp_path: Path) -> None:
    # PIPELINE_TARGET=aws: the command reads only its environment, which the eval set, instead of the stack record
    env = bare_environment(str(tmp_path / "elsewhere"), tmp_path)
    exported = tmp_path / "stack.env"
    exported.write_text(
        in_shell(f"{sys.executable} -m pipeline local env", env | {"PIPELINE_LOCAL_DIR": local_stack.local_dir}).stdout
    )
    result = in_shell(
        f'eval "$(cat {exported})" && PIPELINE_TARGET=aws {sys.executable} -m pipeline verify --json '
        "--from 2001-01-01T00:00:00Z --to 2001-01-01T00:05:00Z",
        env,
    )

    # the stack's bucket and sinks were read: an empty window of a source that writes every minute is absent
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [s["source"] for s in report["sources"]] == ["yahoo_finance", "coinmarketcap", "openexchangerates"]
    assert [(s["error"], s["absent"]) for s in report["sources"]] == [("", 0), ("", 6), ("", 0)]


def test_status_json_carries_the_dummy_credentials(local_stack: LocalStack, tmp_path: Path) -> None:
    result = in_shell(
        f"{sys.executable} -m pipeline local status --json", bare_environment(local_stack.local_dir, tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["credentials"] == {
        "aws_access_key_id": LOCAL_CREDENTIALS,
        "aws_secret_access_key": LOCAL_CREDENTIALS,
    }


def test_env_fails_in_one_line_when_no_stack_runs(tmp_path: Path) -> None:
    result = in_shell(f"{sys.executable} -m pipeline local env", bare_environment(str(tmp_path), tmp_path))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "error: the local stack is not running: start it with `python -m pipeline local up`"


def test_export_lines_survive_a_shell_round_trip_whatever_the_value(tmp_path: Path) -> None:
    values = {"PIPELINE_LOCAL_DIR": '/tmp/a dir/it\'s "here" $HOME `x`', "PIPELINE_BUCKET": "plain"}
    script = export_lines(values) + 'printf "%s\\n%s" "$PIPELINE_LOCAL_DIR" "$PIPELINE_BUCKET"'
    result = in_shell(script, {"PATH": os.environ["PATH"]})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == [values["PIPELINE_LOCAL_DIR"], "plain"]
