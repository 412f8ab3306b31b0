"""The CloudFormation template as plain Python: its YAML with the short tags, parameters, conditions, intrinsics.

`load_template()` reads `infra/cloudformation/template.yaml` into dicts in the long form CloudFormation itself
uses (`!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` -> `{"Fn::Sub": s}`).
`Template` evaluates the intrinsics against parameter values and the physical names of the resources created so
far, which is how the local stack is built from the template instead of beside it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from pipeline.errors import PipelineError

TEMPLATE_PATH: Final = Path(__file__).resolve().parents[2] / "infra" / "cloudformation" / "template.yaml"

# Tags whose long form is Fn::<Name>; !Ref and !Condition keep their own names.
_FN_TAGS: Final = (
    "Base64", "Cidr", "FindInMap", "GetAZs", "If", "ImportValue", "Join", "Select", "Split", "Sub",
    "Equals", "Not", "And", "Or", "Length", "ToJsonString",
)  # fmt: skip

PSEUDO_NO_VALUE: Final = "AWS::NoValue"


class TemplateError(PipelineError, ValueError):
    """A template this module cannot read or evaluate."""


class _Missing:
    """Marker of AWS::NoValue while resolving: the key or list item is dropped."""


NO_VALUE: Final = _Missing()


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that knows CloudFormation's short tags and keeps dates as strings."""


# CloudFormation reads `2012-10-17` as a string, not a date.
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _fn(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _construct(loader, node)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct(loader, node)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


for _name in _FN_TAGS:
    CloudFormationLoader.add_constructor(f"!{_name}", _fn(_name))
CloudFormationLoader.add_constructor("!Ref", _ref)
CloudFormationLoader.add_constructor("!Condition", _condition)
CloudFormationLoader.add_constructor("!GetAtt", _get_att)


def load_template(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    """The template at `path` as plain dicts and lists, short tags turned into their long form."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"no CloudFormation template at {path}: run from a clone of the repository") from exc
    try:
        body = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(body, dict) or "Resources" not in body:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources section)")
    return body


_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_RATE_UNITS: Final = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def rate_period(expression: str) -> timedelta:
    """The period of an EventBridge `rate(N minutes|hours|days)` expression (cron expressions are refused)."""
    match = _RATE.match(expression.strip())
    if not match or int(match.group(1)) < 1:
        raise TemplateError(f"cannot read schedule {expression!r}: only rate(N minutes|hours|days)")
    return int(match.group(1)) * _RATE_UNITS[match.group(2).rstrip("s")]


@cache
def redrive_period(path: Path | str = TEMPLATE_PATH) -> timedelta:
    """How often the template's redrive functions run by default (`RedriveSchedule`): the local runtime's clock."""
    return rate_period(str(load_template(path)["Parameters"]["RedriveSchedule"]["Default"]))


def compaction_period(path: Path | str = TEMPLATE_PATH) -> timedelta:
    """How often the template's compaction function runs by default (`CompactionSchedule`)."""
    return rate_period(str(load_template(path)["Parameters"]["CompactionSchedule"]["Default"]))


class Template:
    """A loaded template with parameter values bound: conditions, resources and intrinsic functions.

    `physical` maps a logical id to what `Ref` returns for it; `attributes` maps (logical id, attribute) to what
    `Fn::GetAtt` returns. Callers fill both as they create resources.
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        parameters: Mapping[str, str | int] | None = None,
        *,
        stack_name: str = "market-data-pipeline",
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.body = body
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = self._bind_parameters(parameters or {})
        self.physical: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self._conditions: dict[str, bool] = {}

    @classmethod
    def load(cls, path: Path | str = TEMPLATE_PATH, **kwargs: Any) -> Template:
        return cls(load_template(path), **kwargs)

    # -- parameters and conditions ----------------------------------------------------------------------
    def _bind_parameters(self, given: Mapping[str, str | int]) -> dict[str, Any]:
        declared: Mapping[str, Mapping[str, Any]] = self.body.get("Parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                value: Any = given[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"template parameter {name} has no default: give it a value")
            if str(spec.get("Type", "String")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                value = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            else:
                value = str(value)
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.body.get("Conditions", {})
            if name not in conditions:
                raise TemplateError(f"the template has no condition {name!r}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # -- resources ----------------------------------------------------------------------------------------
    def resources(self, *types: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(logical id, resource) of the given types whose Condition holds, in template order."""
        for logical_id, resource in self.body["Resources"].items():
            if types and resource.get("Type") not in types:
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            yield logical_id, resource

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resolved Properties of a resource (every reference it makes must be known by now)."""
        resolved = self.resolve(self.body["Resources"][logical_id].get("Properties", {}))
        return dict(resolved) if isinstance(resolved, dict) else {}

    def dependencies(self, logical_id: str) -> set[str]:
        """Logical ids of the resources this resource refers to (Ref, GetAtt, Sub, DependsOn)."""
        resource = self.body["Resources"][logical_id]
        found = references(resource.get("Properties", {}))
        depends = resource.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        return {name for name in found if name in self.body["Resources"]}

    def outputs(self) -> dict[str, Any]:
        """Every output whose value can be resolved from what is known; the others are left out."""
        values: dict[str, Any] = {}
        for name, output in self.body.get("Outputs", {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            try:
                values[name] = self.resolve(output["Value"])
            except TemplateError:
                continue
        return values

    # -- intrinsic functions ------------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        if name == PSEUDO_NO_VALUE:
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise TemplateError(f"cannot resolve Ref {name}: not a parameter and not created yet")

    def get_att(self, resource: str, attribute: str) -> Any:
        if (resource, attribute) in self.attributes:
            return self.attributes[(resource, attribute)]
        raise TemplateError(f"cannot resolve Fn::GetAtt {resource}.{attribute}: not created yet")

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated; AWS::NoValue drops the key or item."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, arg)] = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        evaluate = _FUNCTIONS.get(name)
        if evaluate is None:
            raise TemplateError(f"Fn::{name} cannot be evaluated locally")
        return evaluate(self, arg)

    def _get_att(self, arg: Any) -> Any:
        resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
        return self.get_att(resource, self.resolve(attribute))

    def _if(self, arg: Any) -> Any:
        condition, when_true, when_false = arg
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _equals(self, arg: Any) -> bool:
        left, right = (self.resolve(v) for v in arg)
        return str(left) == str(right)

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(v) for v in self.resolve(items))

    def _select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = self.resolve(arg)
        return str(text).split(str(delimiter))

    def _find_in_map(self, arg: Any) -> Any:
        mapping, first, second = self.resolve(arg)
        try:
            return self.body["Mappings"][mapping][first][second]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap {mapping}/{first}/{second} is not in the template") from exc

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")


# The intrinsic functions the local stack evaluates (`Fn::<name>`), each a method of Template or a small lambda.
_FUNCTIONS: Final[dict[str, Callable[[Template, Any], Any]]] = {
    "GetAtt": Template._get_att,
    "If": Template._if,
    "Equals": Template._equals,
    "Not": lambda t, arg: not t.resolve(arg[0]),
    "And": lambda t, arg: all(t.resolve(v) for v in arg),
    "Or": lambda t, arg: any(t.resolve(v) for v in arg),
    "Sub": Template._sub,
    "Join": Template._join,
    "Select": Template._select,
    "Split": Template._split,
    "FindInMap": Template._find_in_map,
    "Base64": lambda t, arg: base64.b64encode(str(t.resolve(arg)).encode()).decode(),
    "GetAZs": lambda t, arg: [f"{t.region}{zone}" for zone in "abc"],
    "ToJsonString": lambda t, arg: json.dumps(t.resolve(arg)),
    "Length": lambda t, arg: len(t.resolve(arg)),
}


def references(value: Any) -> set[str]:
    """The names `value` refers to through Ref, Fn::GetAtt and Fn::Sub (logical ids, parameters, pseudo
    parameters), anywhere inside it."""
    found: set[str] = set()
    _collect_refs(value, found)
    return found


def _collect_refs(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect_refs(item, found)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found.update(m.group(1).split(".", 1)[0] for m in _SUB_VAR.finditer(text))
                if not isinstance(arg, str):
                    _collect_refs(arg[1], found)
            else:
                _collect_refs(arg, found)
