"""What a deploy to the local moto server does differently, because moto's CloudFormation falls short.

moto's CloudFormation
- silently skips AWS::SNS::Subscription and AWS::SQS::QueuePolicy: after the stack is created or updated, the
  subscriptions (filter policy, raw delivery) and queue policies the template declares are made with the SNS and
  SQS APIs, from the template's own properties resolved against the stack's resources;
- ignores a function's `Layers` on create, returns an object instead of an ARN for `!Ref` of a layer version, and
  fails an update of a function that lists layers: the template sent to moto leaves `Layers` out of functions
  (the layer versions themselves are still created from the uploaded zips);
- skips AWS::CloudWatch::Alarm, AWS::SecretsManager::Secret, AWS::Lambda::EventInvokeConfig and
  AWS::Logs::MetricFilter: nothing to stand in for them; the docs say so;
- resolves, on an update, the Fn::GetAtt of resources whose Condition is false, and fails on them: the template
  sent to moto leaves those resources (and outputs) out;
- does not know `DeletionPolicy: RetainExceptOnCreate` and deletes such a resource with the stack: the template
  sent to moto says `Retain` there, which is what AWS does to it once the stack has been created;
- keeps the Outputs of a stack made through a change set empty: they are resolved here from the template and
  the stack's resources instead.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from workbench.cloudformation.template import Template
from workbench.cloudformation.topology import (
    QUEUE,
    QUEUE_POLICY,
    SUBSCRIPTION,
    TOPIC,
    set_queue_policy,
    subscription_attributes,
)

FUNCTION: Final = "AWS::Lambda::Function"
SKIPPED: Final = (
    "AWS::CloudWatch::Alarm",
    "AWS::SecretsManager::Secret",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Logs::MetricFilter",
)


def template_for_moto(body: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> str:
    """The template as JSON with `Layers` removed from every function (moto cannot update them),
    `RetainExceptOnCreate` as `Retain` (moto knows only the older policies), and without the resources and
    outputs whose Condition is false for `parameters` (moto's update resolves their Fn::GetAtt anyway)."""
    adapted = copy.deepcopy(dict(body))
    declared = adapted.get("Parameters", {})
    bound = Template(adapted, {k: v for k, v in (parameters or {}).items() if k in declared})
    for section in ("Resources", "Outputs"):
        entries = adapted.get(section, {})
        for name in [n for n, entry in entries.items() if "Condition" in entry]:
            if not bound.condition(entries[name]["Condition"]):
                del entries[name]
    for resource in adapted.get("Resources", {}).values():
        if resource.get("Type") == FUNCTION:
            resource.get("Properties", {}).pop("Layers", None)
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
            resource["DeletionPolicy"] = "Retain"
    return json.dumps(adapted, indent=1)


def unverified_resources(body: Mapping[str, Any]) -> list[str]:
    """Logical ids of resources moto accepts but does not create (so a local deploy cannot check them)."""
    return [lid for lid, r in body.get("Resources", {}).items() if r.get("Type") in SKIPPED]


def bound_template(body: Mapping[str, Any], stack: Mapping[str, Any], *, cloudformation: Any, sqs: Any) -> Template:
    """The template with the stack's parameter values and its resources' physical ids and ARNs."""
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
    declared = body.get("Parameters", {})
    arn = str(stack["StackId"]).split(":")
    template = Template(
        body,
        {k: v for k, v in parameters.items() if k in declared},
        stack_name=str(stack["StackName"]),
        region=arn[3],
        account_id=arn[4],
    )
    resources = cloudformation.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
    for resource in resources:
        if "LogicalResourceId" not in resource:  # moto lists some resources it created only half (layers)
            continue
        logical_id, physical_id = resource["LogicalResourceId"], resource.get("PhysicalResourceId")
        template.physical[logical_id] = physical_id
        if resource["ResourceType"] == QUEUE:
            attributes = sqs.get_queue_attributes(QueueUrl=physical_id, AttributeNames=["QueueArn"])["Attributes"]
            template.attributes[(logical_id, "Arn")] = attributes["QueueArn"]
            template.attributes[(logical_id, "QueueUrl")] = physical_id
        elif resource["ResourceType"] == TOPIC:
            template.attributes[(logical_id, "TopicArn")] = physical_id
        elif resource["ResourceType"] == FUNCTION:
            function_arn = f"arn:aws:lambda:{template.region}:{template.account_id}:function:{physical_id}"
            template.attributes[(logical_id, "Arn")] = function_arn
    return template


def resolved_outputs(template: Template) -> dict[str, str]:
    """The template's Outputs that resolve against the stack's resources (`bound_template`; moto leaves them
    out)."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in template.outputs().items()}


def create_skipped_routing(template: Template, *, sns: Any, sqs: Any) -> dict[str, str]:
    """Make the subscriptions and queue policies the template (`bound_template`) declares; returns {logical id:
    what was made}.

    Idempotent: a subscription that already exists (same topic and endpoint) gets its attributes set again.
    """
    made: dict[str, str] = {}
    subscriptions = [logical_id for logical_id, _ in template.resources(SUBSCRIPTION)]
    existing: dict[tuple[str, str], str] = {}
    if subscriptions:
        for page in sns.get_paginator("list_subscriptions").paginate():
            for sub in page["Subscriptions"]:
                existing[(sub["TopicArn"], sub["Endpoint"])] = sub["SubscriptionArn"]
    for logical_id in subscriptions:
        props = template.properties(logical_id)
        topic, endpoint = str(props["TopicArn"]), str(props["Endpoint"])
        attributes = subscription_attributes(props)
        if (topic, endpoint) in existing:
            arn = existing[(topic, endpoint)]
            for name, value in attributes.items():
                sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=value)
        else:
            arn = sns.subscribe(
                TopicArn=topic,
                Protocol=props["Protocol"],
                Endpoint=endpoint,
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        made[logical_id] = arn
    for logical_id, _ in template.resources(QUEUE_POLICY):
        props = template.properties(logical_id)
        set_queue_policy(sqs, props)
        made[logical_id] = ", ".join(props["Queues"])
    return made


__all__ = [
    "bound_template", "create_skipped_routing", "resolved_outputs", "template_for_moto", "unverified_resources",
]  # fmt: skip
