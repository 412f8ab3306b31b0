"""Everything a deploy uploads: the code package and each function's layer, with the size check.

`build` makes the real thing. `build_for_emulator` serves a deploy to the local emulator, which cannot run
code: the real build when every layer of it is cached, otherwise the real code package with placeholder layers
(`workbench.deploy.emulator`), which only a local endpoint accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from workbench.deploy.archive import Artifact
from workbench.deploy.emulator import is_placeholder, placeholder_layer
from workbench.deploy.functions import Function, all_functions
from workbench.deploy.layers import (
    Warn,
    build_layer,
    cached_layer,
    layer_specs,
    pip_install,
    warn_on_stderr,
)
from workbench.deploy.package import build_code_package
from workbench.deploy.runtime import LambdaRuntime, RuntimePython, find_runtime_python, lambda_runtime
from workbench.deploy.sizes import FunctionSize, check_limits, function_sizes, write_sizes

DEFAULT_OUT: Final = Path("build/layers")
SIZES_FILE: Final = "sizes.json"


@dataclass(frozen=True)
class Build:
    functions: tuple[Function, ...]
    code: Artifact
    layers: dict[str, Artifact]
    sizes: list[FunctionSize]
    runtime: LambdaRuntime = field(default_factory=lambda_runtime)
    bytecode_by: str | None = None  # which interpreter compiled the bytecode (None: no bytecode shipped)

    def layer_for(self, function: Function) -> Artifact:
        return self.layers[function.layer_name]

    @property
    def placeholder_layers(self) -> list[str]:
        """The layers that are emulator-only placeholders (an empty list for a real build)."""
        return sorted(name for name, artifact in self.layers.items() if is_placeholder(artifact))


def build(
    out: Path = DEFAULT_OUT,
    functions: tuple[Function, ...] | None = None,
    *,
    rebuild: bool = False,
    warn: Warn = warn_on_stderr,
    timeout: float | None = None,
    write_report: bool = True,
    runtime: LambdaRuntime | None = None,
) -> Build:
    """Build (or reuse) the code package and the layers of `functions`, check the limits, and write sizes.json
    (unless `write_report` is False, which keeps the report of an earlier, larger build). `timeout` bounds each
    pip install, in seconds."""
    functions = all_functions() if functions is None else functions
    runtime = runtime or lambda_runtime()
    interpreter = find_runtime_python(runtime)
    code = build_code_package(out, runtime=runtime, interpreter=interpreter, warn=warn)
    installer = partial(pip_install, timeout=timeout)
    layers = {
        name: build_layer(spec, out, rebuild=rebuild, interpreter=interpreter, installer=installer, warn=warn)
        for name, spec in layer_specs(functions, runtime).items()
    }
    sizes = function_sizes(functions, code, layers)
    compiled_by = _compiled_by(interpreter)
    if write_report:
        write_sizes(out / SIZES_FILE, sizes, code, layers, runtime=runtime.name, bytecode_by=compiled_by)
    check_limits(sizes)
    return Build(functions, code, layers, sizes, runtime, compiled_by)


def _compiled_by(interpreter: RuntimePython | None) -> str | None:
    return interpreter.describe() if interpreter is not None else None


def cached_build(
    out: Path = DEFAULT_OUT, functions: tuple[Function, ...] | None = None, runtime: LambdaRuntime | None = None
) -> Build | None:
    """The real build from the cache, when every layer of `functions` is there (the code package is rebuilt,
    which takes seconds); None when a layer would have to be built."""
    functions = all_functions() if functions is None else functions
    runtime = runtime or lambda_runtime()
    interpreter = find_runtime_python(runtime)
    layers: dict[str, Artifact] = {}
    for name, spec in layer_specs(functions, runtime).items():
        cached = cached_layer(spec, out, interpreter=interpreter)
        if cached is None:
            return None
        layers[name] = cached
    code = build_code_package(out, runtime=runtime, interpreter=interpreter)
    sizes = function_sizes(functions, code, layers)
    return Build(functions, code, layers, sizes, runtime, _compiled_by(interpreter))


def emulator_build(
    out: Path = DEFAULT_OUT,
    functions: tuple[Function, ...] | None = None,
    *,
    warn: Warn = warn_on_stderr,
    runtime: LambdaRuntime | None = None,
) -> Build:
    """The real code package with placeholder layers (`<out>/emulator/`), for the local emulator only."""
    functions = all_functions() if functions is None else functions
    runtime = runtime or lambda_runtime()
    interpreter = find_runtime_python(runtime)
    code = build_code_package(out, runtime=runtime, interpreter=interpreter, warn=warn)
    layers = {
        name: placeholder_layer(spec, out, runtime.python_version)
        for name, spec in layer_specs(functions, runtime).items()
    }
    sizes = function_sizes(functions, code, layers)
    return Build(functions, code, layers, sizes, runtime, _compiled_by(interpreter))


def build_for_emulator(
    out: Path = DEFAULT_OUT,
    functions: tuple[Function, ...] | None = None,
    *,
    placeholders: bool = False,
    warn: Warn = warn_on_stderr,
    runtime: LambdaRuntime | None = None,
) -> Build:
    """What a deploy to the local emulator uploads: the cached real build when every layer is cached (unless
    `placeholders`), else the real code package with placeholder layers. Nothing is downloaded."""
    functions = all_functions() if functions is None else functions
    if not placeholders and (cached := cached_build(out, functions, runtime)) is not None:
        return cached
    return emulator_build(out, functions, warn=warn, runtime=runtime)
