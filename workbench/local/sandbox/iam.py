"""Each function's role in the template, checked against the AWS calls the function made in the artifacts run.

A recorded call (service, operation, the parameters naming its resource, the HTTP status) becomes the IAM
actions and resource ARNs it needs: `s3 PutObject` with Bucket and Key is `s3:PutObject` on
`arn:aws:s3:::<bucket>/<key>`; a `GetObject` or `HeadObject` answered 404 also needs `s3:ListBucket` on the
bucket (without it S3 answers 403). What Lambda itself does with the role is added from the template: writing
the function's logs, polling its event source mapping's queue, sending to its dead-letter target, and the
network interfaces of a VPC function. The role's statements (Allow and Deny, Action and Resource with IAM's
wildcards; conditions are not evaluated) are then compared with those needs both ways:

- a call whose action on its resource no Allow statement grants (or a Deny denies) is a missing permission;
- an action on a resource pattern that a statement allows and that nothing needed is an unused permission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from pipeline.errors import PipelineError
from workbench.cloudformation.template import Template, TemplateError

if TYPE_CHECKING:
    from workbench.local.sandbox.environment import FunctionConfig

# Operations whose IAM action is not `<service>:<operation>`.
ACTIONS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "ListObjectVersions"): ("s3:ListBucketVersions",),
    ("s3", "DeleteObjects"): ("s3:DeleteObject",),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPart"): ("s3:PutObject",),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject",),
    ("sns", "PublishBatch"): ("sns:Publish",),
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
}
# Calls no policy has to allow.
ALWAYS_ALLOWED: Final = frozenset({"sts:GetCallerIdentity"})
S3_BUCKET_OPERATIONS: Final = frozenset({"ListObjectsV2", "ListObjects", "HeadBucket", "ListObjectVersions"})
VPC_ACTIONS: Final = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")


class IamError(PipelineError):
    """The template cannot be read as the IAM check needs it."""


@dataclass(frozen=True)
class Call:
    """One permission a function needed: an IAM action on a resource, and why."""

    action: str
    resource: str
    why: str  # "call s3.PutObject" or "Lambda: logs"

    def __str__(self) -> str:
        return f"{self.action} on {self.resource} ({self.why})"


@dataclass(frozen=True)
class Finding:
    function: str
    role: str
    kind: str  # "missing" or "unused"
    action: str
    resource: str
    detail: str

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.function} needs {self.action} on {self.resource} ({self.detail}): role {self.role} denies it"
        return (
            f"role {self.role} allows {self.action} on {self.resource} ({self.detail}): {self.function} never used it"
        )


# -- the template's names and ARNs ---------------------------------------------------------------------------------
def bind_arns(template: Template) -> None:
    """Give every resource of the template its physical id (when not already known) and the `Arn` (and other
    attributes) CloudFormation would report, so that the roles' policies resolve."""
    region, account, stack = template.region, template.account_id, template.stack_name
    pending = list(template.body["Resources"].items())
    for _ in range(3):  # names may refer to other resources' names
        left = []
        for logical_id, resource in pending:
            try:
                _bind(template, logical_id, resource, region, account, stack)
            except TemplateError:
                left.append((logical_id, resource))
        pending = left


def _name(template: Template, resource: Mapping[str, Any], prop: str, default: str) -> str:
    value = resource.get("Properties", {}).get(prop)
    return default if value is None else str(template.resolve(value))


def _bind(
    template: Template, logical_id: str, resource: Mapping[str, Any], region: str, account: str, stack: str
) -> None:
    kind, physical, attrs = resource.get("Type", ""), template.physical, template.attributes
    default = f"{stack}-{logical_id}"
    if kind == "AWS::S3::Bucket":
        name = physical.setdefault(logical_id, _name(template, resource, "BucketName", default.lower()))
        attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
    elif kind == "AWS::SQS::Queue":
        url = physical.setdefault(logical_id, f"https://sqs.{region}.amazonaws.com/{account}/{default}")
        name = str(url).rstrip("/").rsplit("/", 1)[-1]
        attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
        attrs[(logical_id, "QueueName")] = name
    elif kind == "AWS::SNS::Topic":
        arn = physical.setdefault(logical_id, f"arn:aws:sns:{region}:{account}:{default}")
        attrs[(logical_id, "TopicArn")] = arn
        attrs[(logical_id, "TopicName")] = str(arn).rsplit(":", 1)[-1]
    elif kind == "AWS::Logs::LogGroup":
        name = physical.setdefault(logical_id, _name(template, resource, "LogGroupName", default))
        attrs[(logical_id, "Arn")] = f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    elif kind == "AWS::Lambda::Function":
        name = physical.setdefault(logical_id, _name(template, resource, "FunctionName", default))
        attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
    elif kind == "AWS::Lambda::LayerVersion":
        name = _name(template, resource, "LayerName", default)
        physical.setdefault(logical_id, f"arn:aws:lambda:{region}:{account}:layer:{name}:1")
    elif kind == "AWS::IAM::Role":
        name = physical.setdefault(logical_id, _name(template, resource, "RoleName", default))
        attrs[(logical_id, "Arn")] = f"arn:aws:iam::{account}:role/{name}"
    elif kind == "AWS::SecretsManager::Secret":
        name = _name(template, resource, "Name", default)
        physical.setdefault(logical_id, f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf")
    else:
        physical.setdefault(logical_id, default)


# -- what the functions needed -------------------------------------------------------------------------------------
def calls_of(
    records: Iterable[Mapping[str, Any]], region: str = "us-east-1", account: str = "123456789012"
) -> list[Call]:
    """The permissions the recorded calls of one function needed."""
    needed: list[Call] = []
    for record in records:
        service, operation = str(record["service"]), str(record["operation"])
        params: Mapping[str, str] = record.get("params", {})
        why = f"call {service}.{operation}"
        resource = _resource(service, operation, params, region, account)
        for action in ACTIONS.get((service, operation), (f"{service}:{operation}",)):
            needed.append(Call(action, resource, why))
        if service == "s3" and operation in ("GetObject", "HeadObject") and record.get("status") == 404:
            bucket = f"arn:aws:s3:::{params.get('Bucket', '*')}"
            needed.append(Call("s3:ListBucket", bucket, f"{why} answered 404 (403 without s3:ListBucket)"))
    return needed


def _resource(service: str, operation: str, params: Mapping[str, str], region: str, account: str) -> str:
    if service == "s3":
        bucket = params.get("Bucket", "*")
        if operation in S3_BUCKET_OPERATIONS or "Key" not in params:
            return f"arn:aws:s3:::{bucket}"
        return f"arn:aws:s3:::{bucket}/{params['Key']}"
    if service == "sns":
        return params.get("TopicArn") or params.get("TargetArn") or "*"
    if service == "sqs" and "QueueUrl" in params:
        path = urlsplit(params["QueueUrl"]).path.strip("/").split("/")
        owner, name = (path[-2], path[-1]) if len(path) >= 2 else (account, path[-1])
        return f"arn:aws:sqs:{region}:{owner}:{name}"
    if service == "secretsmanager" and "SecretId" in params:
        secret = params["SecretId"]
        return secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
    if service == "logs" and "logGroupName" in params:
        return f"arn:aws:logs:{region}:{account}:log-group:{params['logGroupName']}:*"
    return "*"


def platform_needs(template: Template, config: FunctionConfig) -> list[Call]:
    """What Lambda does with the function's role, read from the template: its logs, its event source mappings'
    queues, its dead-letter target, the network interfaces of a VPC function."""
    region, account = template.region, template.account_id
    group = f"/aws/lambda/{config.function_name}"
    stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:2026/01/01/[$LATEST]0"
    needed = [Call("logs:CreateLogStream", stream, "Lambda: logs"), Call("logs:PutLogEvents", stream, "Lambda: logs")]
    for _, mapping in template.resources("AWS::Lambda::EventSourceMapping"):
        props = mapping.get("Properties", {})
        if props.get("FunctionName") != {"Ref": config.logical_id}:
            continue
        queue = str(template.resolve(props["EventSourceArn"]))
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            needed.append(Call(action, queue, "Lambda: event source mapping"))
    props = template.body["Resources"][config.logical_id].get("Properties", {})
    dead_letters = template.resolve(props.get("DeadLetterConfig", {}))
    target = dead_letters.get("TargetArn") if isinstance(dead_letters, dict) else None
    if target:
        action = "sns:Publish" if str(target).startswith("arn:aws:sns:") else "sqs:SendMessage"
        needed.append(Call(action, str(target), "Lambda: dead-letter target of failed asynchronous invocations"))
    vpc = template.resolve(props.get("VpcConfig", {}))
    if isinstance(vpc, dict) and vpc:  # AWS::NoValue (no VPC) resolves to a marker, not a dict
        needed += [Call(action, "*", "Lambda: VPC network interfaces") for action in VPC_ACTIONS]
    return needed


# -- the roles -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def matches(self, action: str, resource: str) -> bool:
        return any(_wildcard(a, ignore_case=True).fullmatch(action) for a in self.actions) and any(
            _wildcard(r).fullmatch(resource) for r in self.resources
        )


@cache
def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def _listed(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def role_statements(template: Template, role: str) -> list[Statement]:
    """The statements of a role's inline policies (ManagedPolicyArns are AWS's own and not read here)."""
    props = template.properties(role)
    statements: list[Statement] = []
    for policy in props.get("Policies", []):
        for i, raw in enumerate(_listed_dicts(policy["PolicyDocument"].get("Statement", []))):
            if "NotAction" in raw or "NotResource" in raw:
                raise IamError(f"{role}: NotAction/NotResource are not checked here; state what is allowed")
            sid = str(raw.get("Sid") or f"{policy.get('PolicyName')}[{i}]")
            statements.append(Statement(sid, str(raw["Effect"]), _listed(raw["Action"]), _listed(raw["Resource"])))
    return statements


def _listed_dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]


def check_role(function: str, role: str, statements: Sequence[Statement], needed: Sequence[Call]) -> list[Finding]:
    findings: list[Finding] = []
    for call in dict.fromkeys(needed):
        if call.action in ALWAYS_ALLOWED:
            continue
        denied = any(s.effect == "Deny" and s.matches(call.action, call.resource) for s in statements)
        allowed = any(s.effect == "Allow" and s.matches(call.action, call.resource) for s in statements)
        if denied or not allowed:
            findings.append(Finding(function, role, "missing", call.action, call.resource, call.why))
    for statement in statements:
        if statement.effect != "Allow":
            continue
        for action in statement.actions:
            for resource in statement.resources:
                used = any(
                    _wildcard(action, ignore_case=True).fullmatch(c.action)
                    and _wildcard(resource).fullmatch(c.resource)
                    for c in needed
                )
                if not used:
                    findings.append(Finding(function, role, "unused", action, resource, f"statement {statement.sid}"))
    return findings


def check(
    template: Template, configs: Mapping[str, FunctionConfig], calls: Mapping[str, Sequence[Call]]
) -> list[Finding]:
    """Every missing and every unused permission of the functions' roles, given the calls each one made (a
    role that serves several functions is checked against what all of them needed)."""
    by_role: dict[str, list[str]] = {}
    for name, config in configs.items():
        by_role.setdefault(config.role, []).append(name)
    findings: list[Finding] = []
    for role, names in by_role.items():
        needed = [c for name in names for c in (*calls.get(name, []), *platform_needs(template, configs[name]))]
        findings += check_role(", ".join(names), role, role_statements(template, role), needed)
    return findings
