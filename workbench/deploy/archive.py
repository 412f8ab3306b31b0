"""Reproducible zip archives: the same files always give the same bytes, so the same S3 key and no needless
CloudFormation update."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Zip timestamps start in 1980; every entry gets this one so an archive depends on content alone.
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Artifact:
    """A built zip: what Lambda measures (the unzipped size) and what is uploaded (the zipped size)."""

    name: str
    path: Path
    unzipped: int
    zipped: int
    sha256: str
    cached: bool = False

    @property
    def s3_key(self) -> str:
        """A content-addressed key: a new build with new content is a new key, an unchanged one is not."""
        return f"artifacts/{self.name}-{self.sha256[:16]}.zip"


def write_zip(source: Path, destination: Path, prefix: str = "") -> None:
    """Zip every file under `source` (sorted, fixed timestamps, normalized modes) as `prefix/<relative path>`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(destination.suffix + ".partial")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            relative = path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(f"{prefix}/{relative}" if prefix else relative, date_time=_EPOCH)
            executable = os.stat(path).st_mode & 0o111
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as handle:
                archive.writestr(info, handle.read(), compresslevel=6)
    partial.replace(destination)


def describe(name: str, path: Path, cached: bool = False) -> Artifact:
    """Sizes and digest of a zip: unzipped = the sum of its files, as Lambda counts it."""
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Artifact(name, path, unzipped, path.stat().st_size, digest.hexdigest(), cached)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
