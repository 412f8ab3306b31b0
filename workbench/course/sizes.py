"""Measured sizes and import times of the functions' packages, which notebook 06 shows when no full layer build
is on this machine, and the command that records them (`python -m pipeline course layer-sizes`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.course.bootstrap import project_root

LAYER_SIZES = Path(__file__).resolve().parents[1] / "data" / "layer_sizes.json"
# Files of a package that one layer for everything could leave out (the Parquet sink's pyarrow is the largest).
HEAVIEST_OPTIONAL = "pyarrow"


def measured_layer_sizes(path: Path = LAYER_SIZES) -> dict[str, Any]:
    """The sizes `python -m pipeline layer build` measured for every function, with the date of the build:
    what notebook 06 shows when there is no full build on this machine (`record_layer_sizes` writes the file)."""
    return dict(json.loads(path.read_text()))


def measured_function_sizes(measured: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every function of the function table with its size from the measured layers: a function's package is the
    code package (one for all) plus its layer, so a function added since the build that shares a measured layer
    has a measured size too. A function whose layer was not measured is an error that says how to measure it."""
    from workbench.deploy.functions import all_functions

    sizes = measured or measured_layer_sizes()
    code, layers = sizes["code"], sizes["layers"]
    missing = sorted({f.layer_name for f in all_functions()} - set(layers))
    if missing:
        raise RuntimeError(
            f"{LAYER_SIZES.name} measured no {', '.join(missing)}: run `python -m pipeline layer build` and "
            "`python -m pipeline course layer-sizes`"
        )
    return [
        {
            "function": f.name,
            "handler": f.handler,
            "layer": f.layer_name,
            "code_unzipped": code["unzipped"],
            "layer_unzipped": layers[f.layer_name]["unzipped"],
            "code_zipped": code["zipped"],
            "layer_zipped": layers[f.layer_name]["zipped"],
        }
        for f in all_functions()
    ]


IMPORT_TIMES = project_root() / "benchmarks" / "results" / "importtime.md"


def measured_import_times(path: Path = IMPORT_TIMES) -> dict[str, Any]:
    """What `make bench` (benchmarks/bench_importtime.py) measured: the date, the Python that ran it, and per
    function the import time from its built layer with the bytecode it ships and without (ms); {} without the
    file. Notebook 06 quotes it."""
    import re

    if not path.is_file():
        return {}
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("| function | modules |")]
    if not header:
        return {}
    columns = [c.strip() for c in header[0].strip("|").split("|")]
    with_bytecode, without = columns.index("layer total"), columns.index("layer total, no bytecode")
    functions: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(columns) and re.fullmatch(r"[a-z]+-[a-z_]+", cells[0]):
            try:
                functions[cells[0]] = {
                    "with_bytecode_ms": float(cells[with_bytecode].replace(",", "")),
                    "without_bytecode_ms": float(cells[without].replace(",", "")),
                }
            except ValueError:  # a table of another benchmark, or no layer measured
                continue
    on = re.search(r"Measured (\d{4}-\d{2}-\d{2})", text)
    python = re.search(r"\(Python (\d+\.\d+)", text)
    return {"on": on.group(1) if on else None, "python": python.group(1) if python else None, "functions": functions}


def _one_layer(zips: list[Path]) -> dict[str, int]:
    """Unzipped bytes of one layer holding every function's dependencies: the union of the layers' files (the
    same pinned wheels, so a path shared by two layers holds the same file), with and without pyarrow."""
    import zipfile

    files: dict[str, int] = {}
    for path in zips:
        with zipfile.ZipFile(path) as archive:
            files.update({i.filename: i.file_size for i in archive.infolist() if not i.is_dir()})
    top = (name.split("/")[1] if name.startswith("python/") else name.split("/")[0] for name in files)
    optional = [
        size
        for name, size, first in zip(files, files.values(), top, strict=True)
        if first == HEAVIEST_OPTIONAL or first.startswith((f"{HEAVIEST_OPTIONAL}-", f"{HEAVIEST_OPTIONAL}."))
    ]
    total = sum(files.values())
    return {"unzipped": total, f"unzipped_without_{HEAVIEST_OPTIONAL}": total - sum(optional)}


def record_layer_sizes(build_dir: Path | None = None, out: Path = LAYER_SIZES, *, on: Any = None) -> dict[str, Any]:
    """Write `workbench/data/layer_sizes.json` from a full `python -m pipeline layer build` in `build_dir`
    (default: the build's own folder): its `sizes.json`, the date, the runtime and the Python that compiled the
    bytecode, and the size one layer for everything would have. Refuses a build that lacks a function of the
    function table, or whose bytecode came from no Python of the runtime's version (the sizes would not be those
    of a deploy). `python -m pipeline course layer-sizes` runs it."""
    from datetime import UTC, datetime

    from workbench.deploy.build import DEFAULT_OUT, SIZES_FILE
    from workbench.deploy.functions import all_functions
    from workbench.deploy.runtime import lambda_runtime

    folder = build_dir or DEFAULT_OUT
    sizes_path = folder / SIZES_FILE
    if not sizes_path.is_file():
        raise RuntimeError(f"no {sizes_path}: run `python -m pipeline layer build` first (every function)")
    built = json.loads(sizes_path.read_text())
    wanted = {f.name for f in all_functions()}
    have = {entry["function"] for entry in built.get("functions", [])}
    if wanted - have:
        raise RuntimeError(
            f"{sizes_path} lacks {', '.join(sorted(wanted - have))}: build every function, "
            "`python -m pipeline layer build` without --function"
        )
    runtime = lambda_runtime(str(built.get("runtime")))
    bytecode_by = str(built.get("bytecode_by") or "")
    if f"Python {runtime.python_version}" not in bytecode_by and f"python{runtime.python_version}" not in bytecode_by:
        raise RuntimeError(
            f"{sizes_path}: the bytecode was compiled by {bytecode_by or 'no Python'}, not {runtime.name}'s: "
            "`make runtime-root` or set PIPELINE_RUNTIME_PYTHON, then build again"
        )
    day = (on or datetime.now(UTC)).strftime("%Y-%m-%d") if not isinstance(on, str) else on
    document = {
        "measured": {
            "on": day,
            "by": "python -m pipeline layer build",
            "runtime": runtime.name,
            "python": runtime.python_version,
            "bytecode_by": bytecode_by,
            "note": "a full build of every function's layer from PyPI; notebook 06 shows these sizes when no full "
            "build is on the machine. Regenerate: python -m pipeline layer build && "
            "python -m pipeline course layer-sizes",
        },
        **{k: v for k, v in built.items() if k not in ("runtime", "bytecode_by")},
        "one_layer": _one_layer([folder / entry["zip"] for entry in built["layers"].values()]),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    return document
