"""The Lambda runtime the functions and layers target, and the interpreter here that compiles their bytecode.

The runtime is python3.13 (Amazon Linux 2023, glibc 2.34); python3.12 (also Amazon Linux 2023) can be chosen.
The older Python runtimes run on Amazon Linux 2, whose support has ended, so they are not offered.

Bytecode must come from the runtime's own Python (a `.pyc` of another version is ignored, and a read-only /opt
means every cold start compiles every import). This machine may not have that Python on its PATH; the project's
root filesystem of Debian 13 under `.local/` (`make` target of the artifacts run) does. `find_runtime_python`
looks, in this order, at:

1. `PIPELINE_RUNTIME_PYTHON`: a command that runs the runtime's Python (`/usr/bin/python3.13`, or
   `chroot /path/to/root /usr/bin/python3.13`), taken as it is;
2. a root filesystem holding `/usr/bin/python3.X`: `PIPELINE_RUNTIME_ROOT`, else any folder under `.local/`
   (the interpreter then runs inside it with bubblewrap, or chroot where bubblewrap is missing);
3. the interpreter running this code, when it is of the runtime's version;
4. `python3.X` on PATH.

Candidates 2-4 count only when they run and report the runtime's version. The size report and each layer's
manifest say which one compiled the bytecode (`RuntimePython.describe`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from workbench.deploy.functions import PROJECT_ROOT, PackagingError

SUPPORTED_RUNTIMES: Final = ("python3.13", "python3.12")
DEFAULT_RUNTIME: Final = "python3.13"
# Amazon Linux 2023 (python3.12 and python3.13 runtimes) has glibc 2.34: any manylinux wheel up to 2_34 runs.
AMAZON_LINUX_2023_GLIBC: Final = (2, 34)
OLDEST_MANYLINUX: Final = 17  # manylinux_2_17 = manylinux2014; older wheels come along (pip adds 2010 and 1)

# Where, inside a root filesystem, the folder given to `RuntimePython.run` is seen.
SANDBOX_WORKDIR: Final = "/mnt/work"
INTERPRETER_ENV: Final = "PIPELINE_RUNTIME_PYTHON"
ROOT_ENV: Final = "PIPELINE_RUNTIME_ROOT"
LOCAL_DIR: Final = PROJECT_ROOT / ".local"


@dataclass(frozen=True)
class LambdaRuntime:
    """A Lambda Python runtime: its name, its Python version, and the Linux wheels that run on it."""

    name: str
    glibc: tuple[int, int] = AMAZON_LINUX_2023_GLIBC

    @property
    def python_version(self) -> str:
        """`3.13` for python3.13."""
        return self.name.removeprefix("python")

    @property
    def abi(self) -> str:
        """`cp313`: the CPython ABI tag its extension modules carry."""
        return "cp" + self.python_version.replace(".", "")

    @property
    def cache_tag(self) -> str:
        """`cpython-313`: the tag in the names of its `.pyc` files."""
        return "cpython-" + self.python_version.replace(".", "")

    def platforms(self) -> tuple[str, ...]:
        """pip's `--platform` values, newest first: every manylinux_2_N for N from the runtime's glibc down to
        17, and manylinux2014 (the legacy name of 2_17, which some wheels carry alone)."""
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{n}_x86_64" for n in range(minor, OLDEST_MANYLINUX - 1, -1)]
        return (*tags, "manylinux2014_x86_64")


def lambda_runtime(name: str = DEFAULT_RUNTIME) -> LambdaRuntime:
    """The runtime of that name; one clear error for one Lambda does not offer here."""
    if name not in SUPPORTED_RUNTIMES:
        raise PackagingError(
            f"runtime {name!r} is not supported: choose one of {', '.join(SUPPORTED_RUNTIMES)} "
            "(older runtimes run on Amazon Linux 2, which AWS no longer supports)"
        )
    return LambdaRuntime(name)


@dataclass(frozen=True)
class RuntimePython:
    """A way to run the runtime's Python on this machine: a command, run in a root filesystem or not."""

    command: tuple[str, ...]
    root: Path | None = None  # the root filesystem the command runs in (bubblewrap or chroot), if any
    how: str = "on this machine"

    def run(
        self, args: Sequence[str], workdir: Path | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """Run the interpreter with `args`; inside a root, `workdir` is visible at SANDBOX_WORKDIR (pass paths
        under it as /mnt/work/...)."""
        if self.root is None:
            return subprocess.run([*self.command, *args], capture_output=True, text=True, check=False, timeout=timeout)
        if workdir is None:
            workdir = Path(tempfile.gettempdir())
        if shutil.which("bwrap"):
            sandbox = [
                "bwrap", "--ro-bind", str(self.root), "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--tmpfs", "/mnt", "--bind", str(workdir), SANDBOX_WORKDIR,  # noqa: S108
                "--chdir", SANDBOX_WORKDIR, "--unshare-net", "--die-with-parent",
            ]  # fmt: skip
            result = subprocess.run(
                [*sandbox, *self.command, *args], capture_output=True, text=True, check=False, timeout=timeout
            )
            if result.returncode == 0 or "bwrap:" not in result.stderr:
                return result
        return self._run_chroot(args, workdir, timeout)

    def _run_chroot(self, args: Sequence[str], workdir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        """chroot into the root with `workdir` bind-mounted at SANDBOX_WORKDIR (needs root)."""
        assert self.root is not None
        mount_point = self.root / SANDBOX_WORKDIR.lstrip("/")
        mount_point.mkdir(parents=True, exist_ok=True)
        inner = shlex.quote(f"cd {SANDBOX_WORKDIR} && " + shlex.join([*self.command, *args]))
        root, work, mount = (shlex.quote(str(p)) for p in (self.root, workdir, mount_point))
        script = (
            f"mount --bind {work} {mount} || exit 125; chroot {root} sh -c {inner}; status=$?; "
            f"umount {mount} || umount -l {mount}; exit $status"
        )
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False, timeout=timeout)

    @property
    def version(self) -> str:
        """`3.13.5`, as the interpreter reports it ('' when it does not run)."""
        return _version(self)

    def describe(self) -> str:
        """What compiled the bytecode, for the size report: `Python 3.13.5 (/usr/bin/python3.13 in .local/x)`."""
        where = f" in {_display(self.root)}" if self.root else ""
        return f"Python {self.version or '?'} ({shlex.join(self.command)}{where}, {self.how})"


@cache
def _version(python: RuntimePython) -> str:
    try:
        result = python.run(["-c", "import platform; print(platform.python_version())"], timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def runtime_roots(local_dir: Path = LOCAL_DIR) -> list[Path]:
    """Root filesystems the runtime's Python may be found in: PIPELINE_RUNTIME_ROOT, then folders under .local/."""
    roots = [Path(os.environ[ROOT_ENV])] if os.environ.get(ROOT_ENV) else []
    if local_dir.is_dir():
        roots += sorted(p for p in local_dir.iterdir() if p.is_dir())
    return roots


def find_runtime_python(runtime: LambdaRuntime | None = None, local_dir: Path = LOCAL_DIR) -> RuntimePython | None:
    """The runtime's Python on this machine (see the module's docstring for where it looks), or None.

    Every candidate but an explicit PIPELINE_RUNTIME_PYTHON must run and report the runtime's version."""
    runtime = runtime or lambda_runtime()
    version = runtime.python_version
    if command := os.environ.get(INTERPRETER_ENV, "").strip():
        return RuntimePython(tuple(shlex.split(command)), how=f"from {INTERPRETER_ENV}")
    candidates = [
        RuntimePython((f"/usr/bin/python{version}",), root=root, how="in the runtime's root filesystem")
        for root in runtime_roots(local_dir)
        if (root / "usr" / "bin" / f"python{version}").is_file()
    ]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.append(RuntimePython((sys.executable,), how="the interpreter running the build"))
    if found := shutil.which(f"python{version}"):
        candidates.append(RuntimePython((found,), how="on PATH"))
    for candidate in candidates:
        if candidate.version.startswith(version + "."):
            return candidate
    return None
