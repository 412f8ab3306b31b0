"""The live local stack is what the CloudFormation template declares: same queues, redrive, subscriptions, bucket.

The expectations are read from the template here, and the live state from moto's APIs, so a change to either
that the other does not follow fails this test.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from workbench.cloudformation.template import Template
from workbench.local.servers import STACK_NAME, LocalStack

pytestmark = pytest.mark.stack

QUEUE_ATTRIBUTES = (
    "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled",
    "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize",
)  # fmt: skip


def _as_attribute(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@pytest.fixture(scope="module")
def live(local_stack: LocalStack) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=local_stack.region
    )
    return {name: session.client(name, endpoint_url=local_stack.aws_endpoint_url) for name in ("s3", "sns", "sqs")}


@pytest.fixture(scope="module")
def template(local_stack: LocalStack, live: dict[str, Any]) -> Template:
    """The template with the live physical ids of its queues and topics bound, found by their declared names."""
    template = Template.load(
        parameters={"BucketName": local_stack.bucket}, stack_name=STACK_NAME, region=local_stack.region
    )
    for logical_id, _ in template.resources("AWS::SQS::Queue"):
        name = template.resolve(template.body["Resources"][logical_id]["Properties"]["QueueName"])
        url = live["sqs"].get_queue_url(QueueName=name)["QueueUrl"]
        arn = live["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        template.physical[logical_id] = url
        template.attributes[(logical_id, "Arn")] = arn
    topics = {arn.rsplit(":", 1)[1]: arn for arn in (t["TopicArn"] for t in live["sns"].list_topics()["Topics"])}
    for logical_id, _ in template.resources("AWS::SNS::Topic"):
        name = template.resolve(template.body["Resources"][logical_id]["Properties"]["TopicName"])
        assert name in topics, f"topic {logical_id} ({name}) is declared but does not exist"
        template.physical[logical_id] = topics[name]
    for logical_id, _ in template.resources("AWS::S3::Bucket"):
        template.physical[logical_id] = local_stack.bucket
    return template


def test_every_declared_queue_exists_with_its_declared_attributes_and_redrive(
    template: Template, live: dict[str, Any]
) -> None:
    declared = list(template.resources("AWS::SQS::Queue"))
    assert len(declared) == 8  # a queue and a dead-letter queue per source, the ingest and event delivery DLQs
    for logical_id, _ in declared:
        props = template.properties(logical_id)
        attributes = live["sqs"].get_queue_attributes(QueueUrl=template.physical[logical_id], AttributeNames=["All"])[
            "Attributes"
        ]
        for key in QUEUE_ATTRIBUTES:
            if key in props:
                assert attributes[key] == _as_attribute(props[key]), f"{logical_id}.{key}"
        if "RedrivePolicy" in props:
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": props["RedrivePolicy"]["deadLetterTargetArn"],
                "maxReceiveCount": int(props["RedrivePolicy"]["maxReceiveCount"]),
            }, logical_id
        else:
            assert "RedrivePolicy" not in attributes, f"{logical_id} has a redrive policy the template does not declare"


def test_no_queue_exists_that_the_template_does_not_declare(template: Template, live: dict[str, Any]) -> None:
    declared = {template.physical[logical_id] for logical_id, _ in template.resources("AWS::SQS::Queue")}
    assert set(live["sqs"].list_queues().get("QueueUrls", [])) == declared


def test_every_subscription_has_the_declared_filter_policy_and_raw_delivery(
    template: Template, live: dict[str, Any]
) -> None:
    def shape(attributes: dict[str, Any]) -> tuple[Any, ...]:
        return (
            attributes["TopicArn"],
            attributes["Protocol"],
            attributes["Endpoint"],
            _as_attribute(attributes.get("RawMessageDelivery", False)),
            attributes.get("FilterPolicyScope", "MessageAttributes"),
            json.dumps(json.loads(attributes["FilterPolicy"]) if isinstance(attributes.get("FilterPolicy"), str)
                       else attributes.get("FilterPolicy"), sort_keys=True),
        )  # fmt: skip

    declared = sorted(shape(template.properties(lid)) for lid, _ in template.resources("AWS::SNS::Subscription"))
    existing = []
    for logical_id, _ in template.resources("AWS::SNS::Topic"):
        for subscription in live["sns"].list_subscriptions_by_topic(TopicArn=template.physical[logical_id])[
            "Subscriptions"
        ]:
            attributes = live["sns"].get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
            existing.append(shape(attributes["Attributes"]))
    assert len(declared) == 3
    assert sorted(existing) == declared


def test_every_topic_has_its_declared_fifo_and_deduplication_settings(template: Template, live: dict[str, Any]) -> None:
    for logical_id, _ in template.resources("AWS::SNS::Topic"):
        props = template.properties(logical_id)
        attributes = live["sns"].get_topic_attributes(TopicArn=template.physical[logical_id])["Attributes"]
        for key in ("FifoTopic", "ContentBasedDeduplication"):
            assert attributes.get(key, "false") == _as_attribute(props.get(key, False)), f"{logical_id}.{key}"


def test_queue_policies_let_only_the_declared_topic_send(template: Template, live: dict[str, Any]) -> None:
    for logical_id, _ in template.resources("AWS::SQS::QueuePolicy"):
        props = template.properties(logical_id)
        for url in props["Queues"]:
            policy = live["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
            assert json.loads(policy) == props["PolicyDocument"], logical_id


def test_the_bucket_is_encrypted_private_and_has_the_declared_lifecycle(
    template: Template, live: dict[str, Any]
) -> None:
    [(logical_id, _)] = template.resources("AWS::S3::Bucket")
    props, bucket = template.properties(logical_id), template.physical[logical_id]
    s3 = live["s3"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in encryption] == [
        r["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == props["PublicAccessBlockConfiguration"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {rule["Id"] for rule in props["LifecycleConfiguration"]["Rules"]}
    for rule in props["LifecycleConfiguration"]["Rules"]:
        made = rules[rule["Id"]]
        # (moto keeps the prefix of an And filter but drops its ObjectSizeGreaterThan: test_lifecycle_rule checks
        # what the local stack sends)
        selected = made["Filter"].get("And", made["Filter"])
        assert selected.get("Prefix", "") == rule.get("Prefix", "")
        if "ExpirationInDays" in rule:
            assert made["Expiration"]["Days"] == int(rule["ExpirationInDays"])
        if "NoncurrentVersionExpiration" in rule:
            assert made["NoncurrentVersionExpiration"]["NoncurrentDays"] == int(
                rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            )


def test_the_local_runtime_redrives_on_the_templates_schedule(local_stack: LocalStack, live: dict[str, Any]) -> None:
    from datetime import timedelta

    from workbench.cloudformation.template import load_template, rate_period, redrive_period
    from workbench.local.runtime import LocalRuntime

    expression = load_template()["Parameters"]["RedriveSchedule"]["Default"]
    runtime = LocalRuntime(live["sqs"], local_stack.queues, local_stack.dead_letter_queues)
    assert runtime.redrive_every == rate_period(expression) == redrive_period() == timedelta(minutes=5)
    assert rate_period("rate(2 hours)") == timedelta(hours=2) and rate_period("rate(1 day)") == timedelta(days=1)
    with pytest.raises(ValueError, match=r"cannot read schedule 'cron\(0/5 \* \* \* \? \*\)'"):
        rate_period("cron(0/5 * * * ? *)")


@pytest.mark.parametrize(
    ("rule", "selected"),
    [
        ({"Id": "a", "Status": "Enabled", "Prefix": "raw/"}, {"Prefix": "raw/"}),
        ({"Id": "a", "Status": "Enabled"}, {"Prefix": ""}),
        (
            {"Id": "a", "Status": "Enabled", "Prefix": "raw/", "ObjectSizeGreaterThan": "131072"},
            {"And": {"Prefix": "raw/", "ObjectSizeGreaterThan": 131072}},
        ),
        (
            {"Id": "a", "Status": "Enabled", "ObjectSizeGreaterThan": 131072, "ObjectSizeLessThan": 10**9},
            {"And": {"Prefix": "", "ObjectSizeGreaterThan": 131072, "ObjectSizeLessThan": 10**9}},
        ),
    ],
)
def test_lifecycle_rule_sends_the_size_filter_the_template_declares(
    rule: dict[str, Any], selected: dict[str, Any]
) -> None:
    from workbench.cloudformation.topology import _lifecycle_rule

    assert _lifecycle_rule(rule)["Filter"] == selected


def test_lifecycle_rule_sends_the_removal_of_expired_delete_markers() -> None:
    from workbench.cloudformation.topology import _lifecycle_rule

    rule = {"Id": "v", "Status": "Enabled", "Prefix": "", "ExpiredObjectDeleteMarker": True,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}  # fmt: skip
    made = _lifecycle_rule(rule)
    assert made["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert made["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
