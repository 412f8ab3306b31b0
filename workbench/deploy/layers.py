"""Per-function dependency layers, built without Docker or EC2.

pip resolves the versions the tests ran (`-c constraints.txt`) and downloads the Linux wheels the runtime can
load (`--platform manylinux_2_34_x86_64 ... --platform manylinux2014_x86_64 --only-binary=:all: --python-version
3.13 --implementation cp`) into `python/`; the layer is trimmed of what the function never loads, every
distribution's version is checked against constraints.txt, bytecode is compiled with the runtime's own
interpreter (`workbench.deploy.runtime.find_runtime_python`), and the result is zipped. A layer is cached under a
hash of everything that decides its content, so an unchanged layer is not built twice.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from workbench.deploy.archive import Artifact, describe, tree_size, write_zip
from workbench.deploy.functions import (
    PROJECT_ROOT,
    RUNTIME_PROVIDED,
    Function,
    PackagingError,
    all_functions,
    canonical_name,
    requirements,
)
from workbench.deploy.runtime import (
    SANDBOX_WORKDIR,
    LambdaRuntime,
    RuntimePython,
    find_runtime_python,
    lambda_runtime,
)

IMPLEMENTATION: Final = "cp"
CONSTRAINTS: Final = PROJECT_ROOT / "constraints.txt"
LAYER_ROOT: Final = "/opt/python"  # where Lambda unpacks a layer's python/ folder
DEFAULT_INDEX: Final = "https://pypi.org/simple"
# Bump when the recipe below changes (what is trimmed, how bytecode is made), to invalidate cached layers.
RECIPE: Final = 5
ELF_MAGIC: Final = b"\x7fELF"

# What no function loads: type stubs, C/Cython sources and headers, test suites, console scripts.
DROP_SUFFIXES: Final = frozenset({".pyi", ".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp"})
DROP_DIRS: Final = frozenset({"tests", "__pycache__"})
# dist-info files importlib.metadata never reads; METADATA (versions), entry_points.txt and licenses stay.
DROP_METADATA: Final = frozenset({"RECORD", "INSTALLER", "REQUESTED", "WHEEL", "direct_url.json"})

# Parts of a distribution no function loads, by distribution and glob under its package folder. pyarrow: Flight
# and the S3 filesystem (30 and 16 MB; nothing else links them: readelf -d), its C++ test module, and the
# duplicate names wheels store as copies of libarrow_python (the modules link libarrow_python.so.<ABI>). Measured:
# pyarrow.parquet still writes and reads under python3.13 without them.
UNUSED: Final[dict[str, tuple[str, ...]]] = {
    "pyarrow": (
        "pyarrow/libarrow_flight.so*", "pyarrow/_flight.cpython-*.so", "pyarrow/libarrow_s3.so*",
        "pyarrow/_s3fs.cpython-*.so", "pyarrow/_pyarrow_cpp_tests.cpython-*.so", "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.*.*.*",
    ),
}  # fmt: skip

Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: the extras it serves, the requirement strings they expand to, and the runtime it is for."""

    name: str
    extras: tuple[str, ...]
    requirements: tuple[str, ...]
    runtime: LambdaRuntime = field(default_factory=lambda_runtime)

    @classmethod
    def for_function(cls, function: Function, runtime: LambdaRuntime | None = None) -> LayerSpec:
        wanted = tuple(requirements(function.extras))
        return cls(function.layer_name, function.extras, wanted, runtime or lambda_runtime())

    def cache_key(self, bytecode: bool | str, constraints: Path = CONSTRAINTS) -> str:
        """A hash of everything that decides the layer's content (`bytecode`: the compiling Python's version,
        or False)."""
        inputs: dict[str, Any] = {
            "requirements": sorted(self.requirements),
            "constraints": _file_digest(constraints),
            "platforms": list(self.runtime.platforms()),
            "python_version": self.runtime.python_version,
            "implementation": IMPLEMENTATION,
            "runtime_provided": sorted(RUNTIME_PROVIDED),
            "bytecode": bytecode,
            "recipe": RECIPE,
        }
        if unused := self.unused_parts():
            inputs["unused"] = unused
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def unused_parts(self) -> dict[str, list[str]]:
        """The UNUSED globs of the distributions this layer asks for by name."""
        wanted = {canonical_name(r) for r in self.requirements}
        return {name: list(globs) for name, globs in UNUSED.items() if name in wanted}


def _file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def layer_specs(
    functions: tuple[Function, ...] | None = None, runtime: LambdaRuntime | None = None
) -> dict[str, LayerSpec]:
    """The layers the given functions need, one per distinct set of extras."""
    functions = all_functions() if functions is None else functions
    specs: dict[str, LayerSpec] = {}
    for function in functions:
        specs.setdefault(function.layer_name, LayerSpec.for_function(function, runtime))
    return specs


@dataclass
class TrimReport:
    """What trimming removed, in bytes, by reason."""

    removed: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, size: int) -> None:
        self.removed[reason] = self.removed.get(reason, 0) + size


def _remove(path: Path, reason: str, report: TrimReport) -> None:
    if path.is_dir() and not path.is_symlink():
        report.add(reason, tree_size(path))
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        report.add(reason, path.lstat().st_size)
        path.unlink()


def _distribution_name(dist_info: Path) -> str | None:
    if not (dist_info / "METADATA").is_file():
        return None
    name = importlib.metadata.PathDistribution(dist_info).metadata["Name"]
    return canonical_name(name) if name else None


def _remove_distribution(site: Path, dist_info: Path, report: TrimReport) -> None:
    """Every file the distribution's RECORD lists (inside `site`), then its dist-info folder."""
    root = site.resolve()
    parents: set[Path] = set()
    for listed in importlib.metadata.PathDistribution(dist_info).files or []:
        target = Path(str(listed.locate())).resolve()
        if target.is_relative_to(root) and target.is_file():
            _remove(target, "provided by the Lambda runtime", report)
            parents.add(target.parent)
    _remove(dist_info, "provided by the Lambda runtime", report)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while parent != root and parent.is_relative_to(root) and parent.is_dir():
            leftovers = [p for p in parent.iterdir() if p.name != "__pycache__"]
            if leftovers:
                break
            _remove(parent, "provided by the Lambda runtime", report)
            parent = parent.parent


def _remove_unused(site: Path, report: TrimReport) -> None:
    for pattern in (pattern for globs in UNUSED.values() for pattern in globs):
        for path in sorted(site.glob(pattern)):
            _remove(path, "parts no function loads (pyarrow Flight and S3)", report)


def trim(site: Path, runtime_provided: frozenset[str] = RUNTIME_PROVIDED) -> TrimReport:
    """Remove from an installed `site` (a layer's python/ folder) what the function never needs."""
    report = TrimReport()
    for dist_info in sorted(site.glob("*.dist-info")):
        if _distribution_name(dist_info) in runtime_provided:
            _remove_distribution(site, dist_info, report)
    _remove(site / "bin", "console scripts", report)
    for path in sorted(site.iterdir()):
        if path.is_dir() and path.name.endswith("-stubs"):
            _remove(path, "type stubs and C sources", report)
    for directory in sorted(site.rglob("*"), key=lambda p: len(p.parts)):
        if directory.is_dir() and directory.name in DROP_DIRS:
            _remove(directory, "tests and caches", report)
    for path in sorted(site.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix in DROP_SUFFIXES:
            _remove(path, "type stubs and C sources", report)
        elif path.parent.name.endswith(".dist-info") and path.name in DROP_METADATA:
            _remove(path, "install records", report)
    _remove_unused(site, report)
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    return report


def _is_shared_library(path: Path) -> bool:
    name = path.name
    if not (name.endswith(".so") or ".so." in name) or path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(4) == ELF_MAGIC


def _strippable(path: Path) -> bool:
    """A shared library that carries debug sections and was not vendored by auditwheel (`<package>.libs/`):
    auditwheel rewrites those with patchelf, and strip then leaves segments the loader refuses ("ELF load
    command address/offset not page-aligned", measured on numpy's OpenBLAS)."""
    if path.parent.name.endswith(".libs") or not _is_shared_library(path):
        return False
    return b".debug_info" in path.read_bytes()


def strip_shared_libraries(site: Path, report: TrimReport, warn: Warn = warn_on_stderr) -> None:
    """Remove the debug sections and unneeded symbols of the shared libraries that ship them
    (`strip --strip-unneeded`); what the dynamic linker needs stays. curl_cffi's libcurl wrapper is 39 MB with
    its debug sections and 7 MB without (measured; it loads and runs the same under python3.13)."""
    libraries = sorted(p for p in site.rglob("*") if _strippable(p))
    if not libraries:
        return
    strip = shutil.which("strip")
    if strip is None:
        warn("no `strip` here (binutils): shared libraries with debug sections keep them")
        return
    before = sum(p.stat().st_size for p in libraries)
    result = subprocess.run(
        [strip, "--strip-unneeded", *map(str, libraries)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        warn(f"strip failed on some shared libraries under {site.name}: {detail}")
    report.add("debug sections of shared libraries", before - sum(p.stat().st_size for p in libraries))


def compile_bytecode(site: Path, interpreter: RuntimePython | str, ddir: str, warn: Warn = warn_on_stderr) -> None:
    """Add __pycache__ next to every .py, compiled by the runtime's Python; `unchecked-hash` .pyc files are
    used as they are, so a read-only /opt or /var/task never makes the runtime recompile."""
    python = interpreter if isinstance(interpreter, RuntimePython) else RuntimePython((interpreter,))
    target, workdir = (f"{SANDBOX_WORKDIR}/{site.name}", site.parent) if python.root else (str(site), None)
    args = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-d", ddir, target]
    result = python.run(args, workdir)
    if result.returncode != 0:
        failed = [line for line in result.stdout.splitlines() if line.startswith("***")]
        detail = failed[0] if failed else (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        warn(f"{len(failed) or 'some'} files under {site.name} did not compile to bytecode ({detail})")


def package_index() -> str:
    """The index pip installs from: PIP_INDEX_URL, else the `index-url` of pip's configuration, else PyPI."""
    if url := os.environ.get("PIP_INDEX_URL"):
        return url.split()[0]
    command = [sys.executable, "-m", "pip", "config", "list"]
    listed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60).stdout
    configured = [
        value.strip().strip("'\"")
        for key, _, value in (line.partition("=") for line in listed.splitlines())
        if key.endswith(".index-url") and not key.startswith(":env:")
    ]
    return configured[-1].split()[0] if configured else DEFAULT_INDEX


def index_reachable(index: str | None = None, timeout: float = 10.0) -> tuple[bool, str]:
    """Whether pip's package index answers (any HTTP answer counts); returns (answered, the index URL)."""
    index = index or package_index()
    if index.startswith("file:"):
        return Path(urllib.request.url2pathname(urlsplit(index).path)).is_dir(), index
    if not index.startswith(("http://", "https://")):
        return False, index
    request = urllib.request.Request(index.rstrip("/") + "/pip/", headers={"Accept": "text/html"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - http(s) only, checked above
            return True, index
    except urllib.error.HTTPError:
        return True, index  # it answered, if only to say no: the network is there
    except (OSError, ValueError):
        return False, index


def pip_command(spec: LayerSpec, target: Path, report: Path, constraints: Path = CONSTRAINTS) -> list[str]:
    """The pip install of a layer: the tested versions (constraints.txt), as Linux wheels the runtime loads."""
    platforms = [arg for platform in spec.runtime.platforms() for arg in ("--platform", platform)]
    pinned = ["-c", str(constraints)] if constraints.is_file() else []
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *pinned, *platforms, "--only-binary=:all:", "--python-version", spec.runtime.python_version,
        "--implementation", IMPLEMENTATION, "--abi", spec.runtime.abi, "--abi", "abi3", "--abi", "none",
        "--target", str(target), "--report", str(report), *spec.requirements,
    ]  # fmt: skip


def pip_install(spec: LayerSpec, target: Path, timeout: float | None = None) -> dict[str, str]:
    """Install the layer's requirements as Linux wheels for the runtime; returns {distribution: version}.

    With `timeout` (seconds), a pip that has not finished by then is stopped and the build fails in one line.
    """
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        command = pip_command(spec, target, report_path)
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PackagingError(
                f"pip did not finish installing layer {spec.name} within {timeout:.0f} s: check the network to "
                f"{package_index()}, or build again with more time"
            ) from None
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
            reason = errors[0] if errors else (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise PackagingError(
                f"pip could not install layer {spec.name} for {spec.runtime.name}: {reason} "
                f"(rerun `{' '.join(command[2:8])} ...` to see everything)"
            )
        report = json.loads(report_path.read_text())
    return {canonical_name(item["metadata"]["name"]): item["metadata"]["version"] for item in report.get("install", [])}


def constraint_pins(constraints: Path = CONSTRAINTS) -> dict[str, Version]:
    """{distribution: version} of every `name==version` line of constraints.txt (the versions the tests ran)."""
    pins: dict[str, Version] = {}
    if not constraints.is_file():
        return pins
    for line in constraints.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        exact = [spec.version for spec in requirement.specifier if spec.operator in ("==", "===")]
        if exact:
            pins[canonicalize_name(requirement.name)] = Version(exact[0])
    return pins


def installed_versions(site: Path) -> dict[str, str]:
    """{distribution: version} of what is installed in `site`, read from its dist-info (importlib.metadata)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = dist.metadata["Name"]
        if name:
            found[canonicalize_name(name)] = dist.version
    return dict(sorted(found.items()))


def untested_versions(installed: Mapping[str, str], pins: Mapping[str, Version]) -> dict[str, str]:
    """{distribution: what is wrong} for every installed distribution whose version is not the one
    constraints.txt pins (or that constraints.txt does not pin at all, so no test ever ran it)."""
    wrong: dict[str, str] = {}
    for name, version in sorted(installed.items()):
        pinned = pins.get(name)
        if pinned is None:
            wrong[name] = f"{version}, not in constraints.txt"
            continue
        try:
            same = Version(version) == pinned
        except InvalidVersion:
            same = False
        if not same:
            wrong[name] = f"{version}, constraints.txt has {pinned}"
    return wrong


def check_tested_versions(layer: str, site: Path, constraints: Path = CONSTRAINTS) -> dict[str, str]:
    """The installed versions of a layer; one clear error when any differs from constraints.txt."""
    installed = installed_versions(site)
    wrong = untested_versions(installed, constraint_pins(constraints))
    if wrong:
        listed = "; ".join(f"{name} {why}" for name, why in wrong.items())
        raise PackagingError(
            f"layer {layer} would ship versions the tests did not run: {listed} (install them in the venv with "
            f"`pip install -c constraints.txt ...` and add them to constraints.txt, or fix the pins)"
        )
    return installed


def _manifest_path(out: Path, name: str) -> Path:
    return out / f"{name}.json"


def read_manifest(out: Path, name: str) -> dict[str, Any]:
    """The manifest written next to `<out>/<name>.zip`: requirements, resolved versions, bytes trimmed.

    A manifest from an earlier version of the builder listed the runtime's packages among `packages`; they are
    moved to `provided_by_runtime` here, so every manifest reads the same.
    """
    manifest: dict[str, Any] = json.loads(_manifest_path(out, name).read_text())
    if "provided_by_runtime" not in manifest:
        packages = manifest.get("packages", {})
        manifest["packages"] = {n: v for n, v in packages.items() if n not in RUNTIME_PROVIDED}
        manifest["provided_by_runtime"] = sorted(n for n in packages if n in RUNTIME_PROVIDED)
    return manifest


def _cached(spec: LayerSpec, out: Path, key: str) -> Artifact | None:
    manifest_path = _manifest_path(out, spec.name)
    zip_path = out / f"{spec.name}.zip"
    if not (manifest_path.is_file() and zip_path.is_file()):
        return None
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("cache_key") != key or manifest.get("zipped") != zip_path.stat().st_size:
        return None
    return Artifact(spec.name, zip_path, manifest["unzipped"], manifest["zipped"], manifest["sha256"], True)


def _bytecode_key(interpreter: RuntimePython | None) -> bool | str:
    return (interpreter.version or True) if interpreter is not None else False


def _as_python(interpreter: RuntimePython | str | None, runtime: LambdaRuntime) -> RuntimePython | None:
    if isinstance(interpreter, str):
        return RuntimePython((interpreter,), how="given")
    return interpreter if interpreter is not None else find_runtime_python(runtime)


def cached_layer(spec: LayerSpec, out: Path, *, interpreter: RuntimePython | str | None = None) -> Artifact | None:
    """The layer built earlier in `out`, when its cache key still matches; None when it would be built again."""
    python = _as_python(interpreter, spec.runtime)
    return _cached(spec, out, spec.cache_key(bytecode=_bytecode_key(python)))


def build_layer(
    spec: LayerSpec,
    out: Path,
    *,
    rebuild: bool = False,
    interpreter: RuntimePython | str | None = None,
    installer: Callable[[LayerSpec, Path], dict[str, str]] = pip_install,
    warn: Warn = warn_on_stderr,
    constraints: Path = CONSTRAINTS,
) -> Artifact:
    """Build (or reuse) `<out>/<layer>.zip` holding `python/...`, and write its manifest next to it.

    Fails, in one line, when a distribution in the layer is not at the version constraints.txt pins."""
    python = _as_python(interpreter, spec.runtime)
    key = spec.cache_key(bytecode=_bytecode_key(python), constraints=constraints)
    if not rebuild and (cached := _cached(spec, out, key)):
        return cached
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{spec.name}-") as staging:
        site = Path(staging) / "python"
        site.mkdir()
        packages = installer(spec, site)
        installed = tree_size(site)
        trimmed = trim(site)
        strip_shared_libraries(site, trimmed, warn)
        versions = check_tested_versions(spec.name, site, constraints)
        version = spec.runtime.python_version
        if python is None:
            warn(f"no Python {version} here: layer {spec.name} ships without bytecode, so cold starts compile "
                 f"every import (`make` the runtime's root filesystem under .local/, or set PIPELINE_RUNTIME_PYTHON, "
                 f"and rebuild)")  # fmt: skip
        else:
            compile_bytecode(site, python, LAYER_ROOT, warn)
        zip_path = out / f"{spec.name}.zip"
        write_zip(site, zip_path, prefix="python")
    artifact = describe(spec.name, zip_path)
    manifest: dict[str, Any] = {
        "layer": spec.name,
        "runtime": spec.runtime.name,
        "extras": list(spec.extras),
        "requirements": list(spec.requirements),
        "platforms": list(spec.runtime.platforms()),
        "packages": versions,
        "resolved": {n: v for n, v in sorted(packages.items()) if n not in RUNTIME_PROVIDED},
        "provided_by_runtime": sorted(n for n in packages if n in RUNTIME_PROVIDED),
        "installed_bytes": installed,
        "trimmed_bytes": trimmed.removed,
        "bytecode": python is not None,
        "bytecode_by": python.describe() if python is not None else None,
        "cache_key": key,
        "unzipped": artifact.unzipped,
        "zipped": artifact.zipped,
        "sha256": artifact.sha256,
    }
    _manifest_path(out, spec.name).write_text(json.dumps(manifest, indent=2) + "\n")
    return artifact
