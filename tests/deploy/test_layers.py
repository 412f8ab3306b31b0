"""The layer builder: what trimming keeps and drops, runtime bytecode, the cache, zips and Lambda's limits."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.deploy.archive import describe, write_zip
from workbench.deploy.functions import PackagingError, all_functions, get_function, requirements
from workbench.deploy.layers import (
    LayerSpec,
    build_layer,
    compile_bytecode,
    constraint_pins,
    installed_versions,
    layer_specs,
    pip_command,
    trim,
)
from workbench.deploy.runtime import find_runtime_python, lambda_runtime
from workbench.deploy.sizes import BUDGET, UNZIPPED_LIMIT, FunctionSize, check_limits

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _dist(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    """A fake installed distribution: its files and a dist-info with METADATA and RECORD."""
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist_info / "WHEEL").write_text("Wheel-Version: 1.0\n")
    (dist_info / "INSTALLER").write_text("pip\n")
    (dist_info / "entry_points.txt").write_text("[console_scripts]\n")
    record = [f"{relative},," for relative in files] + [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small site-packages as `pip install --target` leaves it."""
    site = tmp_path / "python"
    _dist(site, "botocore", "1.35.0", {"botocore/__init__.py": "x = 1\n", "botocore/data/s3.json": "{}" * 500})
    _dist(site, "boto3", "1.35.0", {"boto3/__init__.py": "", "boto3/session.py": "y = 2\n"})
    _dist(site, "s3transfer", "0.10.0", {"s3transfer/__init__.py": ""})
    _dist(site, "jmespath", "1.0.1", {"jmespath/__init__.py": "", "bin/jp.py": "#!python\n"})
    _dist(
        site,
        "python-dateutil",
        "2.9.0",
        {"dateutil/__init__.py": "", "dateutil/parser/_parser.py": "def parse(s):\n    return s\n"},
    )
    _dist(
        site,
        "libfoo",
        "2.3.4",
        {
            "libfoo/__init__.py": ("from importlib.metadata import version\n__version__ = version('libfoo')\n"),
            "libfoo/core.py": "def answer():\n    return 42\n",
            "libfoo/core.pyi": "def answer() -> int: ...\n",
            "libfoo/_speed.pyx": "cdef int x\n",
            "libfoo/include/foo.h": "#define FOO 1\n",
            "libfoo/tests/__init__.py": "",
            "libfoo/tests/test_core.py": "def test(): pass\n",
            "libfoo/testing/__init__.py": "def helper():\n    return 1\n",
            "libfoo/__pycache__/core.cpython-312.pyc": "stale",
            "libfoo/data/table.csv": "a,b\n1,2\n",
        },
    )
    (site / "bin").mkdir(exist_ok=True)
    (site / "bin" / "foo-cli").write_text("#!/usr/bin/python\n")
    (site / "libfoo-stubs").mkdir()
    (site / "libfoo-stubs" / "__init__.pyi").write_text("")
    return site


def test_trim_drops_what_the_runtime_provides_and_keeps_what_the_function_loads(site: Path) -> None:
    # WHEN the installed tree is trimmed
    report = trim(site)

    # THEN the AWS SDK the runtime already has is gone, with its dist-info
    for gone in ("boto3", "botocore", "s3transfer", "jmespath", "bin"):
        assert not (site / gone).exists(), gone
    assert not list(site.glob("boto*.dist-info")) and not list(site.glob("jmespath*.dist-info"))
    # ... but what other packages need from the SDK's dependencies stays (versions the layer resolved)
    assert (site / "dateutil" / "parser" / "_parser.py").is_file()
    # ... tests, stubs, C sources, headers and stale bytecode are gone; `testing` helpers and data files stay
    assert not (site / "libfoo" / "tests").exists()
    assert not (site / "libfoo-stubs").exists()
    assert not any(site.rglob("*.pyi")) and not any(site.rglob("*.pyx")) and not any(site.rglob("*.h"))
    assert not any(site.rglob("__pycache__"))
    assert (site / "libfoo" / "testing" / "__init__.py").is_file()
    assert (site / "libfoo" / "data" / "table.csv").is_file()
    # ... install records go, the metadata importlib.metadata reads stays
    dist_info = site / "libfoo-2.3.4.dist-info"
    assert sorted(p.name for p in dist_info.iterdir()) == ["METADATA", "entry_points.txt"]
    assert report.removed["provided by the Lambda runtime"] > 1000
    assert set(report.removed) >= {"tests and caches", "type stubs and C sources", "install records"}


def test_a_trimmed_package_still_reads_its_own_version(site: Path) -> None:
    trim(site)
    code = "import libfoo, libfoo.core; print(libfoo.__version__, libfoo.core.answer())"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["2.3.4", "42"]


def test_bytecode_is_compiled_for_the_runtime_and_never_rechecked(site: Path) -> None:
    # GIVEN a trimmed tree, compiled by this interpreter (the mechanism; the runtime's Python is tried below)
    trim(site)
    warnings: list[str] = []
    compile_bytecode(site, sys.executable, "/opt/python", warnings.append)

    # THEN each module has a .pyc for this interpreter next to its .py, hash-based and unchecked:
    # a read-only /opt never makes the runtime recompile
    pyc = site / "libfoo" / "__pycache__" / f"core.{sys.implementation.cache_tag}.pyc"
    assert (site / "libfoo" / "core.py").is_file() and pyc.is_file()
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, check_source off
    assert warnings == []


def test_a_file_that_does_not_compile_is_one_warning(site: Path) -> None:
    (site / "libfoo" / "broken.py").write_text("def (:\n")
    warnings: list[str] = []
    compile_bytecode(site, sys.executable, "/opt/python", warnings.append)
    assert len(warnings) == 1 and "did not compile" in warnings[0] and "broken.py" in warnings[0]


@pytest.fixture
def pins(tmp_path: Path) -> Path:
    """A constraints.txt pinning what the fake installer installs."""
    path = tmp_path / "constraints.txt"
    path.write_text("# tested together\nlibfoo==2.3.4\nbotocore==1.35.0\n")
    return path


def _fake_installer(calls: list[str]):  # type: ignore[no-untyped-def]
    def install(spec: LayerSpec, target: Path) -> dict[str, str]:
        calls.append(spec.name)
        _dist(target, "libfoo", "2.3.4", {"libfoo/__init__.py": "X = 1\n", "libfoo/tests/t.py": ""})
        _dist(target, "botocore", "1.35.0", {"botocore/__init__.py": ""})
        return {"libfoo": "2.3.4", "botocore": "1.35.0"}

    return install


def test_layer_zip_holds_python_folder_and_a_second_build_comes_from_the_cache(tmp_path: Path, pins: Path) -> None:
    spec = LayerSpec("deps-test", ("test",), ("libfoo>=2",))
    calls: list[str] = []

    first = build_layer(spec, tmp_path, interpreter=sys.executable, installer=_fake_installer(calls), constraints=pins)
    second = build_layer(spec, tmp_path, interpreter=sys.executable, installer=_fake_installer(calls), constraints=pins)

    assert calls == ["deps-test"] and not first.cached and second.cached
    assert second.sha256 == first.sha256 and second.unzipped == first.unzipped
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
    assert "python/libfoo/__init__.py" in names
    assert f"python/libfoo/__pycache__/__init__.{sys.implementation.cache_tag}.pyc" in names
    assert not any(n.startswith(("python/botocore", "python/libfoo/tests")) for n in names)
    manifest = json.loads((tmp_path / "deps-test.json").read_text())
    assert manifest["packages"] == {"libfoo": "2.3.4"} and manifest["provided_by_runtime"] == ["botocore"]
    assert manifest["runtime"] == "python3.13"

    # WHEN the requirements change, the cache no longer matches
    changed = LayerSpec("deps-test", ("test",), ("libfoo>=3",))
    third = build_layer(
        changed, tmp_path, interpreter=sys.executable, installer=_fake_installer(calls), constraints=pins
    )
    assert calls == ["deps-test", "deps-test"] and not third.cached
    # ... nor when the tested versions change
    pins.write_text("libfoo==2.3.4\nbotocore==1.35.0\npandas==3.1.1\n")
    fourth = build_layer(
        changed, tmp_path, interpreter=sys.executable, installer=_fake_installer(calls), constraints=pins
    )
    assert calls == ["deps-test"] * 3 and not fourth.cached


def test_a_layer_with_a_version_constraints_txt_does_not_pin_fails_in_one_line(tmp_path: Path) -> None:
    # GIVEN constraints.txt pins libfoo 2.3.5, and pip (wrongly) installs 2.3.4 and an unpinned extra package
    pins = tmp_path / "constraints.txt"
    pins.write_text("libfoo==2.3.5\n")

    def install(spec: LayerSpec, target: Path) -> dict[str, str]:
        _dist(target, "libfoo", "2.3.4", {"libfoo/__init__.py": ""})
        _dist(target, "Other_Thing", "1.0", {"other_thing/__init__.py": ""})
        return {"libfoo": "2.3.4", "other-thing": "1.0"}

    # WHEN the layer is built, THEN it fails, naming both, in one line, and no zip is left to deploy
    with pytest.raises(PackagingError) as failure:
        build_layer(LayerSpec("deps-x", (), ("libfoo",)), tmp_path, interpreter=sys.executable, installer=install,
                    constraints=pins)  # fmt: skip
    message = str(failure.value)
    assert "libfoo 2.3.4, constraints.txt has 2.3.5" in message
    assert "other-thing 1.0, not in constraints.txt" in message and "\n" not in message
    assert not (tmp_path / "deps-x.zip").exists()


def test_pip_resolves_with_the_constraints_for_the_runtime_python_and_its_manylinux_tags(tmp_path: Path) -> None:
    spec = LayerSpec("deps-x", (), ("pandas>=2.2",))
    command = pip_command(spec, tmp_path / "t", tmp_path / "r.json", constraints=PYPROJECT.with_name("constraints.txt"))
    joined = " ".join(command)
    assert f"-c {PYPROJECT.with_name('constraints.txt')}" in joined
    assert "--python-version 3.13" in joined and "--abi cp313" in joined and "--only-binary=:all:" in joined
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms[0] == "manylinux_2_34_x86_64"  # Amazon Linux 2023's glibc
    assert {"manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"} <= set(platforms)
    assert LayerSpec("deps-x", (), (), lambda_runtime("python3.12")).runtime.abi == "cp312"
    with pytest.raises(PackagingError, match=r"runtime 'python3.11' is not supported: choose one of python3\.13"):
        lambda_runtime("python3.11")


def test_without_the_runtime_python_a_layer_is_built_with_one_warning(
    tmp_path: Path, pins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workbench.deploy.layers.find_runtime_python", lambda runtime=None: None)
    warnings: list[str] = []
    artifact = build_layer(
        LayerSpec("deps-test", (), ("libfoo",)),
        tmp_path,
        installer=_fake_installer([]),
        warn=warnings.append,
        constraints=pins,
    )
    with zipfile.ZipFile(artifact.path) as archive:
        assert not any(name.endswith(".pyc") for name in archive.namelist())
    assert len(warnings) == 1 and "without bytecode" in warnings[0]


def test_zips_are_reproducible(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_text("A = 1\n")
    (source / "pkg" / "b.txt").write_text("b\n")
    write_zip(source, tmp_path / "one.zip")
    (source / "pkg" / "a.py").touch()  # a newer mtime changes nothing
    write_zip(source, tmp_path / "two.zip")
    assert describe("one", tmp_path / "one.zip").sha256 == describe("two", tmp_path / "two.zip").sha256


def _size(function: str, layer_mb: float) -> FunctionSize:
    return FunctionSize(function, "h", "deps-x", 1_000_000, int(layer_mb * 1024 * 1024), 400_000, 1)


def test_a_function_over_the_150_mb_budget_or_lambdas_250_fails_the_build_in_one_line() -> None:
    check_limits([_size("ingest-ok", 148)])
    with pytest.raises(PackagingError) as failure:
        check_limits([_size("ingest-ok", 148), _size("ingest-fat", 150)])
    message = str(failure.value)
    assert "ingest-fat is 151.0 MB" in message and "150 MB budget" in message and "\n" not in message
    with pytest.raises(PackagingError, match=r"process-big .* over Lambda's 250 MB limit"):
        check_limits([_size("process-big", 260)])
    assert _size("x", 260).unzipped > UNZIPPED_LIMIT and _size("x", 148).unzipped <= BUDGET


def test_each_function_family_installs_its_pyproject_extra_plus_the_base() -> None:
    # The extras the functions name all exist in pyproject.toml
    assert {extra for f in all_functions() for extra in f.extras} <= set(_pyproject_extras()), (
        "a function names an extra pyproject.toml does not have"
    )
    process_oxr = requirements(get_function("process-openexchangerates").extras)
    names = {r.split(">")[0].split("<")[0].split("=")[0].lower() for r in process_oxr}
    assert {"pydantic", "pydantic-settings", "aws-lambda-powertools", "sqlalchemy", "pymssql"} <= names
    assert "pyarrow" not in names and "yfinance" not in names
    # ten functions (ingest, process, redrive per source, the compaction), one layer per distinct extra set: six,
    # as a redrive function and the compaction need their process function's
    assert len(all_functions()) == 10 and len(layer_specs()) == len({f.extras for f in all_functions()}) == 6
    assert get_function("redrive-openexchangerates").layer_name == get_function("process-openexchangerates").layer_name


def test_an_unknown_extra_or_function_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="extra 'nope' is not in"):
        requirements(("nope",))
    with pytest.raises(PackagingError, match="unknown function 'ingest-nope': expected one of ingest-yahoo_finance"):
        get_function("ingest-nope")


def _pyproject_extras() -> list[str]:
    import tomllib

    return list(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"])


@pytest.mark.slow
def test_a_real_layer_gets_the_tested_version_as_the_runtimes_linux_wheel(tmp_path: Path) -> None:
    """One small real build through pip (needs PyPI): the version constraints.txt pins, as the cp313 manylinux
    wheel, whatever this machine is; bytecode from the runtime's Python when it is here, else none."""
    pinned = str(constraint_pins()["markupsafe"])
    spec = LayerSpec("deps-markupsafe", (), ("markupsafe",))  # unpinned: constraints.txt decides
    python = find_runtime_python(spec.runtime)
    artifact = build_layer(spec, tmp_path, warn=lambda _: None)
    with zipfile.ZipFile(artifact.path) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")
    assert "python/markupsafe/_speedups.cpython-313-x86_64-linux-gnu.so" in names
    pycs = [name for name in names if name.endswith(".pyc")]
    if python is None:
        assert pycs == []
    else:
        assert "python/markupsafe/__pycache__/__init__.cpython-313.pyc" in names
        assert all(".cpython-313." in name for name in pycs)
    assert not any(name.endswith((".pyi", "RECORD")) for name in names)
    assert installed_versions(tmp_path / "unzipped" / "python") == {"markupsafe": pinned}
    assert json.loads((tmp_path / "deps-markupsafe.json").read_text())["packages"] == {"markupsafe": pinned}


def test_the_package_index_counts_as_reachable_when_it_answers_at_all(tmp_path: Path) -> None:
    import http.server
    import socket
    import threading

    from workbench.deploy.layers import index_reachable

    # An index that answers 404 to everything: reachable (the network is there)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert index_reachable(f"http://127.0.0.1:{server.server_address[1]}/simple", timeout=5) == (
            True,
            f"http://127.0.0.1:{server.server_address[1]}/simple",
        )
    finally:
        server.shutdown()
        server.server_close()
    # A port nobody listens on: not reachable
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert index_reachable(f"http://127.0.0.1:{closed}/simple", timeout=5)[0] is False
    # A local index folder: reachable when it exists
    assert index_reachable(tmp_path.as_uri())[0] is True
    assert index_reachable((tmp_path / "missing").as_uri())[0] is False


def test_a_pip_install_past_its_time_limit_is_one_clear_error(tmp_path: Path) -> None:
    from workbench.deploy.layers import pip_install

    with pytest.raises(PackagingError, match=r"pip did not finish installing layer deps-x within 0 s") as failure:
        pip_install(LayerSpec("deps-x", (), ("markupsafe",)), tmp_path, timeout=0.01)
    assert "\n" not in str(failure.value)


def test_a_manifest_from_an_earlier_builder_reads_like_a_new_one(tmp_path: Path) -> None:
    from workbench.deploy.layers import read_manifest

    (tmp_path / "deps-old.json").write_text(json.dumps({"packages": {"boto3": "1.35.0", "sqlalchemy": "2.0.1"}}))
    manifest = read_manifest(tmp_path, "deps-old")
    assert manifest["packages"] == {"sqlalchemy": "2.0.1"} and manifest["provided_by_runtime"] == ["boto3"]


def test_trim_drops_the_parts_of_pyarrow_no_function_loads(tmp_path: Path) -> None:
    site = tmp_path / "python"
    module = "cpython-313-x86_64-linux-gnu.so"
    files = (
        "libarrow.so.2600", "libarrow_flight.so.2600", f"_flight.{module}", "libarrow_s3.so.2600", f"_s3fs.{module}",
        "libarrow_python.so", "libarrow_python.so.2600", "libarrow_python.so.2600.1.0", f"_parquet.{module}",
    )  # fmt: skip
    _dist(site, "pyarrow", "26.0.1", {f"pyarrow/{name}": "x" for name in files})
    report = trim(site)
    kept = sorted(p.name for p in (site / "pyarrow").iterdir())
    assert kept == [f"_parquet.{module}", "libarrow.so.2600", "libarrow_python.so.2600"]
    assert report.removed["parts no function loads (pyarrow Flight and S3)"] == 6
    assert LayerSpec("deps-parquet", ("parquet",), ("pyarrow>=15",)).unused_parts()["pyarrow"]
    assert LayerSpec("deps-x", (), ("pandas>=2",)).unused_parts() == {}
