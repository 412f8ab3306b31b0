"""Is every source declared in full? The registry, the source and sink modules and the template, checked together.

A source is declared once in `pipeline.registry`, but it also needs modules that exist (its `SOURCE`, its row
model, its sink) and two Lambda functions in the CloudFormation template. `problems()` lists, one line each,
every place where that is not so: a template function whose source the registry does not know, a declared source
without both template functions, a sink or row model path that does not resolve, a source module without
`SOURCE`. The test suite asserts it finds nothing; CONTRIBUTING.md's checklist follows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any, Final

from pydantic import BaseModel

from pipeline import registry
from pipeline.registry import SourceSpec

KINDS: Final = ("ingest", "process")
HANDLER_PREFIX: Final = "pipeline.handlers."
FUNCTION_TYPE: Final = "AWS::Lambda::Function"
SOURCE_METHODS: Final = ("fetch", "parse", "load_payload")
SINK_METHODS: Final = ("from_settings", "load", "close", "stored_rows")


def source_handler(handler: str) -> tuple[str, str] | None:
    """(kind, source) of a source's handler string `pipeline.handlers.<ingest|process>.<source>`, else None
    (another function of the stack, such as a scheduled redrive, maps to no source)."""
    kind, _, source = handler.removeprefix(HANDLER_PREFIX).partition(".")
    if not handler.startswith(HANDLER_PREFIX) or kind not in KINDS or not source or "." in source:
        return None
    return kind, source


def template_problems(body: Mapping[str, Any]) -> list[str]:
    """Template functions against the registry, both ways."""
    found: set[tuple[str, str]] = set()
    out: list[str] = []
    known = set(registry.source_ids())
    for logical_id, resource in body.get("Resources", {}).items():
        if resource.get("Type") != FUNCTION_TYPE:
            continue
        handler = str(resource.get("Properties", {}).get("Handler", ""))
        pair = source_handler(handler)
        if pair is None:
            continue
        found.add(pair)
        if pair[1] not in known:
            out.append(
                f"template function {logical_id} ({handler}): source {pair[1]!r} is not declared in pipeline.registry"
            )
    for source in registry.source_ids():
        out.extend(
            f"source {source!r}: the template has no {kind} function (Handler: {HANDLER_PREFIX}{kind}.{source})"
            for kind in KINDS
            if (kind, source) not in found
        )
    return out


def _resolve(path: str, what: str, source: str) -> tuple[Any, str | None]:
    try:
        return registry.resolve(path), None
    except (ImportError, AttributeError, ValueError) as exc:
        return None, f"source {source!r}: {what} {path!r} does not resolve ({type(exc).__name__}: {exc})"


def spec_problems(spec: SourceSpec) -> list[str]:
    """What one declaration names that does not exist or does not fit."""
    out: list[str] = []
    try:
        module = import_module(spec.module)
    except ImportError as exc:
        return [f"source {spec.id!r}: module {spec.module} does not import ({exc})"]
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


def extras_problems(spec: SourceSpec, optional: Mapping[str, object]) -> list[str]:
    return [
        f"source {spec.id!r}: {kind} extra {extra!r} is not in pyproject's [project.optional-dependencies]"
        for kind in KINDS
        for extra in spec.extras(kind)
        if extra not in optional
    ]


def problems(template: Mapping[str, Any] | None = None, optional: Mapping[str, object] | None = None) -> list[str]:
    """Every way in which the declared sources are declared in part; empty when all is well.

    `template` defaults to the project's CloudFormation template, `optional` to pyproject's optional dependencies.
    """
    if template is None:
        from pipeline.cloudformation.template import load_template

        template = load_template()
    if optional is None:
        from pipeline.deploy.functions import optional_dependencies

        optional = optional_dependencies()
    out = template_problems(template)
    for spec in registry.specs():
        out.extend(spec_problems(spec))
        out.extend(extras_problems(spec, optional))
    return out
