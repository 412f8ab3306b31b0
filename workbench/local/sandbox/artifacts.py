"""What a sandboxed function runs: its code package, its layer, the runtime (awslambdaric and the AWS SDK that
Lambda's python3.13 image provides), and the call recorder, each as a folder mounted read-only.

The built zips of `python -m pipeline layer build` (`build/layers/code.zip`, `build/layers/<layer>.zip`) are
unpacked once per content (their digest names the folder). A layer is used only when its manifest says it was
built for python3.13; otherwise (a build for another runtime, or none yet) the layer is installed here for cp313
with the tested versions (`-c constraints.txt`), trimmed as the deploy trims it, and compiled by the root's
python3.13, under `.local/artifacts/`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from workbench.deploy.functions import RUNTIME_PROVIDED, Function, PackagingError, requirements
from workbench.deploy.layers import trim
from workbench.deploy.package import ignore_in_code_package
from workbench.local.sandbox import root as runtime_root

PROJECT_ROOT: Final = runtime_root.PROJECT_ROOT
ARTIFACTS_DIR: Final = PROJECT_ROOT / ".local" / "artifacts"
BUILD_DIR: Final = PROJECT_ROOT / "build" / "layers"
CONSTRAINTS: Final = PROJECT_ROOT / "constraints.txt"
PYTHON_VERSION: Final = "3.13"
RUNTIME_NAME: Final = "python3.13"
# AWS's Runtime Interface Client, as the python3.13 image runs it (cp313 manylinux wheel from PyPI).
RIC_VERSION: Final = "4.2.2"
PLATFORMS: Final = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
OBSERVE_SOURCE: Final = Path(__file__).with_name("observe")
DONE: Final = ".complete"


@dataclass(frozen=True)
class Mounts:
    """The read-only folders of one function's execution environment (host paths)."""

    task: Path  # -> /var/task (the code package)
    layer: Path  # -> /opt (holds python/)
    runtime: Path  # -> /var/runtime (awslambdaric, boto3)
    observe: Path  # -> /var/observe (sitecustomize.py recording AWS calls)
    layer_origin: str  # "build/layers/deps-x.zip" or "installed here for cp313"


def pip_target_command(target: Path, *requirements_: str) -> list[str]:
    """pip install of Linux cp313 wheels into `target`, at the tested versions."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    pinned = ["-c", str(CONSTRAINTS)] if CONSTRAINTS.is_file() else []
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *pinned, "--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:", *platforms,
        "--target", str(target), *requirements_,
    ]  # fmt: skip


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _pip(target: Path, *requirements_: str) -> None:
    command = pip_target_command(target, *requirements_)
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        reason = errors[0] if errors else (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackagingError(f"pip could not install {' '.join(requirements_)} for cp313: {reason}")


def compile_bytecode(tree: Path, ddir: str) -> None:
    """`unchecked-hash` bytecode by the root's python3.13 (a read-only mount is never recompiled)."""
    command = [
        *runtime_root.python_command(bind=tree), "-m", "compileall", "-q", "-j", "0",
        "--invalidation-mode", "unchecked-hash", "-d", ddir, str(tree),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)


def _staged(final: Path) -> tuple[Path, bool]:
    """(folder, ready): a finished folder as it is, else a fresh staging folder next to it."""
    if (final / DONE).is_file():
        return final, True
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}-")), False


def _publish(staging: Path, final: Path) -> Path:
    (staging / DONE).write_text("", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final


def runtime_dir() -> Path:
    """/var/runtime: awslambdaric and what the python3.13 image provides besides it (boto3, botocore)."""
    pins = [f"awslambdaric=={RIC_VERSION}", *sorted(RUNTIME_PROVIDED)]
    constraints = CONSTRAINTS.read_text(encoding="utf-8") if CONSTRAINTS.is_file() else ""
    final = ARTIFACTS_DIR / f"runtime-{_digest(*pins, constraints)}"
    folder, ready = _staged(final)
    if ready:
        return folder
    _pip(folder, *pins)
    compile_bytecode(folder, "/var/runtime")
    return _publish(folder, final)


def unpacked(zip_path: Path) -> Path:
    """The zip unpacked once under .local/artifacts/unpacked/<name>-<digest>/."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    final = ARTIFACTS_DIR / "unpacked" / f"{zip_path.stem}-{digest}"
    folder, ready = _staged(final)
    if ready:
        return folder
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return _publish(folder, final)


def code_dir(build_dir: Path = BUILD_DIR) -> Path:
    """/var/task: the built code package when it is newer than every source file, else the package as it is."""
    package = PROJECT_ROOT / "pipeline"
    sources = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    zip_path = build_dir / "code.zip"
    if zip_path.is_file() and zip_path.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return unpacked(zip_path)
    digest = _digest(*(f"{p.relative_to(package)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in sources))
    final = ARTIFACTS_DIR / f"code-{digest}"
    folder, ready = _staged(final)
    if ready:
        return folder
    shutil.copytree(package, folder / "pipeline", ignore=ignore_in_code_package)
    compile_bytecode(folder, "/var/task")
    return _publish(folder, final)


def _built_for_runtime(build_dir: Path, layer: str) -> Path | None:
    manifest_path, zip_path = build_dir / f"{layer}.json", build_dir / f"{layer}.zip"
    if not (manifest_path.is_file() and zip_path.is_file()):
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return zip_path if manifest.get("runtime") == RUNTIME_NAME else None


def layer_dir(function: Function, build_dir: Path = BUILD_DIR) -> tuple[Path, str]:
    """(/opt, where it came from): the built layer for python3.13, else one installed here for cp313."""
    built = _built_for_runtime(build_dir, function.layer_name)
    if built is not None:
        return unpacked(built), str(built)
    wanted = requirements(function.extras)
    constraints = CONSTRAINTS.read_text(encoding="utf-8") if CONSTRAINTS.is_file() else ""
    final = ARTIFACTS_DIR / "layers-cp313" / f"{function.layer_name}-{_digest(*wanted, constraints)}"
    folder, ready = _staged(final)
    if not ready:
        site = folder / "python"
        _pip(site, *wanted)
        trim(site)
        compile_bytecode(site, "/opt/python")
        folder = _publish(folder, final)
    return folder, f"installed here for cp313 (no {RUNTIME_NAME} build of {function.layer_name} in {build_dir})"


def mounts(function: Function, build_dir: Path = BUILD_DIR) -> Mounts:
    layer, origin = layer_dir(function, build_dir)
    return Mounts(code_dir(build_dir), layer, runtime_dir(), OBSERVE_SOURCE, origin)
