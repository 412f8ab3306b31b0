"""`python -m pipeline course ...`: the course's maintenance commands.

- `course notebooks [NAME...]`: re-execute the committed notebooks in place, in order, on a fresh local stack of
  their own, with clean outputs (what `make notebooks` runs);
- `course layer-sizes`: record a full layer build's sizes in `workbench/data/layer_sizes.json`, which notebook 06
  shows when no full build is on the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

course_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


@course_app.command("notebooks")
def notebooks(
    names: Annotated[
        list[str] | None, typer.Argument(help="Only these notebooks (file names or their number, e.g. 06)")
    ] = None,
    timeout: Annotated[int, typer.Option(help="Seconds a cell may run")] = 900,
) -> None:
    """Re-execute the course's notebooks in place, top to bottom and in order, on a fresh local stack of their
    own; a notebook is written back only if it ran to the end with clean outputs."""
    from workbench.course.runner import course_notebooks, refresh_notebooks

    every = course_notebooks()
    chosen = every
    if names:
        chosen = [p for p in every if p.name in names or p.name[:2] in names]
        unknown = sorted(set(names) - {p.name for p in chosen} - {p.name[:2] for p in chosen})
        if unknown:
            course = ", ".join(p.name for p in every)
            raise _fail(ValueError(f"no notebook {', '.join(unknown)}: the course has {course}"))
    try:
        refresh_notebooks(chosen, report=console.print, timeout=timeout)
    except RuntimeError as exc:
        raise _fail(exc) from None


@course_app.command("layer-sizes")
def layer_sizes(
    build_dir: Annotated[
        Path | None, typer.Option("--from", help="The layer build's folder (default build/layers)")
    ] = None,
) -> None:
    """Record the sizes of a full `python -m pipeline layer build` (every function, bytecode of the runtime's
    Python) in workbench/data/layer_sizes.json, with the date and the runtime."""
    from workbench.course.sizes import LAYER_SIZES, record_layer_sizes

    try:
        document = record_layer_sizes(build_dir)
    except RuntimeError as exc:
        raise _fail(exc) from None
    measured = document["measured"]
    console.print(
        f"{LAYER_SIZES}: {len(document['functions'])} functions, {measured['runtime']}, measured {measured['on']}"
    )
