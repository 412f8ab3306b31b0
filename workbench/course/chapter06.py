"""The checkers of chapter 06 (Lambda layers)."""

from __future__ import annotations

import numbers
from typing import Any

from workbench.course.exercises import NotYet, exercise
from workbench.course.sizes import measured_layer_sizes

DEFAULT_CANDIDATES = ("boto3", "pandas", "botocore", "pyarrow", "s3transfer", "pydantic")


def _names(answer: Any) -> set[str]:
    """Package names however they are written: a set, list or tuple of names, or one name; any case, - or _."""
    if isinstance(answer, str):
        answer = {answer}
    if not isinstance(answer, set | frozenset | list | tuple) or not all(isinstance(n, str) for n in answer):
        raise NotYet(
            "name the packages a layer leaves out, as a set of names such as {'name', 'name'}: the runtime "
            "provides each of them, so each is left out on its own."
        )
    return {n.strip().lower().replace("_", "-") for n in answer}


@exercise("06.runtime_provided", "which of these packages a layer drops because the Lambda runtime has them")
def _runtime_provided(answer: Any, *, candidates: tuple[str, ...] = (), **_: Any) -> str:
    from workbench.deploy.functions import RUNTIME_PROVIDED

    asked = set(candidates or DEFAULT_CANDIDATES)
    expected = asked & RUNTIME_PROVIDED
    given = _names(answer)
    unknown = sorted(given - asked)
    if unknown:
        raise NotYet(f"{unknown[0]} is not one of the packages asked about: choose among {', '.join(sorted(asked))}.")
    wrong = sorted(given - expected)
    if wrong:
        raise NotYet(
            f"{wrong[0]} is not part of the Lambda runtime (only the AWS SDK is): a function that imports it needs "
            "it in its layer."
        )
    missing = sorted(expected - given)
    if missing:
        raise NotYet(
            f"{missing[0]} comes with the Python runtime too (the AWS SDK and what it needs): no layer ships it."
        )
    return f"{', '.join(sorted(expected))}: the AWS SDK and what it needs, which every Python runtime has."


def _records(sizes: Any) -> list[dict[str, Any]]:
    table = sizes if sizes is not None else measured_layer_sizes()["functions"]
    return [dict(r) for r in (table.to_dict("records") if hasattr(table, "to_dict") else table)]


def _pair(answer: Any) -> tuple[Any, Any]:
    if isinstance(answer, dict) and len(answer) == 1:  # {"ingest-x": 68}
        answer = next(iter(answer.items()))
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise NotYet(
            'two things are asked, which function and how much room it has left: answer ("function name", MB to spare).'
        )
    return answer[0], answer[1]


@exercise("06.heaviest", "the function closest to Lambda's 250 MB limit, and its MB to spare (whole MB)")
def _heaviest(answer: Any, *, sizes: Any = None, **_: Any) -> str:
    from workbench.deploy.sizes import MB, UNZIPPED_LIMIT

    rows = _records(sizes)
    unzipped = {r["function"]: r["code_unzipped"] + r["layer_unzipped"] for r in rows}
    top = max(unzipped, key=unzipped.__getitem__)
    name, mb = _pair(answer)
    if name != top:
        raise NotYet(_heaviest_mistake(name, rows, unzipped))
    if isinstance(mb, bool) or not isinstance(mb, numbers.Real):
        raise NotYet(f"the room to spare is a number of MB (the limit minus code and layer), not the text {mb!r}.")
    spare = UNZIPPED_LIMIT - unzipped[top]
    if abs(float(mb) - spare / MB) <= 1 or abs(float(mb) - spare / 1e6) <= 1:  # MB of 2**20 bytes, or of 10**6
        return f"{top}, with {spare / MB:.0f} MB to spare."
    raise NotYet(_spare_mistake(float(mb), rows, top, spare))


def _heaviest_mistake(name: Any, rows: list[dict[str, Any]], unzipped: dict[str, int]) -> str:
    if name not in unzipped:
        return f"{name!r} is not a function of the table: its names are in the function column."
    zipped = [r["function"] for r in rows if "layer_zipped" in r]
    if zipped and name == max(rows, key=lambda r: r.get("code_zipped", 0) + r["layer_zipped"])["function"]:
        return f"{name} is the heaviest zipped, but Lambda's 250 MB limit is on the unzipped size."
    return f"{name} is not the heaviest: add code and layer, unzipped, for each function; both count toward the limit."


def _spare_mistake(mb: float, rows: list[dict[str, Any]], top: str, spare: int) -> str:
    from workbench.deploy.sizes import MB

    row = next(r for r in rows if r["function"] == top)
    if abs(mb - (spare + row["code_unzipped"]) / MB) <= 1:
        return "you left the code package out: the limit is on code and layer together, unzipped."
    if abs(mb - (row["code_unzipped"] + row["layer_unzipped"]) / MB) <= 1:
        return "that is what the function uses, not what it has to spare: take it from the limit."
    if mb > 1000:
        return "that is in bytes (or KB): the room to spare is asked in MB."
    return "the spare room is Lambda's 250 MB limit (262,144,000 bytes) minus code and layer, unzipped."


# -- 06.layer_requirements: the requirement set of one function's layer, written by the learner -----------------

DEFAULT_FUNCTION = "process-openexchangerates"


def _requirements(answer: Any) -> dict[str, Any]:
    """The answer's requirements by distribution name, however they are written: a set, list or tuple of names or
    requirement strings ("pymssql>=2.3"), or the text of a requirements file (one a line, # comments); any case,
    - or _ or ."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    if isinstance(answer, str):
        answer = [line.split("#")[0] for line in answer.splitlines()]
    if not isinstance(answer, set | frozenset | list | tuple) or not all(isinstance(n, str) for n in answer):
        raise NotYet(
            "a layer's requirement set is a few distribution names, as pip takes them: write a set of names "
            "such as {'name', 'name'} (or the lines of a requirements file)."
        )
    found: dict[str, Any] = {}
    for item in (n.strip() for n in answer):
        if not item:
            continue
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            if "," in item and all(_readable(part) for part in item.split(",")):
                raise NotYet(
                    f"{item!r} holds several requirements: pip reads one a line (a requirements file) or one per item "
                    "of a set, such as {'boto3', 'pydantic'}."
                ) from None
            raise NotYet(
                f"{item!r} is not a requirement pip can read: write a distribution's name, such as 'pymssql'."
            ) from None
        found[str(canonicalize_name(requirement.name))] = requirement
    return found


def _readable(text: str) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text.strip())
    except InvalidRequirement:
        return False
    return bool(text.strip())


def _requirement_names(answer: Any) -> set[str]:
    """The answer's distribution names (`_requirements`)."""
    return set(_requirements(answer))


def _near(version: Any) -> set[Any]:
    """A version and two just above it (a later patch and, for a final release, its next post-release): the versions
    a range's bound lets in or keeps out."""
    from packaging.version import Version

    release = ".".join(map(str, version.release))
    near = {version, Version(f"{release}.0.1")}
    if version.pre is None and version.dev is None:
        near.add(Version(f"{release}.post{(version.post or 0) + 1}"))
    return near


def _compatible(yours: Any, theirs: Any) -> bool:
    """Whether some version meets both specifier sets: tried on every version either names, and just above it."""
    from packaging.version import Version

    tried = {Version("0"), Version("99999")}
    for spec in (*yours, *theirs):
        tried |= _near(Version(spec.version.removesuffix(".*")))
    return any(yours.contains(v, prereleases=True) and theirs.contains(v, prereleases=True) for v in tried)


# The environment pip installs the layer for: Lambda's Amazon Linux, CPython 3.13, x86_64 (`workbench.deploy.layers`).
LAMBDA_ENVIRONMENT = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "extra": "",
                      "platform_machine": "x86_64", "python_version": "3.13", "python_full_version": "3.13.0",
                      "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip


def _marker_mistake(written: dict[str, Any]) -> str | None:
    """A requirement whose environment marker is false on Lambda: pip skips it there, so the layer lacks it."""
    for name, requirement in sorted(written.items()):
        if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_ENVIRONMENT):
            return (
                f"{requirement} holds the marker {requirement.marker}, which is false where the layer runs (Lambda: "
                f"Linux, Python 3.13, x86_64): pip would skip it and the layer would lack {name}; write {name} "
                "without a marker"
            )
    return None


def _brought_by(name: str, wanted: set[str]) -> str | None:
    """The requirement of the set that brings `name` into the layer (pip installs it as a dependency of a dependency,
    as the installed distributions declare for Lambda's environment), or None; the nearest, all that are as near."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def needs(distribution: str) -> set[str]:
        try:
            listed = requires(distribution) or []
        except PackageNotFoundError:
            return set()
        found = (Requirement(r) for r in listed)
        return {
            str(canonicalize_name(r.name)) for r in found if r.marker is None or r.marker.evaluate(LAMBDA_ENVIRONMENT)
        }

    reached = {top: needs(top) for top in sorted(wanted)}
    for _ in range(4):  # a dependency of a requirement first, then of a dependency, and so on
        bringers = [top for top, names in reached.items() if name in names]
        if bringers:
            return bringers[0] if len(bringers) == 1 else f"{', '.join(bringers[:-1])} and {bringers[-1]}"
        reached = {top: names | {d for n in names for d in needs(n)} for top, names in reached.items()}
    return None


def _range_mistake(given: dict[str, Any], ranges: dict[str, Any]) -> tuple[str | None, list[str]]:
    """A requirement whose version range or extras pyproject.toml's contradicts (the mistake), and the ones that
    differ from pyproject's without contradicting it (named in the right verdict: the layer takes pyproject's)."""
    differ: list[str] = []
    for name, requirement in sorted(given.items()):
        theirs = ranges.get(name)
        if theirs is None:
            continue
        if requirement.extras - theirs.extras:
            extra = sorted(requirement.extras - theirs.extras)[0]
            return (
                f"{requirement} asks for the extra {extra!r} of {theirs.name}, which pyproject.toml does not: pip "
                f"would add what that extra brings, a layer built from pyproject's {theirs} does not; write {name}"
            ), differ
        if not _compatible(requirement.specifier, theirs.specifier):
            return (
                f"{requirement} leaves no version pyproject.toml allows ({theirs}): the layer is built from "
                f"pyproject's range, so write the name alone, {name}"
            ), differ
        if requirement.specifier and requirement.specifier != theirs.specifier:
            differ.append(f"{requirement} ({theirs} in pyproject.toml)")
    return None, differ


def _derived(function_name: str) -> tuple[set[str], set[str], dict[str, list[str]]]:
    """The layer's requirement names as `workbench.deploy.functions` derives them, the base dependencies' names,
    and, for every other extra's distribution, the extras it comes from (a function family's first, the tools'
    after)."""
    from workbench.deploy.functions import canonical_name, get_function, optional_dependencies, requirements

    function = get_function(function_name)
    wanted = {canonical_name(r) for r in requirements(function.extras)}
    base = {canonical_name(r) for r in requirements(())}
    elsewhere: dict[str, list[str]] = {}
    for extra, listed in optional_dependencies().items():
        for name in (canonical_name(r) for r in listed):
            if name not in wanted and not name.startswith("market-data-pipeline"):
                elsewhere.setdefault(name, []).append(extra)
    return wanted, base, elsewhere


def _other_extra(name: str, extras: list[str], function_name: str) -> str:
    """Why `name`, from `extras`, is not in the function's layer: the extra of the function's source (the ingest's,
    the likeliest to be taken for it) first, else the extras that list it."""
    from workbench.deploy.functions import all_functions

    source = function_name.split("-", 1)[-1]
    if source in extras:
        users = ", ".join(f.name for f in all_functions() if source in f.extras)
        return (
            f"{name} comes from the extra {source!r}, the one that fetches the source ({users}): {function_name} "
            "reads the raw file and writes its sink, so its layer holds its own extra, not the source's."
        )
    named = " and ".join(repr(e) for e in extras)
    return (
        f"{name} comes from the extra{'s' if len(extras) > 1 else ''} {named}, which {function_name} does not use: "
        "it would add its megabytes to a layer whose function never imports it."
    )


@exercise("06.layer_requirements", "the requirement set (distribution names) of one function's layer")
def _layer_requirements(answer: Any, *, function: str = DEFAULT_FUNCTION, **_: Any) -> str:
    from packaging.requirements import Requirement

    from workbench.deploy.functions import RUNTIME_PROVIDED, canonical_name, get_function, requirements

    written = _requirements(answer)
    if (marker := _marker_mistake(written)) is not None:
        raise NotYet(f"{marker}.")
    given = set(written)
    wanted, base, elsewhere = _derived(function)
    extras = ", ".join(get_function(function).extras)
    for name in sorted(given - wanted):
        if name in get_function(function).extras:
            raise NotYet(
                f"{name!r} is the name of the extra, not a distribution: the set lists what the extra expands to "
                "in pyproject.toml, with the base dependencies."
            )
        if name == "market-data-pipeline":
            raise NotYet(
                "market-data-pipeline is the project itself, whose code is the function's package: the layer holds "
                "what that code imports, the base dependencies and the extra's, by their own names."
            )
        if name not in RUNTIME_PROVIDED and (top := _brought_by(name, wanted)) is not None:
            raise NotYet(
                f"{name} is already in the layer through {top} (pip installs it as a dependency): the set "
                f"names what pyproject.toml lists for {function}, the base dependencies and its extra ({extras}); "
                "pip resolves what those depend on."
            )
        if name in elsewhere:
            raise NotYet(_other_extra(name, elsewhere[name], function))
        if name in RUNTIME_PROVIDED:
            raise NotYet(
                f"{name} comes with boto3 (pip resolves it): a requirement set names what the function asks for, "
                "and pip installs what those need."
            )
        raise NotYet(
            f"{name} is not a requirement of {function}: the set is the base dependencies of pyproject.toml plus "
            f"its extra ({extras}); pip resolves what those depend on."
        )
    for name in sorted(wanted - given):
        if name == "boto3":
            raise NotYet(
                "boto3 stays in the set although the layer drops it after pip: it makes pip choose versions of "
                "what boto3 shares with other packages (urllib3, python-dateutil) that the runtime's SDK accepts."
            )
        if name in base:
            raise NotYet(
                f"{name} is a base dependency ([project] dependencies of pyproject.toml): every function imports "
                "it, so every layer holds it."
            )
        raise NotYet(f"{name} is what the extra {extras!r} adds: {function} imports it to reach its sink or source.")
    ranges = {canonical_name(r): Requirement(r) for r in requirements(get_function(function).extras)}
    mistake, differ = _range_mistake(written, ranges)
    if mistake is not None:
        raise NotYet(f"{mistake}.")
    note = f" The layer takes pyproject's version ranges, not yours: {'; '.join(differ)}." if differ else ""
    return (
        f"{', '.join(sorted(wanted))}: the base dependencies plus the extra {extras!r}, as "
        f"workbench.deploy.functions derives them.{note}"
    )


def your_layer(function_name: str, names: Any) -> Any:
    """The LayerSpec of `function_name`'s layer built from the learner's requirement names: each name with the
    version range pyproject.toml gives it, so a right set is the very layer `layer build` makes (same cache key)."""
    from workbench.deploy.functions import canonical_name, get_function, requirements
    from workbench.deploy.layers import LayerSpec

    function = get_function(function_name)
    ranges = {canonical_name(r): r for r in requirements(function.extras)}
    chosen = tuple(sorted(ranges.get(name, name) for name in _requirement_names(names)))
    return LayerSpec(function.layer_name, function.extras, chosen)


def size_frame(sizes: Any) -> Any:
    """Function sizes (FunctionSize objects or their dicts) as a table narrow enough for a notebook column: the
    columns `size_table` draws, less the code package (the same for every function) and the share of the budget."""
    import pandas as pd

    from workbench.deploy.sizes import BUDGET, MB

    rows = [s if isinstance(s, dict) else s.__dict__ for s in sizes]
    frame = pd.DataFrame(rows).set_index("function")
    unzipped = frame["code_unzipped"] + frame["layer_unzipped"]
    return pd.DataFrame({
        "layer": frame["layer"],
        "layer MB": (frame["layer_unzipped"] / MB).round(1),
        "unzipped MB": (unzipped / MB).round(1),
        "zipped MB": ((frame["code_zipped"] + frame["layer_zipped"]) / MB).round(1),
        f"MB to the {BUDGET / MB:.0f} budget": ((BUDGET - unzipped) / MB).round(1),
    })  # fmt: skip
