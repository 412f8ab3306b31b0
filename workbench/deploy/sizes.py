"""Each function's size (its code plus its layer) against the project's budget and Lambda's limits, as a table
and as JSON.

Lambda allows 250 MB unzipped for a function and its layers. The project keeps every function within 150 MB, so
a dependency added later (a market calendar, a new client) has room and a cold start stays short.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

from workbench.deploy.archive import Artifact
from workbench.deploy.functions import Function, PackagingError

MB: Final = 1024 * 1024
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
UNZIPPED_LIMIT: Final = 262_144_000  # 250 MB: the function and all its layers, unzipped
DIRECT_UPLOAD_LIMIT: Final = 52_428_800  # 50 MB: a zip uploaded directly (through S3 it may be larger)
BUDGET: Final = 150 * MB  # the project's own limit per function, code and layers unzipped


@dataclass(frozen=True)
class FunctionSize:
    function: str
    handler: str
    layer: str
    code_unzipped: int
    layer_unzipped: int
    code_zipped: int
    layer_zipped: int

    @property
    def unzipped(self) -> int:
        return self.code_unzipped + self.layer_unzipped

    @property
    def zipped(self) -> int:
        return self.code_zipped + self.layer_zipped

    @property
    def share_of_limit(self) -> float:
        return self.unzipped / UNZIPPED_LIMIT

    @property
    def within_limit(self) -> bool:
        return self.unzipped <= UNZIPPED_LIMIT

    @property
    def share_of_budget(self) -> float:
        return self.unzipped / BUDGET

    @property
    def within_budget(self) -> bool:
        return self.unzipped <= BUDGET


def function_sizes(functions: tuple[Function, ...], code: Artifact, layers: dict[str, Artifact]) -> list[FunctionSize]:
    return [
        FunctionSize(
            function=f.name,
            handler=f.handler,
            layer=f.layer_name,
            code_unzipped=code.unzipped,
            layer_unzipped=layers[f.layer_name].unzipped,
            code_zipped=code.zipped,
            layer_zipped=layers[f.layer_name].zipped,
        )
        for f in functions
    ]


def check_limits(sizes: list[FunctionSize]) -> None:
    """Fail, in one line, on the first function Lambda would refuse or that is over the project's budget."""
    for size in sizes:
        if not size.within_limit:
            raise PackagingError(
                f"function {size.function} is {size.unzipped / MB:.1f} MB unzipped with layer {size.layer}, over "
                f"Lambda's {UNZIPPED_LIMIT / MB:.0f} MB limit: move a dependency out of its extra or trim it"
            )
        if not size.within_budget:
            raise PackagingError(
                f"function {size.function} is {size.unzipped / MB:.1f} MB unzipped with layer {size.layer}, over "
                f"the project's {BUDGET / MB:.0f} MB budget (Lambda allows {UNZIPPED_LIMIT / MB:.0f}): move a "
                "dependency out of its extra or trim it (workbench/deploy/layers.py)"
            )


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"


def size_table(
    sizes: list[FunctionSize],
    cached: dict[str, bool] | None = None,
    runtime: str | None = None,
    bytecode_by: str | None = None,
) -> Table:
    title = (
        f"Lambda package sizes, MB (budget {BUDGET / MB:.0f} unzipped for code + layers, Lambda's limit "
        f"{UNZIPPED_LIMIT / MB:.0f}; 50 zipped for a direct upload)"
    )
    if runtime:
        title += f"\nruntime {runtime}; bytecode: " + (bytecode_by or "none (no runtime Python here)")
    table = Table(title=title)
    for column in ("function", "layer", "code", "layer MB", "unzipped", "of 150", "zipped", "headroom"):
        left = column in ("function", "layer")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for size in sizes:
        layer = size.layer + (" (cached)" if cached and cached.get(size.layer) else "")
        style = "red" if not size.within_budget else ("yellow" if size.share_of_budget > 0.9 else None)
        table.add_row(
            size.function,
            layer,
            _mb(size.code_unzipped),
            _mb(size.layer_unzipped),
            _mb(size.unzipped),
            f"{size.share_of_budget:.0%}",
            _mb(size.zipped),
            _mb(BUDGET - size.unzipped),
            style=style,
        )
    return table


def _function_entry(size: FunctionSize) -> dict[str, object]:
    return {
        **asdict(size),
        "unzipped": size.unzipped,
        "zipped": size.zipped,
        "share_of_limit": round(size.share_of_limit, 4),
        "within_limit": size.within_limit,
        "share_of_budget": round(size.share_of_budget, 4),
        "within_budget": size.within_budget,
    }


def write_sizes(
    path: Path,
    sizes: list[FunctionSize],
    code: Artifact,
    layers: dict[str, Artifact],
    *,
    runtime: str | None = None,
    bytecode_by: str | None = None,
) -> None:
    document = {
        "runtime": runtime,
        "bytecode_by": bytecode_by,
        "limits": {
            "unzipped_bytes": UNZIPPED_LIMIT,
            "budget_unzipped_bytes": BUDGET,
            "direct_upload_zipped_bytes": DIRECT_UPLOAD_LIMIT,
        },
        "code": {"zip": code.path.name, "unzipped": code.unzipped, "zipped": code.zipped, "sha256": code.sha256},
        "layers": {
            name: {"zip": a.path.name, "unzipped": a.unzipped, "zipped": a.zipped, "sha256": a.sha256}
            for name, a in sorted(layers.items())
        },
        "functions": [_function_entry(s) for s in sizes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def print_sizes(
    console: Console,
    sizes: list[FunctionSize],
    cached: dict[str, bool] | None = None,
    runtime: str | None = None,
    bytecode_by: str | None = None,
) -> None:
    console.print(size_table(sizes, cached, runtime, bytecode_by))
