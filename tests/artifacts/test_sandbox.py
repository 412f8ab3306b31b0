"""One execution environment, as Lambda runs one: what the function may write, its memory, its timeout, its init
once and warm invocations after it, its init error."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.local.sandbox import artifacts
from workbench.local.sandbox.artifacts import Mounts
from workbench.local.sandbox.environment import ExecutionEnvironment, FunctionConfig, FunctionError

PROBE = textwrap.dedent(
    """
    import os, time

    STARTED = time.time()
    CALLS = 0

    def _try_write(path):
        try:
            with open(path, "w") as handle:
                handle.write("x")
            return "written"
        except OSError as exc:
            return type(exc).__name__ + ": " + (exc.strerror or "")

    def handler(event, context):
        global CALLS
        CALLS += 1
        if event.get("allocate_mb"):
            hold = bytearray(event["allocate_mb"] * 1024 * 1024)
            return {"allocated": len(hold)}
        if event.get("sleep"):
            time.sleep(event["sleep"])
        if event.get("raise"):
            raise ValueError(event["raise"])
        tmp = os.statvfs("/tmp")
        return {
            "calls": CALLS,
            "started": STARTED,
            "task": _try_write("/var/task/x"),
            "opt": _try_write("/opt/x"),
            "root": _try_write("/x"),
            "home": _try_write(os.path.join(os.environ["HOME"], "x")),
            "tmp": _try_write("/tmp/x"),
            "tmp_mb": tmp.f_blocks * tmp.f_frsize // (1024 * 1024),
            "uid": os.getuid(),
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            "given": os.environ.get("GIVEN"),
        }
    """
)


def _environment(tmp_path: Path, handler: str = "probe.handler", **overrides: int) -> ExecutionEnvironment:
    task = tmp_path / "task"
    task.mkdir(exist_ok=True)
    (task / "probe.py").write_text(PROBE)
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True, exist_ok=True)
    mounts = Mounts(task, layer, artifacts.runtime_dir(), artifacts.OBSERVE_SOURCE, "test")
    config = FunctionConfig(
        name="probe",
        function_name="stack-probe",
        logical_id="ProbeFunction",
        handler=handler,
        memory_mb=overrides.get("memory_mb", 256),
        timeout_s=overrides.get("timeout_s", 10),
        ephemeral_mb=overrides.get("ephemeral_mb", 600),
        environment={"GIVEN": "from the template"},
        role="ProbeRole",
        arn="arn:aws:lambda:us-east-1:123456789012:function:stack-probe",
    )
    return ExecutionEnvironment(config, mounts, base_environment={}, log_dir=tmp_path / "logs")


@pytest.fixture
def probe(runtime_root_dir: Path, tmp_path: Path) -> Iterator[ExecutionEnvironment]:
    environment = _environment(tmp_path)
    yield environment
    environment.close()


def test_only_tmp_is_writable_and_it_has_the_ephemeral_storage_size(probe: ExecutionEnvironment) -> None:
    result = probe.invoke({})
    for place in ("task", "opt", "root", "home"):
        assert result[place].startswith(("OSError: Read-only file system", "FileNotFoundError", "PermissionError")), (
            place,
            result[place],
        )
    assert result["tmp"] == "written"
    assert result["tmp_mb"] == 600
    assert result["uid"] == 993
    assert (result["function"], result["given"]) == ("stack-probe", "from the template")
    assert 0 < result["remaining_ms"] <= 10_000


def test_the_environment_is_initialised_once_and_reused(probe: ExecutionEnvironment) -> None:
    first, second, third = (probe.invoke({}) for _ in range(3))
    assert [first["calls"], second["calls"], third["calls"]] == [1, 2, 3]
    assert first["started"] == third["started"]
    assert len({first["request_id"], second["request_id"], third["request_id"]}) == 3
    cold, *warm = probe.stats.invocations
    assert cold.cold and cold.init_ms is not None and cold.init_ms > 0
    assert [w.cold for w in warm] == [False, False] and all(w.init_ms is None for w in warm)
    assert "Init Duration" in probe.log_path.read_text()


def test_a_handler_error_keeps_the_environment(probe: ExecutionEnvironment) -> None:
    with pytest.raises(FunctionError, match="ValueError: bad input") as raised:
        probe.invoke({"raise": "bad input"})
    assert raised.value.error_type == "ValueError"
    assert probe.invoke({})["calls"] == 2  # the same process answered


def test_memory_beyond_the_functions_size_ends_the_environment(probe: ExecutionEnvironment) -> None:
    assert probe.invoke({"allocate_mb": 64})["allocated"] == 64 * 1024 * 1024
    with pytest.raises(FunctionError, match=r"Runtime\.ExitError: Runtime exited: out of memory \(256 MB\)"):
        probe.invoke({"allocate_mb": 400})
    assert probe.invoke({})["calls"] == 1  # a new environment: a cold start
    assert [i.cold for i in probe.stats.invocations] == [True, False, True]


def test_an_invocation_past_its_timeout_is_stopped(runtime_root_dir: Path, tmp_path: Path) -> None:
    environment = _environment(tmp_path, timeout_s=2)
    try:
        with pytest.raises(FunctionError, match=r"Task timed out after 2\.00 seconds"):
            environment.invoke({"sleep": 5})
        assert environment.invoke({})["calls"] == 1
    finally:
        environment.close()


def test_a_handler_that_cannot_be_imported_is_an_init_error(runtime_root_dir: Path, tmp_path: Path) -> None:
    environment = _environment(tmp_path, handler="missing_module.handler")
    try:
        with pytest.raises(FunctionError, match=r"ImportModuleError: Unable to import module 'missing_module'"):
            environment.invoke({})
        assert environment.stats.init_errors
    finally:
        environment.close()
