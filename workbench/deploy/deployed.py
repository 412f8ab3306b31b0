"""What a deployed stack holds, read back from the services (not from the template): its functions, queues,
subscriptions, schedules and event source mappings, one row per resource; and an event routed through it.

The notebook on deploying and the deploy tests read a stack through this, on the local emulator or in AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from pipeline.constants import SOURCE_ATTRIBUTE
from pipeline.contracts import Event
from pipeline.events import publish

FUNCTION: Final = "AWS::Lambda::Function"
QUEUE: Final = "AWS::SQS::Queue"
RULE: Final = "AWS::Events::Rule"
MAPPING: Final = "AWS::Lambda::EventSourceMapping"


def _name(arn: str) -> str:
    """The last part of an ARN: a queue's or a function's name."""
    return arn.rsplit(":", 1)[-1]


@dataclass
class DeployedStack:
    """One stack's resources, through the clients of a boto3 session (pass `endpoint_url` for the emulator)."""

    name: str
    cloudformation: Any
    sqs: Any
    sns: Any
    lambda_: Any
    events: Any

    @classmethod
    def connect(cls, name: str, session: Any, endpoint_url: str | None = None) -> DeployedStack:
        from pipeline.aws import session_client

        services = ("cloudformation", "sqs", "sns", "lambda", "events")
        return cls(name, *(session_client(session, service, endpoint_url) for service in services))

    def physical_ids(self, resource_type: str) -> list[str]:
        """Physical ids of the stack's resources of one type, in the stack's order."""
        pages = self.cloudformation.get_paginator("list_stack_resources").paginate(StackName=self.name)
        return [
            r["PhysicalResourceId"]
            for page in pages
            for r in page["StackResourceSummaries"]
            if r.get("ResourceType") == resource_type and r.get("PhysicalResourceId")
        ]

    def functions(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.physical_ids(FUNCTION):
            config = self.lambda_.get_function_configuration(FunctionName=name)
            rows.append({
                "function": name,
                "handler": config["Handler"],
                "runtime": config["Runtime"],
                "memory MB": config["MemorySize"],
                "timeout s": config["Timeout"],
                "layers": len(config.get("Layers", [])),
            })  # fmt: skip
        return rows

    def queues(self) -> list[dict[str, Any]]:
        """Each queue: FIFO or not, and where its redrive policy sends a message after how many receives."""
        rows = []
        for url in self.physical_ids(QUEUE):
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
            rows.append({
                "queue": url.rsplit("/", 1)[-1],
                "fifo": attributes.get("FifoQueue") == "true",
                "dead-letter queue": _name(redrive["deadLetterTargetArn"]) if redrive else "",
                "max receives": int(redrive["maxReceiveCount"]) if redrive else None,
                "visibility s": int(attributes.get("VisibilityTimeout", 0)),
            })  # fmt: skip
        return rows

    def subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        """The topic's subscriptions: which queue, with which filter policy, raw delivery or not."""
        rows = []
        for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for subscription in page["Subscriptions"]:
                arn = subscription["SubscriptionArn"]
                attributes = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                rows.append({
                    "queue": _name(subscription["Endpoint"]),
                    "protocol": subscription["Protocol"],
                    "filter policy": json.loads(attributes.get("FilterPolicy", "{}")),
                    "raw delivery": attributes.get("RawMessageDelivery") == "true",
                })  # fmt: skip
        return rows

    def schedules(self) -> list[dict[str, Any]]:
        """Each EventBridge rule: its schedule, whether it is enabled, and the function it invokes."""
        rows = []
        for name in self.physical_ids(RULE):
            rule = self.events.describe_rule(Name=name)
            targets = self.events.list_targets_by_rule(Rule=name)["Targets"]
            rows.append({
                "rule": name,
                "schedule": rule.get("ScheduleExpression", ""),
                "state": rule["State"],
                "invokes": ", ".join(_name(t["Arn"]) for t in targets),
            })  # fmt: skip
        return rows

    def mappings(self) -> list[dict[str, Any]]:
        """Each SQS event source mapping: which queue feeds which function, in batches of how many."""
        rows = []
        for uuid in self.physical_ids(MAPPING):
            mapping = self.lambda_.get_event_source_mapping(UUID=uuid)
            rows.append({
                "queue": _name(mapping["EventSourceArn"]),
                "function": _name(mapping["FunctionArn"]),
                "batch size": mapping["BatchSize"],
                "responses": ", ".join(mapping.get("FunctionResponseTypes", [])),
            })  # fmt: skip
        return rows

    def source_queues(self, topic_arn: str) -> dict[str, str]:
        """{source: queue URL}, read from the subscriptions' filter policies (`{"source": [<source>]}`)."""
        found: dict[str, str] = {}
        for row in self.subscriptions(topic_arn):
            for source in row["filter policy"].get(SOURCE_ATTRIBUTE, []):
                found[source] = self.sqs.get_queue_url(QueueName=row["queue"])["QueueUrl"]
        return found

    def route(self, topic_arn: str, event: Event, etag: str) -> dict[str, list[dict[str, Any]]]:
        """Publish `event` on the topic as an ingest function does, then take what reached each source's queue:
        {source: the message bodies received (and deleted)}."""
        queues = self.source_queues(topic_arn)
        publish(self.sns, topic_arn, event, etag)
        received: dict[str, list[dict[str, Any]]] = {}
        for source, url in sorted(queues.items()):
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            received[source] = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
            for message in messages.get("Messages", []):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return received
