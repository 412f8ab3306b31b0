"""Everything a deploy uploads: the code package and each function's layer, with the size check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.deploy.archive import Artifact
from pipeline.deploy.functions import FUNCTIONS, Function
from pipeline.deploy.layers import Warn, build_layer, find_runtime_python, layer_specs, warn_on_stderr
from pipeline.deploy.package import build_code_package
from pipeline.deploy.sizes import FunctionSize, check_limits, function_sizes, write_sizes

DEFAULT_OUT: Final = Path("build/layers")
SIZES_FILE: Final = "sizes.json"


@dataclass(frozen=True)
class Build:
    functions: tuple[Function, ...]
    code: Artifact
    layers: dict[str, Artifact]
    sizes: list[FunctionSize]

    def layer_for(self, function: Function) -> Artifact:
        return self.layers[function.layer_name]


def build(
    out: Path = DEFAULT_OUT,
    functions: tuple[Function, ...] = FUNCTIONS,
    *,
    rebuild: bool = False,
    warn: Warn = warn_on_stderr,
) -> Build:
    """Build (or reuse) the code package and the layers of `functions`, write sizes.json, check the limits."""
    interpreter = find_runtime_python()
    code = build_code_package(out, interpreter=interpreter, warn=warn)
    layers = {
        name: build_layer(spec, out, rebuild=rebuild, interpreter=interpreter, warn=warn)
        for name, spec in layer_specs(functions).items()
    }
    sizes = function_sizes(functions, code, layers)
    write_sizes(out / SIZES_FILE, sizes, code, layers)
    check_limits(sizes)
    return Build(functions, code, layers, sizes)
