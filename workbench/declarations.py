"""Is every source declared in full? The registry, the source and sink modules and the template, checked together.

A source is declared once in `pipeline.registry`, but it also needs modules that exist (its `SOURCE`, its row
model, its sink) and, in the CloudFormation template, three Lambda functions (ingest, process and the scheduled
redrive), a subscription of the topic filtered on it and schedule rules for its ingest and redrive functions.
`problems()` lists, one line each, every place where that is not so: a template function whose source the
registry does not know, a declared source without its three template functions or their rules, a sink or row
model path that does not resolve, a source module without `SOURCE`. The test suite asserts it finds nothing;
CONTRIBUTING.md's checklist follows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from importlib.util import find_spec
from typing import Any, Final

from pydantic import BaseModel

from pipeline import registry
from pipeline.handlers import (
    SCHEDULED_KINDS,
    SOURCE_KINDS,
    Kind,
    entry_point,
    handler_module,
    handler_string,
    kinds_of,
    parse_handler,
)
from pipeline.registry import SourceSpec
from pipeline.sources import SOURCE_FILES

EXTRA_KINDS: Final = ("ingest", "process")  # the functions whose extras the registry declares (redrive: process's)
FUNCTION_TYPE: Final = "AWS::Lambda::Function"
SOURCE_METHODS: Final = ("fetch", "parse", "load_payload")
SINK_METHODS: Final = ("from_settings", "load", "close", "stored_rows")


def _functions(body: Mapping[str, Any]) -> dict[tuple[Kind, str], str]:
    """(kind, source) -> logical id of every source function of the template."""
    found: dict[tuple[Kind, str], str] = {}
    for logical_id, resource in body.get("Resources", {}).items():
        if resource.get("Type") == FUNCTION_TYPE:
            pair = parse_handler(str(resource.get("Properties", {}).get("Handler", "")))
            if pair is not None and pair[0] in SOURCE_KINDS:
                found[pair] = logical_id
    return found


def _of_type(body: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [r.get("Properties", {}) for r in body.get("Resources", {}).values() if r.get("Type") == kind]


def _filtered_sources(body: Mapping[str, Any]) -> set[str]:
    """The sources the topic's subscriptions filter on (each one's queue gets that source's events)."""
    return {
        str(source)
        for props in _of_type(body, "AWS::SNS::Subscription")
        for source in (props.get("FilterPolicy") or {}).get("source", [])
    }


def _scheduled_functions(body: Mapping[str, Any]) -> set[str]:
    """Logical ids of the functions an EventBridge rule targets."""
    targets = [t.get("Arn") for props in _of_type(body, "AWS::Events::Rule") for t in props.get("Targets", [])]
    return {str(t["Fn::GetAtt"][0]) for t in targets if isinstance(t, dict) and "Fn::GetAtt" in t}


def template_problems(body: Mapping[str, Any]) -> list[str]:
    """Template functions, subscriptions and schedule rules against the registry, both ways."""
    functions = _functions(body)
    known = set(registry.source_ids())
    out = [
        f"template function {logical_id} ({handler_string(kind, source)}): "
        f"source {source!r} is not declared in pipeline.registry"
        for (kind, source), logical_id in functions.items()
        if source not in known
    ]
    filtered, scheduled = _filtered_sources(body), _scheduled_functions(body)
    out.extend(
        f"template subscription filtered on source {source!r}: not declared in pipeline.registry"
        for source in sorted(filtered - known)
    )
    for source in registry.source_ids():
        out.extend(
            f"source {source!r}: the template has no {kind} function (Handler: {handler_string(kind, source)})"
            for kind in SOURCE_KINDS
            if (kind, source) not in functions
        )
        if source not in filtered:
            out.append(f"source {source!r}: no subscription of the topic filters on it (its queue gets no events)")
        for kind in SCHEDULED_KINDS:
            function = functions.get((kind, source))
            if function is not None and function not in scheduled:
                out.append(f"source {source!r}: no schedule rule targets its {kind} function {function}")
    return out


def _resolve(path: str, what: str, source: str) -> tuple[Any, str | None]:
    try:
        return registry.resolve(path), None
    except (ImportError, AttributeError, ValueError) as exc:
        return None, f"source {source!r}: {what} {path!r} does not resolve ({type(exc).__name__}: {exc})"


def _missing_source_files(module: str) -> list[str]:
    """The modules of a source folder (`pipeline.sources.SOURCE_FILES`) that `module` does not hold."""
    missing = []
    for name in SOURCE_FILES:
        try:
            found = find_spec(f"{module}.{name}") is not None
        except ModuleNotFoundError:  # `module` is no package: it holds nothing
            found = False
        if not found:
            missing.append(name)
    return missing


def spec_problems(spec: SourceSpec) -> list[str]:
    """What one declaration names that does not exist or does not fit."""
    out: list[str] = []
    try:
        module = import_module(spec.module)
    except ImportError as exc:
        return [f"source {spec.id!r}: module {spec.module} does not import ({exc})"]
    missing = _missing_source_files(spec.module)
    if missing:
        out.append(
            f"source {spec.id!r}: module {spec.module} lacks {', '.join(missing)} (a source is a folder of "
            f"{', '.join(SOURCE_FILES)} beside its __init__, which exposes SOURCE)"
        )
    source = getattr(module, "SOURCE", None)
    if source is None:
        out.append(f"source {spec.id!r}: module {spec.module} has no SOURCE (pipeline.sources.base.Source)")
    else:
        out.extend(
            f"source {spec.id!r}: {spec.module}.SOURCE has no {name}()"
            for name in SOURCE_METHODS
            if not callable(getattr(source, name, None))
        )
        if getattr(source, "id", None) != spec.id:
            out.append(f"source {spec.id!r}: {spec.module}.SOURCE.id is {getattr(source, 'id', None)!r}")
    model, problem = _resolve(spec.row_model, "row model", spec.id)
    if problem:
        out.append(problem)
    elif not (isinstance(model, type) and issubclass(model, BaseModel)):
        out.append(f"source {spec.id!r}: row model {spec.row_model!r} is not a pydantic model")
    else:
        out.extend(
            f"source {spec.id!r}: natural key field {name!r} is not a field of {spec.row_model}"
            for name in (*spec.natural_key, *([spec.natural_time] if spec.natural_time else []))
            if name not in model.model_fields
        )
    sink, problem = _resolve(spec.sink, "sink class", spec.id)
    if problem:
        out.append(problem)
    else:
        out.extend(
            f"source {spec.id!r}: sink {spec.sink!r} has no {name}()"
            for name in SINK_METHODS
            if not callable(getattr(sink, name, None))
        )
    return out


def entry_point_problems(source: str) -> list[str]:
    """The entry points of a source's functions that its handler modules do not define (`pipeline.handlers`)."""
    return [
        f"source {source!r}: {handler_module(kind)} has no def {source}(event, context) "
        f"(the entry point of Handler: {handler_string(kind, source)}; copy another source's)"
        for kind in kinds_of(source)
        if entry_point(kind, source) is None
    ]


def extras_problems(spec: SourceSpec, optional: Mapping[str, object]) -> list[str]:
    return [
        f"source {spec.id!r}: {kind} extra {extra!r} is not in pyproject's [project.optional-dependencies]"
        for kind in EXTRA_KINDS
        for extra in spec.extras(kind)
        if extra not in optional
    ]


def problems(template: Mapping[str, Any] | None = None, optional: Mapping[str, object] | None = None) -> list[str]:
    """Every way in which the declared sources are declared in part; empty when all is well.

    `template` defaults to the project's CloudFormation template, `optional` to pyproject's optional dependencies.
    """
    if template is None:
        from workbench.cloudformation.template import load_template

        template = load_template()
    if optional is None:
        from workbench.deploy.functions import optional_dependencies

        optional = optional_dependencies()
    out = template_problems(template)
    for spec in registry.specs():
        out.extend(spec_problems(spec))
        out.extend(entry_point_problems(spec.id))
        out.extend(extras_problems(spec, optional))
    return out
