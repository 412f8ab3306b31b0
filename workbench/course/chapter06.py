"""The checkers of chapter 06 (Lambda layers)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise
from workbench.course.sizes import measured_layer_sizes


@exercise("06.runtime_provided", "which of these packages a layer drops because the Lambda runtime has them")
def _runtime_provided(answer: Any, *, candidates: tuple[str, ...] = (), **_: Any) -> str:
    from workbench.deploy.functions import RUNTIME_PROVIDED

    asked = set(candidates) or {"boto3", "pandas", "botocore", "pyarrow", "s3transfer", "pydantic"}
    if not isinstance(answer, set | frozenset | list | tuple):
        raise NotYet("the answer should be a set of package names.")
    expected = asked & RUNTIME_PROVIDED
    wrong = sorted(set(answer) - expected)
    if wrong:
        raise NotYet(f"{wrong[0]} is not part of the runtime: a function that imports it needs it in its layer.")
    missing = sorted(expected - set(answer))
    if missing:
        raise NotYet(f"{missing[0]} comes with the Python runtime too: its layer does not ship it.")
    return f"{', '.join(sorted(expected))}: the AWS SDK and what it needs, which every Python runtime has."


@exercise("06.heaviest", "the function closest to Lambda's 250 MB limit, and its MB to spare (whole MB)")
def _heaviest(answer: Any, *, sizes: Any = None, **_: Any) -> str:
    from workbench.deploy.sizes import UNZIPPED_LIMIT

    table = sizes if sizes is not None else measured_layer_sizes()["functions"]
    rows = [dict(r) for r in (table.to_dict("records") if hasattr(table, "to_dict") else table)]
    top = max(rows, key=lambda r: r["code_unzipped"] + r["layer_unzipped"])
    spare = (UNZIPPED_LIMIT - top["code_unzipped"] - top["layer_unzipped"]) / 2**20
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise NotYet('the answer should be a pair ("function name", MB to spare).')
    name, mb = answer
    if name != top["function"]:
        raise NotYet(f"{name} is not the heaviest: add code and layer, unzipped, for each function.")
    if not isinstance(mb, int | float) or abs(mb - spare) > 1:
        raise NotYet(f"the spare room is the limit ({UNZIPPED_LIMIT / 2**20:.0f} MB) minus code and layer, unzipped.")
    return f"{top['function']}, with {spare:.0f} MB to spare."
