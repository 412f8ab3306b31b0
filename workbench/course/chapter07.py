"""The checkers of chapter 07 (deploying with CloudFormation)."""

from __future__ import annotations

import functools
from typing import Any, Final

from workbench.course.exercises import NotYet, exercise, whole_number
from workbench.course.queue_reading import number, receives_mistake, retention_mistake, yaml_mistake


def resources_created(parameters: dict[str, str] | None = None) -> dict[str, int]:
    """The resources a deploy with `parameters` creates (Conditions evaluated), counted by type."""
    from workbench.cloudformation.template import TEMPLATE_PATH

    return dict(_created(tuple(sorted((parameters or {}).items())), TEMPLATE_PATH.stat().st_mtime_ns))


@functools.cache
def _created(parameters: tuple[tuple[str, str], ...], _template_version: int) -> dict[str, int]:
    """Counted once per template version: a checker asks for the same counts several times."""
    from collections import Counter

    from workbench.cloudformation.template import Template

    template = Template.load(parameters=dict(parameters))
    return dict(Counter(resource["Type"] for _, resource in template.resources()))


def _declared() -> int:
    from workbench.cloudformation.template import TEMPLATE_PATH

    return _declared_in(TEMPLATE_PATH.stat().st_mtime_ns)


@functools.cache
def _declared_in(_template_version: int) -> int:
    from workbench.cloudformation.template import load_template

    return len(load_template()["Resources"])


def _counts(answer: Any) -> tuple[int, int]:
    """(resources, RDS instances) from {"resources": n, "rds_instances": n} (any case) or a pair in that order."""
    if isinstance(answer, dict):
        named = {str(k).strip().lower(): v for k, v in answer.items()}
        if {"resources", "rds_instances"} <= set(named):
            answer = (named["resources"], named["rds_instances"])
    if not isinstance(answer, list | tuple | dict) or len(answer) != 2:
        raise NotYet(
            'two counts are asked, every resource created and the RDS instances among them: {"resources": n, '
            '"rds_instances": n}.'
        )
    if isinstance(answer, dict):
        raise NotYet('name the two counts "resources" and "rds_instances".')
    return whole_number(answer[0], "the resources"), whole_number(answer[1], "the RDS instances")


@exercise("07.default_deploy", "the resources a deploy with the default parameters creates, and its RDS instances")
def _default_deploy(answer: Any, **_: Any) -> str:
    created = resources_created()
    total, rds = sum(created.values()), created.get("AWS::RDS::DBInstance", 0)
    resources, instances = _counts(answer)
    if instances != rds:
        raise NotYet(
            "the RDS instance has `Condition: CreateSqlServerInstance`, and CreateSqlServer defaults to false: by "
            "default no instance is created."
        )
    if resources == _declared():
        raise NotYet(
            f"{resources} is every resource the template declares: a deploy creates only those whose Condition "
            "holds, and with CreateSqlServer false the SQL Server's do not."
        )
    if resources == sum(resources_created({"CreateSqlServer": "true"}).values()):
        raise NotYet(
            "that is a deploy with CreateSqlServer=true: by default it is false, and its resources are not created."
        )
    if resources != total:
        raise NotYet(
            "count only the resources whose Condition holds with every parameter at its default "
            "(Template.load(parameters={}).resources() evaluates them)."
        )
    return f"{total} resources and {rds} RDS instance: the optional SQL Server costs nothing unless asked for."


@exercise("07.sqlserver_extra", "how many more resources CreateSqlServer=true adds, counted from the template")
def _sqlserver_extra(answer: Any, **_: Any) -> str:
    default = sum(resources_created().values())
    with_sql = sum(resources_created({"CreateSqlServer": "true"}).values())
    extra, given = with_sql - default, whole_number(answer, "a number of resources")
    if given == extra:
        return f"{extra} more: the RDS instance and the network, security group and secret it needs."
    if given == 1:
        raise NotYet(
            "not only the RDS instance: it needs a network of its own (VPC, subnets, endpoints), security groups, "
            "secrets and the custom resource that creates its database."
        )
    if given == with_sql:
        raise NotYet(
            "that is every resource of a deploy with SQL Server: the question asks how many more than by default."
        )
    if given == _declared() - default:
        raise NotYet("that counts every resource behind a Condition, not only those CreateSqlServer=true turns on.")
    raise NotYet(
        "count the resources created with CreateSqlServer=true, minus those of a default deploy "
        '(Template.load(parameters={"CreateSqlServer": "true"}) evaluates the Conditions).'
    )


# -- 07.fifo_queue: one resource of the template, written by the learner and deployed with the rest -------------

QUEUE_ID, DEAD_LETTER_ID = "YahooFinanceQueue", "YahooFinanceDeadLetterQueue"


def _resource(answer: Any) -> dict[str, Any]:
    """A resource however it is written: a dict, or its YAML (short tags such as !GetAtt allowed)."""
    import yaml

    from workbench.cloudformation.template import CloudFormationLoader

    if isinstance(answer, str):
        try:
            answer = yaml.load(answer, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise NotYet(yaml_mistake(exc)) from None
    if isinstance(answer, dict) and set(answer) == {QUEUE_ID}:  # the resource under its logical id
        answer = answer[QUEUE_ID]
    if not isinstance(answer, dict) or "Type" not in answer:
        raise NotYet(
            'a template resource is a mapping with a Type and its Properties: {"Type": "AWS::SQS::Queue", '
            '"Properties": {...}} (or the same in YAML).'
        )
    return answer


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _get_att(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) of a GetAtt in any of its forms; None for anything else."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if len(parts) == 2:
            return str(parts[0]), str(parts[1])
    return None


def _refers(value: Any, parameter: str) -> bool:
    return isinstance(value, dict) and value == {"Ref": parameter}


# Two deploys of the template, so that a name or an ARN written out for one of them is told from one that follows
# the stack (!Sub, !Join, !GetAtt): (stack name, region, account)
_STACKS: Final = (("market-data-pipeline", "us-east-1", "123456789012"), ("course-b", "eu-west-1", "210987654321"))


@functools.cache
def _deployed(stack: tuple[str, str, str]) -> Any:
    """The template as deployed as `stack`: every SQS queue's Ref (its URL) and Arn known, so that what refers
    to them (Ref, GetAtt, Sub, Join) resolves to the text CloudFormation would give."""
    from workbench.cloudformation.template import Template, TemplateError

    name, region, account = stack
    template = Template.load(stack_name=name, region=region, account_id=account)
    for logical_id, resource in template.body["Resources"].items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        try:
            queue = str(template.resolve(resource["Properties"]["QueueName"]))
        except (KeyError, TemplateError):
            continue
        template.physical[logical_id] = f"https://sqs.{region}.amazonaws.com/{account}/{queue}"
        template.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{queue}"
        template.attributes[(logical_id, "QueueName")] = queue
    return template


def _resolved(value: Any, stack: tuple[str, str, str]) -> Any:
    """`value` as CloudFormation would resolve it when deploying as `stack`; None if it cannot be resolved."""
    from workbench.cloudformation.template import TemplateError

    try:
        return _deployed(stack).resolve(value)
    except (TemplateError, TypeError, ValueError, IndexError, KeyError):
        return None


def _same_everywhere(value: Any, expected: Any) -> bool:
    """Whether `value` resolves as `expected` does in every deploy of _STACKS (!Sub, !Join or Fn:: forms alike)."""
    return all(_resolved(value, stack) == _resolved(expected, stack) is not None for stack in _STACKS)


def _queue_of(target: Any, stack: tuple[str, str, str]) -> str | None:
    """The logical id of the queue whose ARN `target` resolves to when deploying as `stack`, or None."""
    arn = _resolved(target, stack)
    attributes = _deployed(stack).attributes
    return next((logical_id for (logical_id, a), v in attributes.items() if a == "Arn" and v == arn), None)


def _queue_mistake(resource: dict[str, Any]) -> str | None:
    """The first way `resource` fails as the Yahoo source queue of the template, or None."""
    from workbench.cloudformation.template import load_template

    template = load_template()
    if resource.get("Type") != "AWS::SQS::Queue":
        return f"the resource's Type is AWS::SQS::Queue, not {resource.get('Type')!r}"
    properties = resource.get("Properties") or {}
    if not isinstance(properties, dict):
        return "Properties is a mapping of property names to values"
    if (mistake := _property_mistake(properties)) is not None:
        return mistake
    if not _truthy(properties.get("FifoQueue")):
        return (
            "the topic is SNS FIFO and keeps each source's events in order: it delivers only to FIFO queues, so set "
            "FifoQueue: true"
        )
    if not _same_everywhere(properties.get("QueueName"), template["Resources"][QUEUE_ID]["Properties"]["QueueName"]):
        return (
            "name it as the template names its queues, from the stack's name: QueueName: "
            '!Sub "${AWS::StackName}-yahoo_finance.fifo" (a FIFO queue\'s name ends in .fifo)'
        )
    return _redrive_mistake(properties, template) or _visibility_mistake(properties, template)


# The properties CloudFormation's AWS::SQS::Queue takes; any other name fails the stack's create
SQS_QUEUE_PROPERTIES: Final = frozenset({
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod", "QueueName",
    "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled", "Tags",
    "VisibilityTimeout",
})  # fmt: skip


def _property_mistake(properties: dict[str, Any]) -> str | None:
    unknown = sorted(set(properties) - SQS_QUEUE_PROPERTIES)
    if unknown:
        return f"AWS::SQS::Queue has no property {unknown[0]!r}: CloudFormation refuses the template"
    if str(properties.get("KmsMasterKeyId", "")).strip().lower() == "alias/aws/sqs":
        return (
            "with the AWS managed key (alias/aws/sqs) SNS cannot deliver to the queue, its key policy being closed "
            "to SNS: leave KmsMasterKeyId out (the queue is encrypted with SQS-managed keys)"
        )
    tags = properties.get("Tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, dict) and set(t) == {"Key", "Value"} for t in tags)
    ):
        return (
            "Tags is a list of Key and Value pairs in CloudFormation (- Key: team, Value: data), not a mapping of "
            "names to values: CloudFormation refuses the template"
        )
    visibility = properties.get("VisibilityTimeout")
    if isinstance(visibility, int | str) and str(visibility).isdigit() and int(visibility) > 43_200:
        return "a VisibilityTimeout is at most 43,200 seconds (12 hours): SQS refuses a longer one"
    return retention_mistake(properties.get("MessageRetentionPeriod"))


def _policies(redrive: Any) -> list[Any] | None:
    """The redrive policy as each deploy of _STACKS reads it: the mapping itself, or its JSON text (a string, or
    !Sub/!Join giving one: CloudFormation takes a Json property either way) parsed; None if it is neither."""
    import json

    if isinstance(redrive, dict) and not any(str(key).startswith("Fn::") for key in redrive):
        return [redrive for _ in _STACKS]
    policies = []
    for stack in _STACKS:
        text = _resolved(redrive, stack)
        try:
            policy = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            policy = None
        if not isinstance(policy, dict):
            return None
        policies.append(policy)
    return policies


_REDRIVE_KEYS: Final = ("deadLetterTargetArn", "maxReceiveCount")


def _redrive_mistake(properties: dict[str, Any], template: dict[str, Any]) -> str | None:
    redrive = properties.get("RedrivePolicy")
    if redrive is None:
        return (
            "without a RedrivePolicy a message that always fails comes back forever and holds up its message "
            "group: send it to the dead-letter queue after maxReceiveCount receives"
        )
    policies = _policies(redrive)
    if policies is None:
        return (
            "RedrivePolicy is a mapping of deadLetterTargetArn and maxReceiveCount (or its JSON text, such as "
            "!Sub '{\"deadLetterTargetArn\": ...}')"
        )
    for key in policies[0]:
        same = next((k for k in _REDRIVE_KEYS if k.lower() == str(key).lower()), None)
        if same is not None and key != same:
            return f"SQS reads the redrive policy's keys as written, and the key is {same}, not {key}"
        if same is None:
            return f"a redrive policy holds {' and '.join(_REDRIVE_KEYS)}, and SQS refuses a key {key!r}"
    return _target_mistake([p.get("deadLetterTargetArn") for p in policies], template) or receives_mistake(
        policies[0].get("maxReceiveCount")
    )


def _foreign_stack(target: Any, stack: tuple[str, str, str]) -> bool:
    """Whether `target` resolves (deploying as `stack`) to the ARN of one of the template's queues as another stack
    names it: a stack's name written out (market-data-pipeline-yahoo_finance-dlq.fifo) instead of followed."""
    arn = _resolved(target, stack)
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return False
    name, deployed = arn.rsplit(":", 1)[-1], _deployed(stack)
    for (_, attribute), queue in deployed.attributes.items():
        suffix = str(queue).removeprefix(stack[0]) if attribute == "QueueName" else ""
        if suffix and name.endswith(suffix) and name != queue:
            return True
    return False


def _target_mistake(targets: list[Any], template: dict[str, Any]) -> str | None:
    """What is wrong with deadLetterTargetArn, as each deploy of _STACKS reads it (`targets`), or None."""
    target = targets[0]
    if isinstance(target, dict) and set(target) == {"Ref"}:
        return "!Ref of a queue gives its URL, and deadLetterTargetArn wants its ARN: !GetAtt <queue>.Arn"
    att = _get_att(target)
    resources = template["Resources"]
    if att is not None and att[0] not in resources:
        return f"the template has no resource {att[0]}: the Yahoo dead-letter queue is {DEAD_LETTER_ID}"
    queues = [_queue_of(t, stack) for t, stack in zip(targets, _STACKS, strict=True)]
    written = any(_foreign_stack(t, stack) for t, stack in zip(targets, _STACKS, strict=True))
    if written or (queues[0] is not None and queues[0] != queues[1]):
        return (
            "that ARN is written out for one stack, region and account: !GetAtt YahooFinanceDeadLetterQueue.Arn "
            "follows the stack it is deployed in"
        )
    if queues[0] is None:
        return "deadLetterTargetArn is the dead-letter queue's ARN: !GetAtt YahooFinanceDeadLetterQueue.Arn"
    queue = queues[0]
    if queue == QUEUE_ID:
        return (
            f"{QUEUE_ID} is the queue itself: a message that fails would be moved back to the queue it failed in, "
            f"and never set aside; its failures go to {DEAD_LETTER_ID}"
        )
    if not _truthy(resources[queue].get("Properties", {}).get("FifoQueue")):
        return (
            f"{queue} is a standard queue, and a FIFO queue's dead-letter queue must be FIFO too: use {DEAD_LETTER_ID}"
        )
    if queue != DEAD_LETTER_ID:
        return _other_dead_letter(queue, resources)
    return None


def _other_dead_letter(queue: str, resources: dict[str, Any]) -> str:
    """Why `queue`, a FIFO queue of the template, is not the Yahoo queue's dead-letter queue: whose it is."""
    users = sorted(
        logical_id
        for logical_id, resource in resources.items()
        if isinstance((resource.get("Properties") or {}).get("RedrivePolicy"), dict)
        and _get_att(resource["Properties"]["RedrivePolicy"].get("deadLetterTargetArn")) == (queue, "Arn")
    )
    kinds = {resources[u]["Type"] for u in users}
    if kinds == {"AWS::SQS::Queue"}:
        return (
            f"{queue} is another source's dead-letter queue (that of {users[0]}): the Yahoo queue's failures go to "
            f"{DEAD_LETTER_ID}"
        )
    if kinds == {"AWS::SNS::Subscription"}:
        return (
            f"{queue} is not this source's dead-letter queue: it holds the events SNS could not deliver to the "
            f"queues (the subscriptions' RedrivePolicy); the Yahoo queue's failures go to {DEAD_LETTER_ID}"
        )
    return f"{queue} is not this source's dead-letter queue: the Yahoo queue's failures go to {DEAD_LETTER_ID}"


def _visibility_mistake(properties: dict[str, Any], template: dict[str, Any]) -> str | None:
    visibility = properties.get("VisibilityTimeout")
    if _refers(visibility, "QueueVisibilityTimeoutSeconds"):
        return None
    timeout = float(template["Parameters"]["ProcessTimeoutSeconds"]["Default"])
    seconds = number(visibility) if visibility is not None else 30.0
    if seconds is None:
        return "VisibilityTimeout is a number of seconds, or !Ref QueueVisibilityTimeoutSeconds"
    if not seconds.is_integer():
        return f"VisibilityTimeout is a whole number of seconds, and SQS refuses {seconds:g}"
    if seconds < 6 * timeout:
        return (
            f"a visibility timeout of {seconds:.0f} s is shorter than six times the process function's timeout "
            f"({timeout:.0f} s): a batch still being processed would be delivered again; !Ref "
            "QueueVisibilityTimeoutSeconds"
        )
    return None


@exercise("07.fifo_queue", "the Yahoo source queue of the template: FIFO, with its dead-letter queue's redrive policy")
def _fifo_queue(answer: Any, **_: Any) -> str:
    resource = _resource(answer)
    mistake = _queue_mistake(resource)
    if mistake:
        raise NotYet(f"as {QUEUE_ID} of the template, your resource would not do: {mistake}.")
    return "a FIFO queue named from the stack, redriving to its FIFO dead-letter queue, visible long enough." + (
        _written_out(resource["Properties"])
    )


# The template's parameters a queue's properties follow: (where in Properties, the parameter)
_FOLLOWS: Final = ((("VisibilityTimeout",), "QueueVisibilityTimeoutSeconds"),
                   (("RedrivePolicy", "maxReceiveCount"), "MaxReceiveCount"))  # fmt: skip


def _written_out(properties: dict[str, Any]) -> str:
    """A note on the numbers written out where the template refers to its parameters, or nothing."""
    written = []
    for path, parameter in _FOLLOWS:
        value: Any = properties
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not _refers(value, parameter):
            written.append(f"{path[-1]} {value} (!Ref {parameter})")
    if not written:
        return ""
    return (
        f" One thing to change: the template refers to its parameters where you wrote numbers, {', '.join(written)}; "
        "a deploy that changes a parameter (a longer ProcessTimeoutSeconds, and so a longer visibility) would leave "
        "this queue behind."
    )


def template_with(resource: Any, path: Any) -> Any:
    """Write the template with `resource` as YahooFinanceQueue (its Metadata kept) to `path` (JSON, which
    CloudFormation reads as well as YAML); the path."""
    import json
    from pathlib import Path

    from workbench.cloudformation.template import load_template

    body = load_template()
    yours = _resource(resource)
    body["Resources"][QUEUE_ID] = {**yours, "Metadata": body["Resources"][QUEUE_ID].get("Metadata", {})}
    Path(path).write_text(json.dumps(body, indent=1))
    return Path(path)


def transposed(table: Any) -> Any:
    """A Rich table of a few sources as a DataFrame turned on its side, one column per source and one row per
    field: what the table says, narrow enough for a notebook column however many fields it has."""
    import pandas as pd
    from rich.text import Text

    def plain(cell: Any) -> str:
        return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)

    columns = {str(column.header): [plain(cell) for cell in column.cells] for column in table.columns}
    first = next(iter(columns))
    frame = pd.DataFrame(columns).set_index(first).T
    frame.columns.name = None
    return frame


def show(table: Any) -> None:
    """A Rich table's title, then its `transposed` frame."""
    from IPython.display import display

    if table.title:
        print(table.title)
    display(transposed(table))  # type: ignore[no-untyped-call]
