"""The pipeline on the local stack with every function run from its built artifacts (python3.13, awslambdaric, a
sandbox per function): every minute reaches its sink and reconciles, each environment is initialised once and
reused, and the AWS calls the functions made match their roles (a permission taken away, or one added, shows)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.registry import source_ids
from workbench.cloudformation.template import Template
from workbench.deploy.functions import all_functions
from workbench.local.sandbox import iam
from workbench.local.sandbox.artifacts import PROJECT_ROOT
from workbench.local.sandbox.run import ArtifactsReport, bound_template, function_config, run_artifacts
from workbench.local.servers import LocalStack
from workbench.verify import verify

pytestmark = [pytest.mark.stack, pytest.mark.slow]

START = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York: every source has data
MINUTES = 3
LAST = START + timedelta(minutes=MINUTES - 1)
# 50 of the 503 symbols: this runs on a machine shared by many (the Snowflake stand-in is the slow part).
PARAMETERS = {"UniverseLimit": 50}

# Granted on purpose for what a short simulated run does not do. The state document of CoinMarketCap's API guard
# is used in API mode only (test_a_mode_with_a_secret_calls_nothing_its_role_denies runs it).
NOT_EXERCISED = {
    ("IngestCoinMarketCapRole", "s3:GetObject", "state/coinmarketcap_api.json"),
    ("IngestCoinMarketCapRole", "s3:PutObject", "state/coinmarketcap_api.json"),
}
# The process functions' failure paths, which a clean run never takes: a terminal error is quarantined
# (pipeline.quarantine), a transient one backs the message's visibility off (pipeline.handlers.process).
for _name, _source in (("YahooFinance", "yahoo_finance"), ("CoinMarketCap", "coinmarketcap"),
                       ("OpenExchangeRates", "openexchangerates")):  # fmt: skip
    _queue = f"market-data-pipeline-{_source}.fifo"
    NOT_EXERCISED |= {
        (f"Process{_name}Role", "s3:PutObject", f"quarantine/{_source}/*"),
        (f"Process{_name}Role", "sqs:GetQueueUrl", _queue),
        (f"Process{_name}Role", "sqs:ChangeMessageVisibility", _queue),
        (f"Process{_name}Role", "s3:ListBucket", ""),  # a raw object gone answers 404, not 403
    }
    # The scheduled redrive of a clean run finds its dead-letter queue empty (one GetQueueAttributes) and stops:
    # moving messages back and the sink's health probe are what it does after an outage.
    _dead = f"market-data-pipeline-{_source}-dlq.fifo"
    NOT_EXERCISED |= {
        (f"Redrive{_name}Role", "sqs:ReceiveMessage", _dead),
        (f"Redrive{_name}Role", "sqs:DeleteMessage", _dead),
        (f"Redrive{_name}Role", "sqs:ChangeMessageVisibility", _dead),
        (f"Redrive{_name}Role", "sqs:SendMessage", _queue),
    }
NOT_EXERCISED.add(("RedriveCoinMarketCapRole", "s3:ListBucket", ""))  # the Parquet sink's probe: a listing
# The hourly compaction of a short run finds no finished day (a day is merged an hour after it ends): it lists and
# stops. Merging a day (read, write, delete the minute objects) is tests/runtime/test_compaction_run.py's.
NOT_EXERCISED |= {
    ("CompactCoinMarketCapRole", action, "processed/coinmarketcap/*")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
}


def _key(finding: iam.Finding) -> tuple[str, str, str]:
    """(role, action, the object key pattern of an S3 resource or the name of another)."""
    resource = finding.resource
    if resource.startswith("arn:aws:s3:::"):
        return finding.role, finding.action, resource.removeprefix("arn:aws:s3:::").partition("/")[2]
    return finding.role, finding.action, resource.rsplit(":", 1)[-1]


@pytest.fixture(scope="module")
def artifacts_run(runtime_root_dir: Path, local_stack: LocalStack) -> Iterator[tuple[LocalStack, ArtifactsReport]]:
    saved = dict(os.environ)
    try:
        yield local_stack, run_artifacts(local_stack, MINUTES, START, parameters=PARAMETERS)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_minute_of_every_source_reaches_its_sink_and_reconciles(
    artifacts_run: tuple[LocalStack, ArtifactsReport],
) -> None:
    stack, report = artifacts_run
    for source in source_ids():
        stats = report.run.sources[source]
        assert len(stats.raw_keys) == MINUTES, source
        assert stats.rows_processed > 0, source
        assert (stats.ingest_errors, stats.dead_letters, stats.failed_deliveries) == ([], 0, 0), source
    assert report.ok, report.as_dict()
    checked = verify(stack.settings(), START, LAST)
    assert checked.ok, checked.as_dict()


def test_each_function_is_initialised_once_and_then_runs_warm(
    artifacts_run: tuple[LocalStack, ArtifactsReport],
) -> None:
    _, report = artifacts_run
    functions = report.as_dict()["functions"]
    assert sorted(functions) == sorted(f.name for f in all_functions())
    for name, f in functions.items():
        # the redrive functions run every five minutes (the template's RedriveSchedule), the compaction every hour
        # (CompactionSchedule): once in a short run
        assert f["invocations"] >= (1 if name.startswith(("redrive-", "compact-")) else MINUTES), name
        assert f["cold_starts"] == 1, name
        assert f["init_ms"]["n"] == 1 and f["init_ms"]["median"] > 0, name
        assert (f["warm_invocation_ms"] or {"n": 0})["n"] == f["invocations"] - 1, name  # none after one run
        assert f["errors"] == [], name
        assert 0 < f["max_memory_used_mb"] < f["memory_mb"], name


def test_no_function_calls_what_its_role_denies_and_every_permission_is_needed(
    artifacts_run: tuple[LocalStack, ArtifactsReport],
) -> None:
    _, report = artifacts_run
    assert all(report.calls.values()), "every function made AWS calls, and they were recorded"
    assert [str(f) for f in report.missing] == []
    # The Snowflake connector's platform detection (STS, cloud metadata endpoints) is off: no STS call at all.
    assert [c for calls in report.calls.values() for c in calls if c.action.startswith("sts:")] == []
    assert [str(f) for f in report.unused if _key(f) not in NOT_EXERCISED] == []


def _changed(report: ArtifactsReport, stack: LocalStack, change: Any) -> list[iam.Finding]:
    """The IAM check of the run's calls against the template with `change` made to its body."""
    body = copy.deepcopy(Template.load().body)
    change(body["Resources"])
    template = Template(body, parameters={"BucketName": stack.bucket, **PARAMETERS}, region=stack.region)
    reference = bound_template(stack, parameters=PARAMETERS)
    template.physical.update(reference.physical)
    template.attributes.update(reference.attributes)
    configs = {f.name: function_config(template, f) for f in all_functions()}
    return iam.check(template, configs, report.calls)


def _statements(resources: dict[str, Any], role: str) -> list[Any]:
    statements: list[Any] = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return statements


def test_a_permission_taken_away_is_reported_as_missing(artifacts_run: tuple[LocalStack, ArtifactsReport]) -> None:
    stack, report = artifacts_run

    def remove_publish(resources: dict[str, Any]) -> None:
        statements = _statements(resources, "IngestOpenExchangeRatesRole")
        statements[:] = [s for s in statements if s.get("Sid") != "PublishEvents"]

    missing = [f for f in _changed(report, stack, remove_publish) if f.kind == "missing"]
    assert {(f.function, f.action, f.resource) for f in missing} == {
        ("ingest-openexchangerates", "sns:Publish", stack.topic_arn)
    }


def test_a_permission_no_function_needs_is_reported_as_unused(
    artifacts_run: tuple[LocalStack, ArtifactsReport],
) -> None:
    stack, report = artifacts_run

    def add_delete(resources: dict[str, Any]) -> None:
        _statements(resources, "ProcessCoinMarketCapRole").append(
            {
                "Sid": "TidyRaw",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": {"Fn::Sub": "${DataBucket.Arn}/raw/coinmarketcap/*"},
            }
        )

    unused = [f for f in _changed(report, stack, add_delete) if f.kind == "unused" and _key(f) not in NOT_EXERCISED]
    assert [(f.role, f.action, f.detail) for f in unused] == [
        ("ProcessCoinMarketCapRole", "s3:DeleteObject", "statement TidyRaw")
    ]


def test_the_command_line_runs_the_artifacts_and_verify_reconciles(
    runtime_root_dir: Path, local_stack: LocalStack
) -> None:
    start = START + timedelta(minutes=30)
    env = {**os.environ, **local_stack.env(), "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "pipeline", "run", "--artifacts", "--minutes", "2", "--start", start.isoformat()]
    command += ["--source", "openexchangerates", "--json"]
    ran = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    report = json.loads(ran.stdout)
    for name in ("ingest-openexchangerates", "process-openexchangerates"):
        assert report["functions"][name]["init_ms"]["n"] == 1
        assert report["functions"][name]["warm_invocation_ms"]["n"] >= 1
    window = ["--from", start.isoformat(), "--to", (start + timedelta(minutes=1)).isoformat()]
    checked = subprocess.run(  # the run's own source: the others' minutes of this window were never run (absent)
        [sys.executable, "-m", "pipeline", "verify", "--source", "openexchangerates", *window],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


# The modes a user can deploy beyond the defaults, each run from the artifacts with its secret in the local Secrets
# Manager: the role must allow every call the mode makes (the state document of CoinMarketCap's API guard, the
# secret read by its ARN; the simulated rates need no app id, so that mode reads none).
SECRET_MODES = {
    "coinmarketcap-api": ("coinmarketcap", "CmcApiKeySecretArn", "state/coinmarketcap_api.json", True),
    "openexchangerates-app-id": ("openexchangerates", "OxrAppIdSecretArn", "state/openexchangerates.json", False),
}


@pytest.mark.parametrize("mode", sorted(SECRET_MODES))
def test_a_mode_with_a_secret_calls_nothing_its_role_denies(
    mode: str, runtime_root_dir: Path, local_stack: LocalStack
) -> None:
    from pipeline import aws

    source, parameter, state_key, reads_secret = SECRET_MODES[mode]
    secrets = aws.client("secretsmanager", local_stack.settings())
    arn = secrets.create_secret(Name=f"pipeline-{mode}", SecretString="k-local")["ARN"]
    saved = dict(os.environ)
    try:
        report = run_artifacts(
            local_stack, 2, START + timedelta(hours=1), sources=[source], parameters={**PARAMETERS, parameter: arn}
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ingest = report.calls[f"ingest-{source}"]
    assert (("secretsmanager:GetSecretValue", arn) in {(c.action, c.resource) for c in ingest}) is reads_secret
    assert any(c.action == "s3:PutObject" and c.resource.endswith(state_key) for c in ingest)
    assert [str(f) for f in report.missing] == []
