"""The pipeline's S3/SNS/SQS topology, created on a moto server from what the CloudFormation template declares.

moto's own CloudFormation skips `AWS::SNS::Subscription` and `AWS::SQS::QueuePolicy`, so the local stack does not
deploy the template: it walks the template's buckets, topics, queues (with their redrive policies), subscriptions
(filter policy, raw delivery) and queue policies, resolves Ref/GetAtt between them, and makes the same calls
CloudFormation would. Every other resource type (functions, rules, alarms...) is run by the local runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Final

from pipeline.constants import SourceId
from pipeline.registry import source_ids
from workbench.cloudformation.template import Template, TemplateError

BUCKET: Final = "AWS::S3::Bucket"
TOPIC: Final = "AWS::SNS::Topic"
QUEUE: Final = "AWS::SQS::Queue"
SUBSCRIPTION: Final = "AWS::SNS::Subscription"
QUEUE_POLICY: Final = "AWS::SQS::QueuePolicy"
BUILT_TYPES: Final = (BUCKET, TOPIC, QUEUE, SUBSCRIPTION, QUEUE_POLICY)

# moto accepts any credentials; these are the conventional dummy ones.
LOCAL_CREDENTIALS: Final = "testing"

# Tags on every queue in the template: which source it serves, and whether it is the dead-letter queue.
SOURCE_TAG: Final = "pipeline:source"
ROLE_TAG: Final = "pipeline:role"
DEAD_LETTER_ROLE: Final = "dead-letter"

# CloudFormation properties of AWS::SQS::Queue that are SQS queue attributes of the same name.
_QUEUE_ATTRIBUTES: Final = (
    "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit", "DelaySeconds",
    "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout",
    "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
)  # fmt: skip
_TOPIC_ATTRIBUTES: Final = ("FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId", "DisplayName")
# CloudFormation properties of AWS::SNS::Subscription that are subscription attributes of the same name, the
# scope before the filter policy (set one by one, the policy is checked against the scope in place).
_SUBSCRIPTION_ATTRIBUTES: Final = ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy")


@dataclass
class Topology:
    """What was created: names and URLs by source, and every logical id's physical id."""

    bucket: str
    topic_arn: str
    queues: dict[str, str] = field(default_factory=dict)  # source -> queue URL
    queue_arns: dict[str, str] = field(default_factory=dict)  # source -> queue ARN
    dead_letter_queues: dict[str, str] = field(default_factory=dict)  # source -> DLQ URL
    subscriptions: dict[str, str] = field(default_factory=dict)  # source -> subscription ARN
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    outputs: dict[str, Any] = field(default_factory=dict)  # the template's Outputs that resolve locally

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Topology:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def attribute_value(value: Any) -> str:
    """A CloudFormation value as an SQS/SNS attribute string (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def subscription_attributes(props: Mapping[str, Any]) -> dict[str, str]:
    """The attributes of a subscription (raw delivery, filter policy...) from its resolved properties."""
    return {key: attribute_value(props[key]) for key in _SUBSCRIPTION_ATTRIBUTES if key in props}


def set_queue_policy(sqs: Any, props: Mapping[str, Any]) -> None:
    """What CloudFormation does for an AWS::SQS::QueuePolicy: its document on each of its queues."""
    document = json.dumps(props["PolicyDocument"])
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})


def _tags(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags", [])}


def redrive_policy(properties: Mapping[str, Any]) -> dict[str, Any] | None:
    """A queue's RedrivePolicy as SQS reports it (maxReceiveCount a number)."""
    policy = properties.get("RedrivePolicy")
    if policy is None:
        return None
    if isinstance(policy, str):
        policy = json.loads(policy)
    return {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}


def build_order(template: Template) -> list[str]:
    """Logical ids of the resources the local stack creates, each after those it refers to."""
    built = {logical_id for logical_id, _ in template.resources(*BUILT_TYPES)}
    graph = {logical_id: template.dependencies(logical_id) & built for logical_id in built}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise TemplateError(f"the template's resources refer to each other in a cycle: {exc.args[1]}") from exc
    position = {logical_id: i for i, logical_id in enumerate(template.body["Resources"])}
    # Stable for a reader: template order wherever the dependencies allow it.
    return sorted(order, key=lambda lid: (_depth(lid, graph), position[lid]))


def _depth(logical_id: str, graph: Mapping[str, set[str]]) -> int:
    deps = graph[logical_id]
    return 0 if not deps else 1 + max(_depth(d, graph) for d in deps)


class TopologyBuilder:
    """Creates the template's buckets, topics, queues, subscriptions and queue policies with boto3 clients."""

    def __init__(self, template: Template, s3: Any, sns: Any, sqs: Any) -> None:
        self.template = template
        self.s3, self.sns, self.sqs = s3, sns, sqs

    def build(self) -> Topology:
        create = {
            BUCKET: self._bucket,
            TOPIC: self._topic,
            QUEUE: self._queue,
            SUBSCRIPTION: self._subscription,
            QUEUE_POLICY: self._queue_policy,
        }
        for logical_id in build_order(self.template):
            kind = self.template.body["Resources"][logical_id]["Type"]
            create[kind](logical_id, self.template.properties(logical_id))
        return self.describe()

    # -- one method per resource type -------------------------------------------------------------------
    def _bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("BucketName")
        if not name:
            raise TemplateError(f"{logical_id}: the local stack needs a bucket name (parameter BucketName)")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.template.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.template.region}
        self.s3.create_bucket(**kwargs)
        if encryption := props.get("BucketEncryption"):
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
            self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if block := props.get("PublicAccessBlockConfiguration"):
            self.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
        if versioning := props.get("VersioningConfiguration"):
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        if lifecycle := props.get("LifecycleConfiguration"):
            rules = [_lifecycle_rule(rule) for rule in lifecycle["Rules"]]
            self.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        self.template.physical[logical_id] = name
        self.template.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        self.template.attributes[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"

    def _topic(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or f"{self.template.stack_name}-{logical_id}"
        attributes = {key: attribute_value(props[key]) for key in _TOPIC_ATTRIBUTES if key in props}
        tags = [{"Key": k, "Value": v} for k, v in _tags(props).items()]
        arn = self.sns.create_topic(Name=name, Attributes=attributes, **({"Tags": tags} if tags else {}))["TopicArn"]
        self.template.physical[logical_id] = arn
        self.template.attributes[(logical_id, "TopicArn")] = arn
        self.template.attributes[(logical_id, "TopicName")] = name

    def _queue(self, logical_id: str, props: dict[str, Any]) -> None:
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or f"{self.template.stack_name}-{logical_id}" + (".fifo" if fifo else "")
        attributes: dict[str, str] = {key: attribute_value(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        if (policy := redrive_policy(props)) is not None:
            attributes["RedrivePolicy"] = json.dumps(policy)
        if "RedriveAllowPolicy" in props:
            attributes["RedriveAllowPolicy"] = attribute_value(props["RedriveAllowPolicy"])
        tags = _tags(props)
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes, **({"tags": tags} if tags else {}))[
            "QueueUrl"
        ]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.template.physical[logical_id] = url
        self.template.attributes[(logical_id, "Arn")] = arn
        self.template.attributes[(logical_id, "QueueName")] = name
        self.template.attributes[(logical_id, "QueueUrl")] = url

    def _subscription(self, logical_id: str, props: dict[str, Any]) -> None:
        arn = self.sns.subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=subscription_attributes(props),
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self.template.physical[logical_id] = arn

    def _queue_policy(self, logical_id: str, props: dict[str, Any]) -> None:
        set_queue_policy(self.sqs, props)
        self.template.physical[logical_id] = logical_id

    # -- what was built ---------------------------------------------------------------------------------
    def describe(self) -> Topology:
        """The created topology, by source (from the queues' tags and the subscriptions' filter policies)."""
        template = self.template
        buckets = [lid for lid, _ in template.resources(BUCKET)]
        topics = [lid for lid, _ in template.resources(TOPIC)]
        if len(buckets) != 1 or len(topics) < 1:
            raise TemplateError("the template must declare exactly one bucket and at least one topic")
        topology = Topology(
            bucket=template.physical[buckets[0]],
            topic_arn=template.physical[_event_topic(template, topics)],
            resources={lid: str(pid) for lid, pid in template.physical.items()},
        )
        for logical_id, _ in template.resources(QUEUE):
            tags = _tags(template.properties(logical_id))
            source = tags.get(SOURCE_TAG)
            if source is None:
                continue
            if tags.get(ROLE_TAG) == DEAD_LETTER_ROLE:
                topology.dead_letter_queues[source] = template.physical[logical_id]
            else:
                topology.queues[source] = template.physical[logical_id]
                topology.queue_arns[source] = template.attributes[(logical_id, "Arn")]
        for logical_id, _ in template.resources(SUBSCRIPTION):
            for source in subscription_sources(template.properties(logical_id)):
                topology.subscriptions[source] = template.physical[logical_id]
        topology.outputs = template.outputs()
        missing = [s for s in source_ids() if s not in topology.queues or s not in topology.dead_letter_queues]
        if missing:
            raise TemplateError(f"the template declares no queue or dead-letter queue for: {', '.join(missing)}")
        return topology


def _event_topic(template: Template, topics: list[str]) -> str:
    """The topic the subscriptions hang off (the template may also declare an alert topic)."""
    subscribed = {
        str(template.body["Resources"][lid]["Properties"]["TopicArn"].get("Ref"))
        for lid, _ in template.resources(SUBSCRIPTION)
        if isinstance(template.body["Resources"][lid]["Properties"].get("TopicArn"), dict)
    }
    fifo = [lid for lid in topics if lid in subscribed and template.properties(lid).get("FifoTopic")]
    if len(fifo) != 1:
        raise TemplateError(f"expected one FIFO topic with subscriptions, found {fifo or 'none'}")
    return fifo[0]


def subscription_sources(props: Mapping[str, Any]) -> list[SourceId]:
    """The sources a subscription's filter policy lets through (on the `source` attribute)."""
    policy = props.get("FilterPolicy") or {}
    if isinstance(policy, str):
        policy = json.loads(policy)
    return [s for s in policy.get("source", []) if s in source_ids()]


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of S3's PutBucketLifecycleConfiguration."""
    prefix = rule.get("Prefix", "")
    sizes = {k: int(rule[k]) for k in ("ObjectSizeGreaterThan", "ObjectSizeLessThan") if k in rule}
    selected: dict[str, Any] = {"And": {"Prefix": prefix, **sizes}} if sizes else {"Prefix": prefix}
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": selected}
    if "Transitions" in rule:
        out["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif rule.get("ExpiredObjectDeleteMarker"):
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return out


def build_topology(
    template: Template,
    *,
    endpoint_url: str,
    region: str,
) -> Topology:
    """Create the template's topology on the moto server at `endpoint_url` and describe it."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS, region_name=region
    )
    s3, sns, sqs = (session.client(name, endpoint_url=endpoint_url) for name in ("s3", "sns", "sqs"))
    return TopologyBuilder(template, s3, sns, sqs).build()
