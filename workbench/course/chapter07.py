"""The checkers of chapter 07 (deploying with CloudFormation)."""

from __future__ import annotations

import functools
from typing import Any

from workbench.course.exercises import NotYet, exercise, whole_number


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
