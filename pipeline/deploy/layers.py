"""Per-function dependency layers, built without Docker or EC2.

pip resolves and downloads Linux wheels for the runtime (`--platform manylinux2014_x86_64 --only-binary=:all:
--python-version 3.11 --implementation cp`) into `python/`, the layer is trimmed of what the function never
loads, bytecode is compiled with the runtime's own interpreter, and the result is zipped. A layer is cached
under a hash of everything that decides its content, so an unchanged layer is not built twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from pipeline.deploy.archive import Artifact, describe, tree_size, write_zip
from pipeline.deploy.functions import (
    RUNTIME_PROVIDED,
    Function,
    PackagingError,
    all_functions,
    canonical_name,
    requirements,
)

RUNTIME: Final = "python3.11"
PYTHON_VERSION: Final = "3.11"
PLATFORM: Final = "manylinux2014_x86_64"
IMPLEMENTATION: Final = "cp"
LAYER_ROOT: Final = "/opt/python"  # where Lambda unpacks a layer's python/ folder
DEFAULT_INDEX: Final = "https://pypi.org/simple"
# Bump when the recipe below changes (what is trimmed, how bytecode is made), to invalidate cached layers.
RECIPE: Final = 3

# What no function loads: type stubs, C/Cython sources and headers, test suites, console scripts.
DROP_SUFFIXES: Final = frozenset({".pyi", ".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp"})
DROP_DIRS: Final = frozenset({"tests", "__pycache__"})
# dist-info files importlib.metadata never reads; METADATA (versions), entry_points.txt and licenses stay.
DROP_METADATA: Final = frozenset({"RECORD", "INSTALLER", "REQUESTED", "WHEEL", "direct_url.json"})

Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: the extras it serves and the requirement strings they expand to."""

    name: str
    extras: tuple[str, ...]
    requirements: tuple[str, ...]

    @classmethod
    def for_function(cls, function: Function) -> LayerSpec:
        return cls(function.layer_name, function.extras, tuple(requirements(function.extras)))

    def cache_key(self, bytecode: bool) -> str:
        """A hash of everything that decides the layer's content."""
        inputs = {
            "requirements": sorted(self.requirements),
            "platform": PLATFORM,
            "python_version": PYTHON_VERSION,
            "implementation": IMPLEMENTATION,
            "runtime_provided": sorted(RUNTIME_PROVIDED),
            "bytecode": bytecode,
            "recipe": RECIPE,
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def layer_specs(functions: tuple[Function, ...] | None = None) -> dict[str, LayerSpec]:
    """The layers the given functions need, one per distinct set of extras."""
    functions = all_functions() if functions is None else functions
    specs: dict[str, LayerSpec] = {}
    for function in functions:
        specs.setdefault(function.layer_name, LayerSpec.for_function(function))
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
    metadata = dist_info / "METADATA"
    if not metadata.is_file():
        return None
    name = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace")).get("Name")
    return canonical_name(name) if name else None


def _remove_distribution(site: Path, dist_info: Path, report: TrimReport) -> None:
    """Every file the distribution's RECORD lists (inside `site`), then its dist-info folder."""
    record = dist_info / "RECORD"
    root = site.resolve()
    parents: set[Path] = set()
    if record.is_file():
        for line in record.read_text(encoding="utf-8").splitlines():
            relative = line.rsplit(",", 2)[0].strip()
            if not relative:
                continue
            target = (site / relative).resolve()
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
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    return report


def find_runtime_python(version: str = PYTHON_VERSION) -> str | None:
    """An interpreter of the runtime's Python version on this machine (this one, or `python3.11` on PATH)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    return shutil.which(f"python{version}")


def compile_bytecode(site: Path, interpreter: str, ddir: str, warn: Warn = warn_on_stderr) -> None:
    """Add __pycache__ next to every .py, compiled by the runtime's Python; `unchecked-hash` .pyc files are
    used as they are, so a read-only /opt or /var/task never makes the runtime recompile."""
    command = [
        interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
        "-d", ddir, str(site),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
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


def pip_install(spec: LayerSpec, target: Path, timeout: float | None = None) -> dict[str, str]:
    """Install the layer's requirements as Linux wheels for the runtime; returns {distribution: version}.

    With `timeout` (seconds), a pip that has not finished by then is stopped and the build fails in one line.
    """
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--platform", PLATFORM, "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", IMPLEMENTATION, "--target", str(target), "--report", str(report_path),
            *spec.requirements,
        ]  # fmt: skip
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
                f"pip could not install layer {spec.name} for {RUNTIME}: {reason} "
                f"(rerun `{' '.join(command[2:8])} ...` to see everything)"
            )
        report = json.loads(report_path.read_text())
    return {canonical_name(item["metadata"]["name"]): item["metadata"]["version"] for item in report.get("install", [])}


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


def cached_layer(spec: LayerSpec, out: Path, *, interpreter: str | None = None) -> Artifact | None:
    """The layer built earlier in `out`, when its cache key still matches; None when it would be built again."""
    interpreter = interpreter or find_runtime_python()
    return _cached(spec, out, spec.cache_key(bytecode=interpreter is not None))


def build_layer(
    spec: LayerSpec,
    out: Path,
    *,
    rebuild: bool = False,
    interpreter: str | None = None,
    installer: Callable[[LayerSpec, Path], dict[str, str]] = pip_install,
    warn: Warn = warn_on_stderr,
) -> Artifact:
    """Build (or reuse) `<out>/<layer>.zip` holding `python/...`, and write its manifest next to it."""
    interpreter = interpreter or find_runtime_python()
    key = spec.cache_key(bytecode=interpreter is not None)
    if not rebuild and (cached := _cached(spec, out, key)):
        return cached
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{spec.name}-") as staging:
        site = Path(staging) / "python"
        site.mkdir()
        packages = installer(spec, site)
        installed = tree_size(site)
        trimmed = trim(site)
        if interpreter is None:
            warn(f"no Python {PYTHON_VERSION} here: layer {spec.name} ships without bytecode, so cold starts "
                 f"compile every import (install python{PYTHON_VERSION} and rebuild)")  # fmt: skip
        else:
            compile_bytecode(site, interpreter, LAYER_ROOT, warn)
        zip_path = out / f"{spec.name}.zip"
        write_zip(site, zip_path, prefix="python")
    artifact = describe(spec.name, zip_path)
    manifest: dict[str, Any] = {
        "layer": spec.name,
        "extras": list(spec.extras),
        "requirements": list(spec.requirements),
        "packages": {n: v for n, v in sorted(packages.items()) if n not in RUNTIME_PROVIDED},
        "provided_by_runtime": sorted(n for n in packages if n in RUNTIME_PROVIDED),
        "installed_bytes": installed,
        "trimmed_bytes": trimmed.removed,
        "bytecode": interpreter is not None,
        "cache_key": key,
        "unzipped": artifact.unzipped,
        "zipped": artifact.zipped,
        "sha256": artifact.sha256,
    }
    _manifest_path(out, spec.name).write_text(json.dumps(manifest, indent=2) + "\n")
    return artifact
