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
