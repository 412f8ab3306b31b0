"""The local stack: a moto server (S3, SNS, SQS, Secrets Manager) and a fakesnow server, started as detached
processes (`workbench.local.processes`), with the pipeline's topology created on moto from the CloudFormation
template.

Everything `up` starts is recorded in `<local_dir>/stack.json` (pids, ports, endpoints, names); `down` stops those
processes, and only those, and removes the record. What moto holds in memory is kept across `down` and `up`
(`workbench.local.snapshot`); a fakesnow that died is started again alone, moto untouched. The rest of the project
reaches the stack through `status(settings).env()` or `.settings()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pipeline.constants import Env
from pipeline.settings import Settings
from workbench.cloudformation.template import TEMPLATE_PATH, Template, TemplateError
from workbench.cloudformation.topology import LOCAL_CREDENTIALS, Topology, build_topology
from workbench.local import processes, snapshot
from workbench.local.processes import HOST, ServerProcess
from workbench.local.processes import LocalStackError as LocalStackError  # the stack's one error, for its callers

STATE_FILE: Final = "stack.json"
LOCK_FILE: Final = "stack.lock"
LOG_DIR: Final = "logs"
SNOWFLAKE_DIR: Final = "snowflake"
SQLSERVER_FILE: Final = "sqlserver.db"
STACK_NAME: Final = "market-data-pipeline"
START_TIMEOUT_SECONDS: Final = 30.0

# The processes a pid must still look like before `down` signals it (a recycled pid is left alone).
_MOTO_MARKER: Final = "moto.server"
_FAKESNOW_MARKER: Final = "fakesnow"


@dataclass
class SnowflakeEndpoint:
    """Where the Snowflake sink connects locally (fakesnow), and where fakesnow keeps its DuckDB files."""

    host: str
    port: int
    database: str
    schema: str
    table: str
    db_path: str
    protocol: str = "http"


@dataclass
class LocalStack:
    """A running local stack, as recorded in `<local_dir>/stack.json`."""

    local_dir: str
    region: str
    aws_endpoint_url: str
    moto: ServerProcess
    fakesnow: ServerProcess
    snowflake: SnowflakeEndpoint
    sqlserver_url: str
    topology: Topology
    started_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # True when `up` found the stack already running (not saved).
    already_running: bool = field(default=False, compare=False)
    # The servers `up` found dead and started again, keeping the other one and its state (not saved).
    restarted: tuple[str, ...] = field(default=(), compare=False)
    # What `up` put back from the snapshot the last `down` kept, or what `down` kept (not saved).
    kept: snapshot.Kept | None = field(default=None, compare=False)
    # Settings fields this process sets on top of the stack's own (`demo.use_stack`; not saved): defaults that the
    # environment may override, then the caller's overrides.
    defaults: dict[str, Any] = field(default_factory=dict, compare=False)
    overrides: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- names ----------------------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.topology.bucket

    @property
    def topic_arn(self) -> str:
        return self.topology.topic_arn

    @property
    def queues(self) -> dict[str, str]:
        return dict(self.topology.queues)

    @property
    def dead_letter_queues(self) -> dict[str, str]:
        return dict(self.topology.dead_letter_queues)

    # -- what the rest of the project uses ----------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment variables that make `Settings()` (and boto3) point at this stack."""
        sf = self.snowflake
        return {
            Env.MODE: "simulated",
            Env.LOCAL_DIR: self.local_dir,
            Env.AWS_ENDPOINT_URL: self.aws_endpoint_url,
            Env.AWS_REGION: self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS,
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS,
            Env.AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS,
            Env.AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS,
            Env.BUCKET: self.bucket,
            Env.TOPIC_ARN: self.topic_arn,
            Env.SNOWFLAKE_HOST: sf.host,
            Env.SNOWFLAKE_PORT: str(sf.port),
            Env.SNOWFLAKE_PROTOCOL: sf.protocol,
            Env.SNOWFLAKE_ACCOUNT: "fakesnow",
            Env.SNOWFLAKE_USER: "fakesnow",
            Env.SNOWFLAKE_PASSWORD: "fakesnow",
            Env.SNOWFLAKE_DATABASE: sf.database,
            Env.SNOWFLAKE_SCHEMA: sf.schema,
            Env.SNOWFLAKE_TABLE: sf.table,
            Env.SNOWFLAKE_DB_PATH: sf.db_path,
            Env.SQLSERVER_URL: self.sqlserver_url,
        }

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at this stack, with this process's defaults and overrides and then the given ones
        (Settings fields, validated)."""
        env: dict[str, Any] = dict(self.env())
        settings = Settings(**env)
        if not (self.defaults or self.overrides or overrides):
            return settings
        return Settings.model_validate({**settings.model_dump(), **self.defaults, **self.overrides, **overrides})

    def running(self) -> bool:
        return self.moto.running() and self.fakesnow.running()

    def healthy(self) -> bool:
        return (
            self.running() and processes.answers(self.moto.url + "/moto-api/") and processes.answers(self.fakesnow.url)
        )

    def describe(self) -> dict[str, Any]:
        """What scripts and notebooks need to reach the stack (`local status --json`)."""
        return {
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": self.region,
            "bucket": self.bucket,
            "topic_arn": self.topic_arn,
            "queues": self.queues,
            "queue_arns": dict(self.topology.queue_arns),
            "dead_letter_queues": self.dead_letter_queues,
            "snowflake": asdict(self.snowflake),
            "sqlserver_url": self.sqlserver_url,
            # moto accepts any credentials, but boto3 signs nothing without some: these are the stack's dummy ones.
            "credentials": {"aws_access_key_id": LOCAL_CREDENTIALS, "aws_secret_access_key": LOCAL_CREDENTIALS},
            "local_dir": self.local_dir,
            "processes": {p.name: {"pid": p.pid, "port": p.port, "log": p.log} for p in (self.moto, self.fakesnow)},
            "started_at": self.started_at,
        }

    # -- the state file ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("already_running")
        data.pop("restarted")
        data.pop("defaults")
        data.pop("overrides")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalStack:
        return cls(
            local_dir=data["local_dir"],
            region=data["region"],
            aws_endpoint_url=data["aws_endpoint_url"],
            moto=ServerProcess(**data["moto"]),
            fakesnow=ServerProcess(**data["fakesnow"]),
            snowflake=SnowflakeEndpoint(**data["snowflake"]),
            sqlserver_url=data["sqlserver_url"],
            topology=Topology.from_dict(data["topology"]),
            started_at=data["started_at"],
        )


# ----------------------------------------------------------------------------------------------------------
# The API: up, down, status
# ----------------------------------------------------------------------------------------------------------
def up(
    settings: Settings | None = None,
    *,
    aws_port: int | None = None,
    snowflake_port: int | None = None,
    parameters: Mapping[str, str | int] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
    template_path: Path | str = TEMPLATE_PATH,
) -> LocalStack:
    """Start the local stack, or return the running one (`already_running=True`) if it is healthy.

    Ports: the given ones (0: a free one), else PIPELINE_LOCAL_AWS_PORT / PIPELINE_LOCAL_SNOWFLAKE_PORT, else free
    ones.
    `parameters` override the template's parameter defaults (the bucket name comes from `settings.bucket`).
    """
    settings = settings or Settings()
    local_dir = _local_dir(settings)
    with _locked(local_dir):
        existing = _read_state(local_dir)
        if existing is not None:
            if existing.healthy():
                existing.already_running = True
                return existing
            if _moto_alive(existing):  # only fakesnow died: start it again, keep moto and everything it holds
                return _restart_fakesnow(local_dir, existing, timeout)
            _stop_recorded(existing)  # moto died (its state with it): stop what is still ours, start afresh
            _state_path(local_dir).unlink(missing_ok=True)

        template = Template.load(
            template_path,
            parameters={"BucketName": settings.bucket, **(parameters or {})},
            stack_name=STACK_NAME,
            region=settings.region,
        )
        aws_port = processes.choose_port(aws_port, Env.LOCAL_AWS_PORT)
        snowflake_port = processes.choose_port(snowflake_port, Env.LOCAL_SNOWFLAKE_PORT)
        if aws_port == snowflake_port:
            raise LocalStackError(f"the moto and fakesnow servers cannot share port {aws_port}: choose two ports")
        moto, fakesnow = _start_servers(local_dir, aws_port, snowflake_port, timeout)
        try:
            topology = build_topology(template, endpoint_url=moto.url, region=settings.region)
        except BaseException as exc:
            for process in (moto, fakesnow):
                processes.stop(process)
            if isinstance(exc, TemplateError):
                raise LocalStackError(f"cannot build the topology from {template_path}: {exc}") from exc
            raise
        stack = _new_stack(settings, local_dir, moto, fakesnow, topology)
        try:
            stack.kept = snapshot.restore(local_dir, **_snapshot_args(stack))
        except Exception as exc:
            for process in (moto, fakesnow):
                processes.stop(process)
            raise LocalStackError(
                f"cannot put back what the last `local down` kept in {local_dir / snapshot.SNAPSHOT_DIR} ({exc}): "
                f"fix the cause and run `python -m pipeline local up` again, or `python -m pipeline local down "
                f"--discard` to start empty"
            ) from exc
        _write_state(local_dir, stack)
        return stack


def _snapshot_args(stack: LocalStack) -> dict[str, Any]:
    queues = {f"queue:{k}": v for k, v in stack.queues.items()}
    queues.update({f"dead-letter:{k}": v for k, v in stack.dead_letter_queues.items()})
    return {"endpoint_url": stack.aws_endpoint_url, "region": stack.region, "bucket": stack.bucket, "queues": queues}


def _moto_alive(stack: LocalStack) -> bool:
    return stack.moto.running() and processes.answers(stack.moto.url + "/moto-api/")


def _restart_fakesnow(local_dir: Path, stack: LocalStack, timeout: float) -> LocalStack:
    """Start the fakesnow server again on its recorded port (its DuckDB files keep the rows), moto untouched."""
    processes.stop(stack.fakesnow)  # a hung one that no longer answers
    port = stack.fakesnow.port
    if processes.port_in_use(port):
        raise LocalStackError(
            f"the fakesnow server died and something else now uses its port {port}: stop it, then run "
            "`python -m pipeline local up` again (moto and its bucket and queues are still running)"
        )
    fakesnow = _start_fakesnow(local_dir, port)
    try:
        processes.wait_until_up(fakesnow, fakesnow.url, timeout)
    except BaseException:
        processes.stop(fakesnow)
        raise
    stack.fakesnow = fakesnow
    _write_state(local_dir, stack)
    stack.restarted = ("fakesnow",)
    return stack


def _start_fakesnow(local_dir: Path, port: int) -> ServerProcess:
    (local_dir / SNOWFLAKE_DIR).mkdir(parents=True, exist_ok=True)
    return processes.start(
        "fakesnow",
        [sys.executable, "-m", "workbench.local.fakesnow_server", "--port", str(port), "--host", HOST],
        port,
        local_dir / LOG_DIR / "fakesnow.log",
        _FAKESNOW_MARKER,
    )


def _start_servers(
    local_dir: Path, aws_port: int, snowflake_port: int, timeout: float
) -> tuple[ServerProcess, ServerProcess]:
    """The moto and fakesnow servers, started and answering; neither is left running if either fails."""
    logs = local_dir / LOG_DIR
    logs.mkdir(parents=True, exist_ok=True)
    started: list[ServerProcess] = []
    try:
        moto = processes.start(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(aws_port)],
            aws_port,
            logs / "moto.log",
            _MOTO_MARKER,
        )
        started.append(moto)
        fakesnow = _start_fakesnow(local_dir, snowflake_port)
        started.append(fakesnow)
        processes.wait_until_up(moto, moto.url + "/moto-api/", timeout)
        processes.wait_until_up(fakesnow, fakesnow.url, timeout)
    except BaseException:
        for process in started:
            processes.stop(process)
        raise
    return moto, fakesnow


def _new_stack(
    settings: Settings, local_dir: Path, moto: ServerProcess, fakesnow: ServerProcess, topology: Topology
) -> LocalStack:
    return LocalStack(
        local_dir=str(local_dir),
        region=settings.region,
        aws_endpoint_url=moto.url,
        moto=moto,
        fakesnow=fakesnow,
        snowflake=SnowflakeEndpoint(
            host=HOST,
            port=fakesnow.port,
            database=settings.snowflake.database,
            schema=settings.snowflake.schema_name,
            table=settings.snowflake.table,
            db_path=str(local_dir / SNOWFLAKE_DIR),
        ),
        sqlserver_url=f"sqlite:///{local_dir / SQLSERVER_FILE}",
        topology=topology,
    )


def down(settings: Settings | None = None, *, keep: bool = True) -> LocalStack | None:
    """Stop the processes `up` started (only those) and remove the state; the stack that was stopped, if any.

    With `keep` (the default), what moto holds in memory (the bucket's objects, the queues' messages) is first
    copied to `<local_dir>/moto-snapshot/` for the next `up` to put back (`stack.kept` says how much), and the sinks
    keep their files; without it, that, any earlier copy and the sinks' rows are dropped, so the next `up` starts
    empty. A moto that no longer answers has nothing left to copy.
    """
    local_dir = _local_dir(settings or Settings())
    with _locked(local_dir):
        stack = _read_state(local_dir)
        if stack is None:
            if not keep:
                _discard(local_dir)
            return None
        if keep and _moto_alive(stack):
            try:
                stack.kept = snapshot.save(local_dir, **_snapshot_args(stack))
            except snapshot.InFlight as exc:
                raise LocalStackError(str(exc)) from None
            except Exception as exc:
                raise LocalStackError(
                    f"cannot keep what moto holds before stopping it ({exc}): the stack is still running; "
                    "fix the cause, or stop it and lose that state with `python -m pipeline local down --discard`"
                ) from exc
        _stop_recorded(stack)
        if not keep:
            _discard(local_dir)
        _state_path(local_dir).unlink(missing_ok=True)
        return stack


def _discard(local_dir: Path) -> None:
    """What a stopped stack held, gone: moto's kept copy and the sinks' files (the Snowflake stand-in's DuckDB
    files, the SQL Server stand-in's SQLite file). Sink rows whose raw objects are gone would be "extra" to verify
    for every later run of their minutes, so discarding the bucket discards them too."""
    shutil.rmtree(local_dir / snapshot.SNAPSHOT_DIR, ignore_errors=True)
    shutil.rmtree(local_dir / SNOWFLAKE_DIR, ignore_errors=True)
    (local_dir / SQLSERVER_FILE).unlink(missing_ok=True)


def status(settings: Settings | None = None) -> LocalStack | None:
    """The running local stack, or None when none is recorded or its servers no longer answer."""
    stack = _read_state(_local_dir(settings or Settings()))
    if stack is None or not stack.healthy():
        return None
    return stack


def down_reason(stack: LocalStack | None) -> str:
    """One line: what of the stack is not running, and exactly what to type."""
    if stack is None:
        return "the local stack is not running: start it with `python -m pipeline local up`"
    if _moto_alive(stack):
        return (
            f"the fakesnow server (port {stack.fakesnow.port}) is not answering: `python -m pipeline local up` "
            "starts it again and keeps moto's bucket and queues (the Snowflake rows are in its DuckDB files)"
        )
    return (
        f"the moto server (port {stack.moto.port}) is not answering, and the bucket, queues and messages it held in "
        "memory are gone (the processed Parquet objects with them): `python -m pipeline local up` starts a new, empty "
        "one (the Snowflake and SQL Server sinks keep their rows)"
    )


def recorded(settings: Settings | None = None) -> LocalStack | None:
    """The stack recorded in the state file, running or not (for `local status` to say what died)."""
    return _read_state(_local_dir(settings or Settings()))


# ----------------------------------------------------------------------------------------------------------
# State file
# ----------------------------------------------------------------------------------------------------------
def _local_dir(settings: Settings) -> Path:
    return Path(settings.local_dir).expanduser().resolve()


def _state_path(local_dir: Path) -> Path:
    return local_dir / STATE_FILE


def _read_state(local_dir: Path) -> LocalStack | None:
    path = _state_path(local_dir)
    try:
        return LocalStack.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalStackError(f"{path} is not a local stack state file ({exc}): remove it and run `local up`") from exc


def _write_state(local_dir: Path, stack: LocalStack) -> None:
    path = _state_path(local_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stack.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


@contextlib.contextmanager
def _locked(local_dir: Path) -> Iterator[None]:
    """One `up`/`down` at a time per local folder (a second caller waits)."""
    local_dir.mkdir(parents=True, exist_ok=True)
    with open(local_dir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stop_recorded(stack: LocalStack) -> None:
    for process in (stack.moto, stack.fakesnow):
        processes.stop(process)
