"""The pipeline's Lambda functions (an ingest, a process and a redrive function per source, and the compaction of
the processed Parquet area) and the dependencies each one needs.

Which extra of pyproject.toml a function needs is stated here once; what an extra contains is read from
pyproject.toml itself, so adding a package to an extra adds it to every layer built from that extra.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipeline import registry
from pipeline.constants import SourceId
from pipeline.errors import PipelineError
from pipeline.handlers import KINDS, Kind, handler_module, handler_string, kinds_of
from pipeline.sources import SOURCE_FILES

# The kinds of function and their handler strings are stated once, in `pipeline.handlers`. The scheduled
# compaction of the processed Parquet area reads and writes Parquet, so it shares its process function's layer.
# The redrive function probes its source's sink, so it needs what the process function needs (and shares its
# layer); the other kinds have their own extras in the registry.
_EXTRAS_OF: Final[dict[Kind, str]] = {
    "ingest": "ingest",
    "process": "process",
    "redrive": "process",
    "compact": "process",
}

# Distributions the Lambda Python runtimes already have on their path (/var/runtime) and that only the AWS
# SDK needs. The runtime also ships python-dateutil, six and urllib3, but at versions AWS picks for its SDK;
# layers keep their own copies of those because pandas and requests need versions the layer resolved.
RUNTIME_PROVIDED: Final = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
PYPROJECT: Final = PROJECT_ROOT / "pyproject.toml"


class PackagingError(PipelineError):
    """Packaging cannot go on (a missing extra, a failed pip install, a function over Lambda's limits)."""


def parse_requirement(requirement: str) -> Requirement:
    try:
        return Requirement(requirement)
    except InvalidRequirement as exc:
        raise PackagingError(f"cannot read requirement {requirement!r} in {PYPROJECT}: {exc}") from None


def canonical_name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (PEP 503): `Foo_Bar>=1` -> `foo-bar`."""
    return canonicalize_name(parse_requirement(requirement).name)


@dataclass(frozen=True)
class Function:
    kind: Kind
    source: SourceId

    @property
    def name(self) -> str:
        """The name the command line and the size report use: `ingest-yahoo_finance`."""
        return f"{self.kind}-{self.source}"

    @property
    def handler(self) -> str:
        return handler_string(self.kind, self.source)

    @property
    def handler_module(self) -> str:
        return handler_module(self.kind)

    @property
    def extras(self) -> tuple[str, ...]:
        return registry.get(self.source).extras(_EXTRAS_OF[self.kind])

    @property
    def lazy_modules(self) -> tuple[str, ...]:
        """The package modules the handler imports on its first call (its source, or its sink)."""
        if self.kind == "ingest":
            return (registry.get(self.source).module,)
        if self.kind == "compact":
            return ("pipeline.sinks.s3parquet.dataset",)
        return (registry.get(self.source).sink_module,)

    def first_call_modules(self) -> tuple[str, ...]:
        """The lazy modules, then the third-party modules they import inside functions (a live first call)."""
        deferred = [name for module in self.lazy_modules for name in deferred_imports(module)]
        return (*self.lazy_modules, *dict.fromkeys(deferred))

    @property
    def layer_name(self) -> str:
        """Functions that need the same extras share one layer."""
        return "deps-" + "-".join(sorted(self.extras))


def deferred_imports(module: str) -> list[str]:
    """Third-party modules that `module` (a source folder: its __init__ and its `SOURCE_FILES`) imports inside its
    functions rather than at the top of the file."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise PackagingError(f"module {module} not found: is the package installed (pip install -e .)?")
    files = [Path(spec.origin)]
    if spec.submodule_search_locations:  # a source folder: its fetch, parse... import the client libraries
        files += [path for name in SOURCE_FILES if (path := Path(spec.origin).with_name(f"{name}.py")).is_file()]
    found: list[str] = []
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [alias.name for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                    found.append(inner.module)
    top_levels = {"pipeline", *sys.stdlib_module_names}
    return list(dict.fromkeys(name for name in found if name.split(".")[0] not in top_levels))


def all_functions() -> tuple[Function, ...]:
    """The pipeline's Lambda functions: an ingest, a process and a scheduled redrive function per declared source,
    and the scheduled compaction of each source whose sink is the processed Parquet area."""
    return tuple(
        Function(kind, source) for kind in KINDS for source in registry.source_ids() if kind in kinds_of(source)
    )


def get_function(name: str) -> Function:
    for function in all_functions():
        if function.name == name:
            return function
    names = ", ".join(f.name for f in all_functions())
    raise PackagingError(f"unknown function {name!r}: expected one of {names}")


@cache
def _pyproject(path: Path = PYPROJECT) -> dict[str, object]:
    if not path.is_file():
        raise PackagingError(f"{path} not found: build layers from a checkout of the project")
    with path.open("rb") as handle:
        return tomllib.load(handle)


def optional_dependencies(pyproject: Path = PYPROJECT) -> dict[str, list[str]]:
    """pyproject's [project.optional-dependencies]: extra -> requirement strings."""
    project = _pyproject(pyproject)["project"]
    assert isinstance(project, dict)
    return dict(project.get("optional-dependencies", {}))


def requirements(extras: tuple[str, ...], pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement strings a layer resolves: the base dependencies plus the extras.

    boto3 stays in the resolution so that what it shares with other packages (python-dateutil, urllib3) is
    resolved to versions the AWS SDK accepts; trimming then removes the SDK itself (`RUNTIME_PROVIDED`).
    """
    project = _pyproject(pyproject)["project"]
    assert isinstance(project, dict)
    optional = optional_dependencies(pyproject)
    own_name = canonical_name(project["name"])
    wanted: list[str] = list(project.get("dependencies", []))
    pending = list(extras)
    seen: set[str] = set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise PackagingError(f"extra {extra!r} is not in [project.optional-dependencies] of {pyproject}")
        for requirement in optional[extra]:
            parsed = parse_requirement(requirement)
            if canonicalize_name(parsed.name) == own_name:  # market-data-pipeline[a,b] refers to other extras
                pending.extend(sorted(parsed.extras))
            else:
                wanted.append(requirement)
    return sorted(set(wanted), key=lambda r: (canonical_name(r), r))
