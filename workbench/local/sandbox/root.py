"""The runtime's interpreter on this machine: a Debian 13 (trixie) root filesystem with python3.13.

This machine runs Debian 12 and Python 3.11; the functions target python3.13. `ensure_root()` builds, when it is
missing, a minimal trixie root with `debootstrap --variant=minbase --include=python3.13`, from the Debian mirror
this machine's own apt sources name (so it works wherever apt works, and no host is written into the project).
`make runtime-root` calls it; `root_python()` is the root's interpreter for whatever must run under python3.13
(bytecode compilation, the sandboxed functions).

Only the standard library is used here: the make target runs it with the system's python3, before any venv.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

PROJECT_ROOT: Final = Path(__file__).resolve().parents[3]
DEFAULT_ROOT: Final = PROJECT_ROOT / ".local" / "runtime-root"
SUITE: Final = "trixie"
PYTHON: Final = "python3.13"
# Written last: a root without it is a half-made one (an interrupted debootstrap) and is made again.
STAMP: Final = ".runtime-root-complete"
SOURCES: Final = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
TOOLS: Final = {"debootstrap": "debootstrap", "bwrap": "bubblewrap"}
SANDBOX_TMP: Final = "/tmp"  # noqa: S108 - a tmpfs of the sandbox's own, never the host's /tmp


class RootError(RuntimeError):
    """The root filesystem cannot be made or is not there."""


def root_dir() -> Path:
    """Where the root lives: $PIPELINE_RUNTIME_ROOT, else .local/runtime-root in the checkout."""
    return Path(os.environ.get("PIPELINE_RUNTIME_ROOT", DEFAULT_ROOT))


def root_python(root: Path | None = None) -> Path:
    """The root's python3.13 (a path on this machine; run it inside the root, e.g. with `chroot`, or use
    `python_command()`); raises RootError when the root has not been made."""
    root = root_dir() if root is None else root
    python = root / "usr" / "bin" / PYTHON
    if not (root / STAMP).is_file() or not python.exists():
        raise RootError(f"no python3.13 root at {root}: run `make runtime-root`")
    return python


def bwrap_root(root: Path) -> list[str]:
    """bubblewrap arguments that show `root` as the sandbox's `/`, read-only: each top-level entry bound (or
    linked) onto bwrap's own root, so that further mount points can be made anywhere. Finish the command with
    `READ_ONLY_ROOT` after the last mount."""
    args: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name in ("proc", "dev", "tmp") or entry.name.startswith("."):
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), f"/{entry.name}"]
        elif entry.is_dir():
            args += ["--ro-bind", str(entry), f"/{entry.name}"]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


READ_ONLY_ROOT: Final = ("--remount-ro", "/")


def python_command(root: Path | None = None, bind: Path | None = None) -> list[str]:
    """A command prefix that runs the root's python3.13 inside the root (bubblewrap, no network), with `bind`
    (default: the working directory) writable at the same path: e.g. `[*python_command(bind=site), "-m",
    "compileall", str(site)]`."""
    root = root_dir() if root is None else root
    root_python(root)
    where = str((bind or Path.cwd()).resolve())
    return [
        "bwrap", *bwrap_root(root), "--tmpfs", SANDBOX_TMP, "--bind", where, where, *READ_ONLY_ROOT,
        "--chdir", where, "--unshare-net", "--die-with-parent", f"/usr/bin/{PYTHON}",
    ]  # fmt: skip


def _uris(text: str) -> list[str]:
    """Debian archive URIs named by one-line (`deb URI suite ...`) and deb822 (`URIs: ...`) apt sources."""
    found: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        one_line = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if one_line:
            found.append(one_line.group(1))
        elif line.lower().startswith("uris:"):
            found.extend(line.split(":", 1)[1].split())
    return found


def apt_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The Debian archive this machine's apt sources name (not its security archive, not a third-party one)."""
    files: list[Path] = []
    for path in sources:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in {".list", ".sources"})
        elif path.is_file():
            files.append(path)
    for file in files:
        for uri in _uris(file.read_text(encoding="utf-8", errors="replace")):
            archive = uri.rstrip("/")
            if archive.endswith("/debian") and "security" not in archive:
                return archive
    raise RootError(f"no Debian archive in the apt sources ({', '.join(map(str, sources))})")


def ensure_tools(tools: dict[str, str] = TOOLS) -> None:
    """apt-get install the tools this needs (debootstrap; bubblewrap for the sandbox) when they are missing."""
    missing = sorted({package for command, package in tools.items() if shutil.which(command) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise RootError(f"{', '.join(missing)} missing: install with `sudo apt-get install {' '.join(missing)}`")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def ensure_root(root: Path | None = None, mirror: str | None = None) -> Path:
    """Make the python3.13 root when it is missing (or half-made); returns the root's python3.13."""
    root = root_dir() if root is None else root
    if (root / STAMP).is_file():
        return root_python(root)
    if os.geteuid() != 0:
        raise RootError("debootstrap needs root: run `make runtime-root` as root (CI does)")
    ensure_tools()
    mirror = mirror or apt_mirror()
    if root.exists():
        shutil.rmtree(root)
    partial = root.with_name(root.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    print(f"debootstrap {SUITE} ({PYTHON}) from {mirror} into {root}", file=sys.stderr)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={PYTHON}", SUITE, str(partial), mirror], check=True)
    # Lambda's image has no package cache; neither does this root (it is only ever mounted read-only).
    shutil.rmtree(partial / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (partial / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    for mount in ("var/task", "opt", "var/runtime", "var/observe"):
        (partial / mount).mkdir(parents=True, exist_ok=True)
    partial.rename(root)
    (root / STAMP).write_text(f"{SUITE} {mirror} {time.monotonic() - began:.1f}s\n", encoding="utf-8")
    print(f"python3.13 root ready in {time.monotonic() - began:.1f} s: {root}", file=sys.stderr)
    return root_python(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=None, help="where the root goes (default .local/runtime-root)")
    args = parser.parse_args(argv)
    try:
        ensure_tools()
        python = ensure_root(args.root)
    except (RootError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(python)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
