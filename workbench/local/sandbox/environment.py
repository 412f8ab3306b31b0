"""One Lambda execution environment: the function's built code and layer, run by awslambdaric in the python3.13
root, in a bubblewrap sandbox.

What the sandbox holds to, as Lambda does:

- `/` is the Debian 13 root, read-only; the code package at /var/task, the layer at /opt and the runtime
  (awslambdaric, the AWS SDK) at /var/runtime, all read-only; HOME names a folder that does not exist;
- only /tmp is writable: a tmpfs of the function's ephemeral storage (the template's EphemeralStorage, 512 MB
  when it says nothing);
- its own user (uid 993, as Lambda's sbx_user1051), pid, ipc and uts namespaces; the network is the machine's,
  as the local stack's endpoints are on loopback;
- memory: a cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`) of the function's MemorySize, whose OOM
  killer ends the environment as Lambda's does, with its peak usage read as "Max Memory Used"; where no cgroup
  can be made, RLIMIT_AS (`prlimit --as`) of the same size, which counts address space rather than memory;
- timeout: an invocation that has not answered by its deadline ends the environment ("Task timed out").

The environment is initialised once (process start, runtime start, handler import: the init phase ends at the
runtime's first `next`) and reused by the following invocations; one that dies or times out is started again
at the next invocation, as a cold start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from pipeline.errors import PipelineError
from workbench.local.sandbox import root as runtime_root
from workbench.local.sandbox.artifacts import Mounts
from workbench.local.sandbox.runtime_api import Invocation, RuntimeApi

SANDBOX_UID: Final = 993  # sbx_user1051 in Lambda's images
SANDBOX_GID: Final = 990
DEFAULT_EPHEMERAL_MB: Final = 512
HOME: Final = "/home/sbx_user1051"  # set, as in Lambda, and not there: nothing can be written into it
SANDBOX_PATH: Final = "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin"
PYTHONPATH: Final = "/var/runtime:/var/task:/opt/python:/var/observe"
CGROUP_V1: Final = Path("/sys/fs/cgroup/memory")
CGROUP_V2: Final = Path("/sys/fs/cgroup")
MB: Final = 1024 * 1024


class FunctionError(PipelineError):
    """An invocation ended in an error: the handler raised, init failed, the runtime died or timed out."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function, self.error_type, self.message = function, error_type, message


@dataclass(frozen=True)
class FunctionConfig:
    """What the template gives one function, resolved against the local stack."""

    name: str  # the function's name, e.g. ingest-yahoo_finance
    function_name: str  # its FunctionName in the template
    logical_id: str
    handler: str
    memory_mb: int
    timeout_s: int
    ephemeral_mb: int
    environment: dict[str, str]
    role: str  # logical id of its AWS::IAM::Role
    arn: str


@dataclass
class Invoked:
    """One invocation as the run report counts it."""

    cold: bool
    init_ms: float | None
    duration_ms: float
    max_memory_mb: float | None
    error: str | None = None


@dataclass
class EnvironmentStats:
    invocations: list[Invoked] = field(default_factory=list)
    init_errors: list[str] = field(default_factory=list)


class MemoryLimit:
    """A memory cgroup of `limit_mb` for one environment (or None when none can be made here)."""

    def __init__(self, path: Path, version: int) -> None:
        self.path, self.version = path, version

    @classmethod
    def create(cls, name: str, limit_mb: int) -> MemoryLimit | None:
        limit = str(limit_mb * MB)
        for version, parent in ((1, _own_cgroup(CGROUP_V1, "memory")), (2, _own_cgroup(CGROUP_V2, ""))):
            if parent is None:
                continue
            path = parent / name
            try:
                path.mkdir(exist_ok=True)
                if version == 1:
                    (path / "memory.limit_in_bytes").write_text(limit)
                    with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
                        (path / "memory.memsw.limit_in_bytes").write_text(limit)
                else:
                    (path / "memory.max").write_text(limit)
                    with contextlib.suppress(OSError):
                        (path / "memory.swap.max").write_text("0")
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            return cls(path, version)
        return None

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def reset_peak(self) -> None:
        if self.version == 1:
            with contextlib.suppress(OSError):
                (self.path / "memory.max_usage_in_bytes").write_text("0")

    def peak_mb(self) -> float | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((self.path / name).read_text()) / MB
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            text = (self.path / name).read_text()
        except OSError:
            return False
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0")) > 0

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)  # its last process is still exiting


def _own_cgroup(mount: Path, controller: str) -> Path | None:
    """This process's cgroup under `mount` (v1: the `controller` line of /proc/self/cgroup; v2: the `0::` one)."""
    if not mount.is_dir():
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller and controller in controllers.split(",")) or (not controller and line.startswith("0::")):
            candidate = mount / path.lstrip("/")
            marker = "memory.limit_in_bytes" if controller else "cgroup.controllers"
            if candidate.is_dir() and (candidate / marker).exists():
                return candidate
            if (mount / marker).exists():  # a cgroup namespace shows our cgroup as the root
                return mount
    return None


class ExecutionEnvironment:
    """One function's execution environment, started on the first invocation and reused after it."""

    def __init__(
        self,
        config: FunctionConfig,
        mounts: Mounts,
        *,
        base_environment: dict[str, str],
        writable: tuple[Path, ...] = (),
        log_dir: Path,
        root: Path | None = None,
    ) -> None:
        self.config, self.mounts = config, mounts
        self.root = runtime_root.root_dir() if root is None else root
        self.base_environment, self.writable = base_environment, writable
        self.log_path = log_dir / f"{config.name}.log"
        self.api = RuntimeApi()
        self.stats = EnvironmentStats()
        self.memory: MemoryLimit | None = None
        self.memory_enforcement = "none"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._init_ms: float | None = None

    # -- the sandbox -------------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        c = self.config
        lambda_env = {
            "AWS_LAMBDA_FUNCTION_NAME": c.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(c.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{c.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{os.urandom(16).hex()}",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": c.handler,
            "PATH": SANDBOX_PATH,
            "PYTHONPATH": PYTHONPATH,
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": HOME,
        }
        # The template's variables, then the local stack's (mode, endpoints, credentials, stand-ins), then Lambda's own.
        return {**c.environment, **self.base_environment, **lambda_env}

    def command(self) -> list[str]:
        m, c = self.mounts, self.config
        binds = [arg for path in self.writable for arg in ("--bind", str(path), str(path))]
        etc = [arg for name in ("resolv.conf", "hosts") for arg in ("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")]
        sandbox = [
            "bwrap", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "localhost",
            *runtime_root.bwrap_root(self.root), *etc,
            "--ro-bind", str(m.task), "/var/task", "--ro-bind", str(m.layer), "/opt",
            "--ro-bind", str(m.runtime), "/var/runtime", "--ro-bind", str(m.observe), "/var/observe",
            "--size", str(c.ephemeral_mb * MB), "--tmpfs", runtime_root.SANDBOX_TMP, *binds,
            *runtime_root.READ_ONLY_ROOT, "--chdir", "/var/task", "--die-with-parent", "--new-session",
            "/usr/bin/python3.13", "-m", "awslambdaric", c.handler,
        ]  # fmt: skip
        if self.memory is not None:  # join the cgroup before exec, so every process of the sandbox is in it
            return ["sh", "-c", f'echo $$ > "{self.memory.procs}" && exec "$@"', "sandbox", *sandbox]
        if shutil.which("prlimit"):
            return ["prlimit", f"--as={c.memory_mb * MB}", *sandbox]
        return sandbox

    def start(self) -> None:
        """The init phase: start the sandbox and wait for the runtime's first `next` (or its init error)."""
        self.stop()
        self.api.reset()
        name = f"pipeline-{self.config.name}-{os.getpid()}"
        self.memory = MemoryLimit.create(name, self.config.memory_mb)
        self.memory_enforcement = (
            f"cgroup v{self.memory.version} ({self.config.memory_mb} MB)"
            if self.memory
            else f"RLIMIT_AS ({self.config.memory_mb} MB)"
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        began = time.monotonic()
        self._process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = began + self.config.timeout_s
        while time.monotonic() < deadline:
            if self.api.ready.is_set():
                self._init_ms = (self.api.ready_at - began) * 1000
                return
            if self.api.init_failed.is_set() or self._process.poll() is not None:
                break
            time.sleep(0.005)
        error = self.api.init_error or {"errorType": "Runtime.ExitError", "errorMessage": self._exit_reason()}
        if time.monotonic() >= deadline:
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"init not done in {self.config.timeout_s} s"}
        self.stop()
        message = f"{error.get('errorType')}: {error.get('errorMessage')}"
        self.stats.init_errors.append(message)
        raise FunctionError(self.config.name, "Runtime.InitError", message)

    def _exit_reason(self) -> str:
        process = self._process
        code = None if process is None else process.poll()
        if self.memory is not None and self.memory.oom_killed():
            return f"Runtime exited: out of memory ({self.config.memory_mb} MB)"
        if code is None:
            return "Runtime did not answer"
        if code < 0:
            return f"Runtime exited with signal {signal.Signals(-code).name}"
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:] if self.log_path.exists() else []
        return f"Runtime exited with status {code}: {' | '.join(tail)}"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None and self.api.ready.is_set()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.memory is not None:
            self.memory.remove()
            self.memory = None
        self.api.release()

    def close(self) -> None:
        self.stop()
        self.api.close()

    # -- invocations -------------------------------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> Any:
        """Run one invocation; returns the handler's result, raises FunctionError as Lambda reports errors."""
        cold = not self.alive()
        init_ms = None
        if cold:
            self.start()
            init_ms = self._init_ms
        assert self._process is not None
        if self.memory is not None:
            self.memory.reset_peak()
        timeout = self.config.timeout_s
        invocation = Invocation(
            event=json.dumps(event).encode(),
            deadline_ms=int((time.time() + timeout) * 1000),
            function_arn=self.config.arn,
        )
        submitted = time.monotonic()
        self.api.submit(invocation)
        error: dict[str, Any] | None = None
        while not invocation.done.wait(0.01):
            if self._process.poll() is not None:
                error = {"errorType": "Runtime.ExitError", "errorMessage": self._exit_reason()}
                break
            if time.monotonic() - submitted > timeout:
                error = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout}.00 seconds"}
                break
        finished = invocation.finished or time.monotonic()
        duration_ms = (finished - (invocation.started or submitted)) * 1000
        peak = self.memory.peak_mb() if self.memory is not None else None
        self._report_line(invocation.request_id, duration_ms, init_ms, peak)
        if error is not None:
            self.stop()  # Lambda ends an environment whose runtime died or timed out
        else:
            error = invocation.error
        message = None if error is None else f"{error.get('errorType')}: {error.get('errorMessage')}"
        self.stats.invocations.append(Invoked(cold, init_ms, duration_ms, peak, message))
        if error is not None:
            raise FunctionError(self.config.name, str(error.get("errorType")), str(error.get("errorMessage")))
        return json.loads(invocation.response or b"null")

    def _report_line(self, request_id: str, duration_ms: float, init_ms: float | None, peak: float | None) -> None:
        if self._log is None:
            return
        parts = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms"]
        parts.append(f"Memory Size: {self.config.memory_mb} MB")
        if peak is not None:
            parts.append(f"Max Memory Used: {peak:.0f} MB")
        if init_ms is not None:
            parts.append(f"Init Duration: {init_ms:.2f} ms")
        self._log.write(("\t".join(parts) + "\n").encode())
        self._log.flush()
