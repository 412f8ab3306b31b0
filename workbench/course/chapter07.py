"""The checkers of chapter 07 (deploying with CloudFormation)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, same


def resources_created(parameters: dict[str, str] | None = None) -> dict[str, int]:
    """The resources a deploy with `parameters` creates (Conditions evaluated), counted by type."""
    from collections import Counter

    from workbench.cloudformation.template import Template

    template = Template.load(parameters=parameters or {})
    return dict(Counter(resource["Type"] for _, resource in template.resources()))


@exercise("07.default_deploy", "the resources a deploy with the default parameters creates, and its RDS instances")
def _default_deploy(answer: Any, **_: Any) -> str:
    created = resources_created()
    total, rds = sum(created.values()), created.get("AWS::RDS::DBInstance", 0)
    if not isinstance(answer, dict) or set(answer) != {"resources", "rds_instances"}:
        raise NotYet('the answer should be a dict {"resources": n, "rds_instances": n}.')
    if answer["rds_instances"] != rds:
        raise NotYet("the RDS instance has `Condition: CreateSqlServerInstance`; CreateSqlServer defaults to false.")
    if answer["resources"] != total:
        raise NotYet(f"{answer['resources']} is not it: count only the resources whose Condition holds by default.")
    return f"{total} resources and {rds} RDS instance: the optional SQL Server costs nothing unless asked for."


@exercise("07.sqlserver_extra", "how many more resources CreateSqlServer=true adds, counted from the template")
def _sqlserver_extra(answer: Any, **_: Any) -> str:
    extra = sum(resources_created({"CreateSqlServer": "true"}).values()) - sum(resources_created().values())
    same(answer, extra, "the number of extra resources")
    return f"{extra} more: the RDS instance and the network, security group and secret it needs."
