"""`deploy` against a moto server: the stack is created through a change set with the resources the template
declares, routes an event to the right queue, updates on a changed parameter, and is deleted.

moto cannot check everything; what stays unverified is listed in docs/deploy.md.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from pipeline.contracts import Event
from pipeline.registry import source_ids
from workbench.cloudformation.template import TEMPLATE_PATH, load_template
from workbench.deploy.build import Build
from workbench.deploy.deployed import DeployedStack
from workbench.deploy.deployer import DeployError, delete_pipeline, deploy_pipeline
from workbench.deploy.functions import all_functions

from .conftest import make_build

SOURCES = source_ids()

pytestmark = pytest.mark.stack

STACK = "mdp-deploy-test"
CAMEL = {"yahoo_finance": "YahooFinance", "coinmarketcap": "CoinMarketCap", "openexchangerates": "OpenExchangeRates"}
TEMPLATE = load_template(TEMPLATE_PATH)
DEFAULTS = {name: spec.get("Default") for name, spec in TEMPLATE["Parameters"].items()}


def _console() -> Console:
    return Console(quiet=True)


@pytest.fixture(scope="module")
def clients(moto_endpoint: str, moto_session: boto3.session.Session) -> dict[str, Any]:
    names = ("cloudformation", "s3", "sns", "sqs", "lambda", "events")
    return {name: moto_session.client(name, endpoint_url=moto_endpoint) for name in names}


@pytest.fixture(scope="module")
def outputs(moto_endpoint: str, moto_session: boto3.session.Session, tiny_build: Build) -> dict[str, str]:
    return deploy_pipeline(
        STACK,
        tiny_build,
        session=moto_session,
        template=TEMPLATE_PATH,
        endpoint_url=moto_endpoint,
        parameters={"BucketName": "mdp-deploy-test-data", "Mode": "simulated"},
        console=_console(),
        poll_seconds=0.05,
    )


def _stack(clients: dict[str, Any]) -> dict[str, Any]:
    return clients["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]


def _parameter(clients: dict[str, Any], name: str) -> str:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(clients)["Parameters"]}[name]


def test_the_stack_is_created_with_the_artifacts_uploaded(outputs: dict[str, str], clients: dict[str, Any]) -> None:
    assert _stack(clients)["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["BucketName"] == "mdp-deploy-test-data"
    bucket = _parameter(clients, "ArtifactBucket")
    assert bucket == "market-data-pipeline-artifacts-123456789012-us-east-1"
    layer_keys = [k for k in TEMPLATE["Parameters"] if k.startswith("LayerKey")]
    assert len(layer_keys) == 6
    for key_parameter in ["CodeKey", *layer_keys]:
        key = _parameter(clients, key_parameter)
        assert key.startswith("artifacts/") and key != DEFAULTS[key_parameter]
        clients["s3"].head_object(Bucket=bucket, Key=key)  # uploaded


@pytest.mark.parametrize("source", SOURCES)
def test_queues_are_fifo_with_redrive_to_their_dead_letter_queue(
    source: str, outputs: dict[str, str], clients: dict[str, Any]
) -> None:
    sqs, camel = clients["sqs"], CAMEL[source]
    queue = sqs.get_queue_attributes(QueueUrl=outputs[f"{camel}QueueUrl"], AttributeNames=["All"])["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=outputs[f"{camel}DeadLetterQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert queue["FifoQueue"] == "true" and dead["FifoQueue"] == "true"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": int(DEFAULTS["MaxReceiveCount"]),
    }


@pytest.mark.parametrize("source", SOURCES)
def test_each_queue_is_subscribed_with_its_filter_policy_and_raw_delivery(
    source: str, outputs: dict[str, str], clients: dict[str, Any]
) -> None:
    sns = clients["sns"]
    queue_arn = outputs[f"{CAMEL[source]}QueueArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["EventTopicArn"])["Subscriptions"]
    [subscription] = [s for s in subscriptions if s["Endpoint"] == queue_arn]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert json.loads(attributes["FilterPolicy"]) == {"source": [source]}
    assert attributes["RawMessageDelivery"] == "true"


@pytest.mark.parametrize("source", SOURCES)
def test_ingest_functions_are_scheduled_and_process_functions_read_their_queue(
    source: str, outputs: dict[str, str], clients: dict[str, Any]
) -> None:
    camel, lam, events = CAMEL[source], clients["lambda"], clients["events"]
    ingest = lam.get_function_configuration(FunctionName=outputs[f"Ingest{camel}FunctionName"])
    process = lam.get_function_configuration(FunctionName=outputs[f"Process{camel}FunctionName"])
    assert (ingest["Handler"], ingest["Runtime"]) == (f"pipeline.handlers.ingest.{source}", "python3.13")
    assert (process["Handler"], process["Runtime"]) == (f"pipeline.handlers.process.{source}", "python3.13")
    assert ingest["Environment"]["Variables"]["PIPELINE_MODE"] == "simulated"

    rule = events.describe_rule(Name=outputs[f"{camel}ScheduleRuleName"])
    assert rule["ScheduleExpression"] == DEFAULTS[f"{camel}Schedule"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == ingest["FunctionArn"]

    [mapping] = lam.list_event_source_mappings(FunctionName=process["FunctionName"])["EventSourceMappings"]
    assert mapping["EventSourceArn"] == outputs[f"{camel}QueueArn"]
    assert mapping["BatchSize"] == int(DEFAULTS["BatchSize"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_an_event_published_on_the_topic_reaches_only_its_source_queue(
    outputs: dict[str, str], clients: dict[str, Any]
) -> None:
    # GIVEN the deployed topology
    sns, sqs = clients["sns"], clients["sqs"]
    body = {"bucket": outputs["BucketName"], "key": "raw/coinmarketcap/2026/01/02/0304.csv", "source": "coinmarketcap"}

    # WHEN an ingest function's event for coinmarketcap is published
    sns.publish(
        TopicArn=outputs["EventTopicArn"],
        Message=json.dumps(body),
        MessageGroupId="coinmarketcap",
        MessageDeduplicationId=uuid.uuid4().hex,
        MessageAttributes={"source": {"DataType": "String", "StringValue": "coinmarketcap"}},
    )

    # THEN the coinmarketcap queue has it, raw, and the other queues stay empty
    received = sqs.receive_message(QueueUrl=outputs["CoinMarketCapQueueUrl"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in received.get("Messages", [])] == [body]
    for other in ("YahooFinance", "OpenExchangeRates"):
        assert "Messages" not in sqs.receive_message(QueueUrl=outputs[f"{other}QueueUrl"], MaxNumberOfMessages=10)


def test_the_deployed_stack_reads_back_its_topology(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session
) -> None:
    deployed = DeployedStack.connect(STACK, moto_session, moto_endpoint)

    functions = {row["function"]: row for row in deployed.functions()}
    assert sorted(functions) == sorted(f"{STACK}-{f.name}" for f in all_functions())
    assert functions[f"{STACK}-process-coinmarketcap"]["handler"] == "pipeline.handlers.process.coinmarketcap"

    queues = {row["queue"]: row for row in deployed.queues()}
    for source in SOURCES:
        queue = queues[f"{STACK}-{source}.fifo"]
        assert (queue["fifo"], queue["dead-letter queue"], queue["max receives"]) == (
            True, f"{STACK}-{source}-dlq.fifo", int(DEFAULTS["MaxReceiveCount"]),
        )  # fmt: skip
        assert queues[f"{STACK}-{source}-dlq.fifo"]["fifo"] is True

    subscriptions = sorted(
        (row["queue"], row["filter policy"], row["raw delivery"])
        for row in deployed.subscriptions(outputs["EventTopicArn"])
    )
    assert subscriptions == sorted((f"{STACK}-{s}.fifo", {"source": [s]}, True) for s in SOURCES)

    schedules = {row["invokes"]: (row["schedule"], row["state"]) for row in deployed.schedules()}
    assert schedules == {
        **{f"{STACK}-ingest-{s}": ("rate(1 minute)", "ENABLED") for s in SOURCES},
        **{f"{STACK}-redrive-{s}": ("rate(5 minutes)", "ENABLED") for s in SOURCES},
        f"{STACK}-compact-coinmarketcap": ("rate(1 hour)", "ENABLED"),
    }

    mappings = {row["queue"]: (row["function"], row["responses"]) for row in deployed.mappings()}
    assert mappings == {f"{STACK}-{s}.fifo": (f"{STACK}-process-{s}", "ReportBatchItemFailures") for s in SOURCES}


def test_an_event_routed_through_the_deployed_stack_reaches_its_source_queue_alone(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session
) -> None:
    deployed = DeployedStack.connect(STACK, moto_session, moto_endpoint)
    event = Event(
        bucket=outputs["BucketName"], key="raw/openexchangerates/2026/01/02/0300.csv", source="openexchangerates",
        scheduled_at="2026-01-02T03:00:00Z", rows=170,
    )  # fmt: skip

    received = deployed.route(outputs["EventTopicArn"], event, etag=uuid.uuid4().hex)

    assert received == {"yahoo_finance": [], "coinmarketcap": [], "openexchangerates": [event.model_dump()]}


def test_a_redeploy_without_changes_changes_nothing(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session, tiny_build: Build,
    clients: dict[str, Any],
) -> None:  # fmt: skip
    before = clients["cloudformation"].describe_stack_events(StackName=STACK)["StackEvents"]
    again = deploy_pipeline(
        STACK, tiny_build, session=moto_session, template=TEMPLATE_PATH, endpoint_url=moto_endpoint,
        console=_console(), poll_seconds=0.05,
    )  # fmt: skip
    after = clients["cloudformation"].describe_stack_events(StackName=STACK)["StackEvents"]
    assert again == outputs and len(after) == len(before)
    subscriptions = clients["sns"].list_subscriptions_by_topic(TopicArn=outputs["EventTopicArn"])["Subscriptions"]
    assert len(subscriptions) == 3  # not subscribed twice


def test_a_changed_parameter_and_new_code_update_the_stack(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session, clients: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    # GIVEN new code and a new memory size for the ingest functions
    new_build = make_build(tmp_path, version="2")
    function = outputs["IngestCoinMarketCapFunctionName"]
    memory = int(DEFAULTS["IngestMemorySize"]) + 512
    assert clients["lambda"].get_function_configuration(FunctionName=function)["MemorySize"] != memory

    # WHEN deployed again
    deploy_pipeline(
        STACK, new_build, session=moto_session, template=TEMPLATE_PATH, endpoint_url=moto_endpoint,
        parameters={"IngestMemorySize": str(memory)}, console=_console(), poll_seconds=0.05,
    )  # fmt: skip

    # THEN the stack is updated: the parameter and the code key changed, earlier parameters kept their values
    assert _stack(clients)["StackStatus"] == "UPDATE_COMPLETE"
    assert _parameter(clients, "IngestMemorySize") == str(memory)
    assert _parameter(clients, "CodeKey") == new_build.code.s3_key
    assert _parameter(clients, "Mode") == "simulated"
    configuration = clients["lambda"].get_function_configuration(FunctionName=function)
    assert configuration["MemorySize"] == memory
    assert configuration["CodeSha256"]  # the new code was read from the artifact bucket


def test_an_unknown_parameter_is_one_clear_error(
    moto_endpoint: str, moto_session: boto3.session.Session, tiny_build: Build
) -> None:
    with pytest.raises(DeployError, match="the template has no parameter MaxRecieveCount"):
        deploy_pipeline(
            STACK, tiny_build, session=moto_session, template=TEMPLATE_PATH, endpoint_url=moto_endpoint,
            parameters={"MaxRecieveCount": "5"}, console=_console(),
        )  # fmt: skip


def test_delete_removes_the_stack_and_keeps_the_data_bucket(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session, clients: dict[str, Any]
) -> None:
    assert delete_pipeline(STACK, session=moto_session, endpoint_url=moto_endpoint, console=_console())
    with pytest.raises(ClientError, match="does not exist"):
        clients["cloudformation"].describe_stacks(StackName=STACK)
    queues = clients["sqs"].list_queues(QueueNamePrefix=STACK).get("QueueUrls", [])
    assert queues == []
    clients["s3"].head_bucket(Bucket=outputs["BucketName"])  # RetainExceptOnCreate (Retain for moto)
    # deleting again is not an error
    assert not delete_pipeline(STACK, session=moto_session, endpoint_url=moto_endpoint, console=_console())


def test_a_stack_whose_bucket_is_taken_is_refused_in_one_line_before_anything_is_created(
    outputs: dict[str, str], moto_endpoint: str, moto_session: boto3.session.Session, tiny_build: Build
) -> None:
    from workbench.deploy.preflight import PreflightError

    # GIVEN the data bucket a deleted stack retained (DeletionPolicy: Retain)
    retained = "mdp-deploy-test-data"
    # WHEN another stack is deployed with the same BucketName
    with pytest.raises(PreflightError) as failure:
        deploy_pipeline(
            "mdp-deploy-test-again", tiny_build, session=moto_session, template=TEMPLATE_PATH,
            endpoint_url=moto_endpoint, parameters={"BucketName": retained}, console=_console(), poll_seconds=0.05,
        )  # fmt: skip
    # THEN one line says which bucket and what to type, and no stack was created
    message = str(failure.value)
    assert message.startswith(f"bucket {retained} exists in this account") and "--parameter BucketName=" in message
    assert "\n" not in message
    stacks = moto_session.client("cloudformation", endpoint_url=moto_endpoint).list_stacks()["StackSummaries"]
    assert "mdp-deploy-test-again" not in {s["StackName"] for s in stacks}


def test_a_template_over_the_inline_limit_goes_through_the_artifact_bucket(
    clients: dict[str, Any], tmp_path: Path
) -> None:
    from workbench.deploy.deployer import TEMPLATE_BODY_LIMIT, Deployer

    deployer = Deployer("big", clients["cloudformation"], clients["s3"], "us-east-1", _console())
    bucket = "mdp-artifacts-for-template"
    deployer.ensure_bucket(bucket)
    small, big = tmp_path / "small.yaml", tmp_path / "big.yaml"
    small.write_text("Resources: {}\n")
    big.write_text("Description: " + "x" * TEMPLATE_BODY_LIMIT + "\nResources: {}\n")

    assert deployer.template_source(bucket, small) == {"TemplateBody": "Resources: {}\n"}
    source = deployer.template_source(bucket, big)
    assert source == {"TemplateURL": f"https://{bucket}.s3.us-east-1.amazonaws.com/templates/big/big.yaml"}
    stored = clients["s3"].get_object(Bucket=bucket, Key="templates/big/big.yaml")["Body"].read()
    assert stored == big.read_bytes()
