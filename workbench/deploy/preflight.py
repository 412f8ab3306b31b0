"""What `python -m pipeline deploy` checks before it creates anything: the stack name against the names the template
builds from it, the alert email of a live deployment, and a reserved concurrency against the account's limit.

Each check fails with one line that says what to change. They read the template, so a resource named after the
stack is checked the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pipeline.errors import PipelineError
from workbench.cloudformation.template import Template, TemplateError

# CloudFormation's own rule for a stack name, and its limit.
STACK_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
STACK_NAME_MAX: Final = 128
# (resource type, the property that names it): the service's limit on that name, in characters.
NAME_LIMITS: Final[dict[tuple[str, str], tuple[str, int]]] = {
    ("AWS::Lambda::Function", "FunctionName"): ("Lambda function name", 64),
    ("AWS::Lambda::LayerVersion", "LayerName"): ("Lambda layer name", 140),
    ("AWS::IAM::Role", "RoleName"): ("IAM role name", 64),
    ("AWS::SQS::Queue", "QueueName"): ("SQS queue name (with .fifo)", 80),
    ("AWS::SNS::Topic", "TopicName"): ("SNS topic name (with .fifo)", 256),
    ("AWS::Logs::LogGroup", "LogGroupName"): ("log group name", 512),
    ("AWS::Logs::MetricFilter", "FilterName"): ("metric filter name", 512),
    ("AWS::CloudWatch::Alarm", "AlarmName"): ("alarm name", 255),
    ("AWS::Events::Rule", "Name"): ("EventBridge rule name", 64),
    ("AWS::S3::Bucket", "BucketName"): ("bucket name", 63),
    ("AWS::SecretsManager::Secret", "Name"): ("secret name", 512),
}
# Lambda keeps this many executions of an account unreserved; a reservation that would leave fewer is refused.
UNRESERVED_MINIMUM: Final = 100
RESERVED_PARAMETER: Final = "YahooIngestReservedConcurrency"


class PreflightError(PipelineError):
    """A deployment that would fail (or leave its alarms unheard): refused before anything is created."""


@dataclass(frozen=True)
class NamedResource:
    logical_id: str
    what: str  # "Lambda function name"
    limit: int
    fixed: int  # characters of the name besides the stack name
    per_character: int  # how many times the stack name appears in it

    @property
    def max_stack_name(self) -> int:
        return (self.limit - self.fixed) // self.per_character

    def length(self, stack_name: str) -> int:
        return self.fixed + self.per_character * len(stack_name)


def _name(body: Mapping[str, Any], parameters: Mapping[str, str], stack: str, logical_id: str, prop: str) -> str | None:
    template = Template(body, parameters, stack_name=stack)
    resource = body["Resources"][logical_id]
    if "Condition" in resource and not template.condition(resource["Condition"]):
        return None
    value = resource.get("Properties", {}).get(prop)
    if value is None:
        return None
    try:
        resolved = template.resolve(value)
    except TemplateError:  # a name made of another resource's attributes: not the stack name's business
        return None
    return resolved if isinstance(resolved, str) else None


def named_resources(body: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[NamedResource]:
    """Every resource whose name the template builds from the stack name, with the service's limit on it."""
    given = dict(parameters or {})
    found: list[NamedResource] = []
    for logical_id, resource in body.get("Resources", {}).items():
        for (kind, prop), (what, limit) in NAME_LIMITS.items():
            if resource.get("Type") != kind:
                continue
            one, two = (_name(body, given, stack, logical_id, prop) for stack in ("s", "ss"))
            if one is None or two is None or len(two) == len(one):
                continue
            per_character = len(two) - len(one)
            found.append(NamedResource(logical_id, what, limit, len(one) - per_character, per_character))
    return found


def check_stack_name(stack_name: str, body: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> None:
    """Refuse a stack name CloudFormation refuses, or one that makes a resource's name longer than its service
    allows, naming the resource whose limit is the tightest and the longest stack name that fits."""
    if not STACK_NAME.match(stack_name) or len(stack_name) > STACK_NAME_MAX:
        raise PreflightError(
            f"stack name {stack_name!r} is not one CloudFormation accepts: a letter, then letters, digits and "
            f"hyphens, at most {STACK_NAME_MAX} characters"
        )
    resources = named_resources(body, parameters)
    if not resources:
        return
    tightest = min(resources, key=lambda r: r.max_stack_name)
    if len(stack_name) <= tightest.max_stack_name:
        return
    pattern = _name(body, dict(parameters or {}), "<stack>", tightest.logical_id, _property(tightest))
    raise PreflightError(
        f"stack name {stack_name[:40]!r}{'...' if len(stack_name) > 40 else ''} has {len(stack_name)} characters: "
        f"the {tightest.what} of {tightest.logical_id}, {pattern!r}, would have {tightest.length(stack_name)} "
        f"(at most {tightest.limit}); use a stack name of at most {tightest.max_stack_name} characters"
    )


def _property(resource: NamedResource) -> str:
    return next(prop for (_, prop), (what, _) in NAME_LIMITS.items() if what == resource.what)


def check_alert_email(parameters: Mapping[str, str], *, without_alerts: bool) -> str | None:
    """A live deployment without AlertEmail has alarms nobody hears: refused unless `without_alerts`, and then
    the warning to print. None when there is nothing to say."""
    if parameters.get("AlertEmail"):
        return None
    if parameters.get("Mode", "live") != "live":
        return None
    warning = (
        "no AlertEmail: the stack's alarms (dead letters, failed ingests, stale sources) publish to an SNS topic "
        "nobody is subscribed to"
    )
    if not without_alerts:
        raise PreflightError(
            f"{warning}. Pass --parameter AlertEmail=you@example.com (confirm the email SNS sends), or "
            "--without-alerts to deploy anyway and subscribe to the AlertTopicArn output yourself"
        )
    return warning


def check_reserved_concurrency(lambda_client: Any, parameters: Mapping[str, str]) -> None:
    """With YahooIngestReservedConcurrency=1, refuse an account whose concurrency limit cannot spare one
    execution (Lambda keeps 100 unreserved; new accounts have a limit of 10)."""
    if str(parameters.get(RESERVED_PARAMETER, "0")) != "1":
        return
    limits = lambda_client.get_account_settings()["AccountLimit"]
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    if unreserved - 1 < UNRESERVED_MINIMUM:
        raise PreflightError(
            f"{RESERVED_PARAMETER}=1 cannot be deployed on this account: its concurrency limit is "
            f"{limits['ConcurrentExecutions']} with {unreserved} unreserved, and Lambda keeps {UNRESERVED_MINIMUM} "
            f"unreserved. Drop the parameter (the state document's lease keeps the Yahoo runs one at a time) or "
            "ask AWS for a higher concurrency quota"
        )


__all__ = [
    "PreflightError",
    "check_alert_email",
    "check_reserved_concurrency",
    "check_stack_name",
    "named_resources",
]
