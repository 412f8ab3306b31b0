"""The python3.13 root filesystem: from the machine's own Debian mirror, and a python3.13 that runs in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workbench.local.sandbox import root


def test_mirror_is_the_debian_archive_of_the_apt_sources_not_security_or_third_party(tmp_path: Path) -> None:
    listd = tmp_path / "sources.list.d"
    listd.mkdir()
    (listd / "a-vendor.list").write_text("deb [arch=amd64] https://packages.example.org/apt stable main\n")
    (listd / "debian.sources").write_text(
        "Types: deb\n# URIs: http://commented.example/debian\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert root.apt_mirror((tmp_path / "sources.list", listd)) == "http://mirror.example/debian"


def test_one_line_sources_are_read_too(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "# deb http://old.example/debian bookworm main\ndeb http://ftp.example.org/debian bookworm main\n"
    )
    assert root.apt_mirror((sources,)) == "http://ftp.example.org/debian"


def test_no_debian_archive_is_one_clear_error(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("deb https://packages.example.org/apt stable main\n")
    with pytest.raises(root.RootError, match="no Debian archive in the apt sources"):
        root.apt_mirror((sources,))


def test_a_half_made_root_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "python3.13").touch()
    with pytest.raises(root.RootError, match="make runtime-root"):
        root.root_python(tmp_path)


def test_the_roots_python_is_3_13_and_its_filesystem_is_read_only() -> None:
    try:
        root.root_python()
    except root.RootError:
        pytest.skip("no python3.13 root: `make runtime-root` builds it (make test-artifacts does)")
    command = [*root.python_command(bind=Path.cwd()), "-c", "import sys; print(sys.version_info[:2]); open('/x', 'w')"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "(3, 13)"
    assert "Read-only file system" in result.stderr
