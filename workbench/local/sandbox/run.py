"""`python -m pipeline run --artifacts`: the local runtime with every function run from its built artifacts.

The schedule, the queues and the event source mappings are the local runtime's (`workbench.local.runtime`); what
it invokes is no longer the handler function in this process but one sandboxed execution environment per
function (`workbench.local.sandbox.environment`), configured from the template (handler, memory, timeout,
ephemeral storage, environment, role) and pointed at the local stack. The report adds, per function, the init
duration of each cold start and the durations of cold and warm invocations, and the IAM check of the AWS calls
each function made against its role (`workbench.local.sandbox.iam`).
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from pipeline.constants import SourceId
from pipeline.contracts import floor_minute
from workbench.cloudformation.template import TEMPLATE_PATH, Template
from workbench.deploy.functions import Function, all_functions
from workbench.local.sandbox import artifacts, iam
from workbench.local.sandbox.environment import (
    DEFAULT_EPHEMERAL_MB,
    ExecutionEnvironment,
    FunctionConfig,
    Invoked,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

    from workbench.local.run_report import RunReport

LOG_DIR: Final = artifacts.ARTIFACTS_DIR / "logs"
FUNCTION_TYPE: Final = "AWS::Lambda::Function"


def bound_template(
    stack: Any, path: Path | str = TEMPLATE_PATH, parameters: Mapping[str, str | int] | None = None
) -> Template:
    """The template bound to the local stack (and `parameters`): its resources' names and ARNs as the local stack
    made them (or, for what the local stack does not create, as CloudFormation would name them)."""
    given = {"BucketName": stack.bucket, **(parameters or {})}
    template = Template.load(path, parameters=given, region=stack.region)
    template.physical.update(stack.topology.resources)
    iam.bind_arns(template)
    return template


def function_config(template: Template, function: Function) -> FunctionConfig:
    """The template's configuration of `function` (the AWS::Lambda::Function whose Handler is its handler)."""
    for logical_id, resource in template.resources(FUNCTION_TYPE):
        props = resource.get("Properties", {})
        if props.get("Handler") != function.handler:
            continue
        resolve = template.resolve
        variables = resolve(props.get("Environment", {})).get("Variables", {})
        role = props["Role"]["Fn::GetAtt"][0]
        return FunctionConfig(
            name=function.name,
            function_name=str(template.physical[logical_id]),
            logical_id=logical_id,
            handler=function.handler,
            memory_mb=int(resolve(props.get("MemorySize", 128))),
            timeout_s=int(resolve(props.get("Timeout", 3))),
            ephemeral_mb=int(resolve(props.get("EphemeralStorage", {}).get("Size", DEFAULT_EPHEMERAL_MB))),
            environment={k: str(v) for k, v in variables.items()},
            role=role,
            arn=str(template.get_att(logical_id, "Arn")),
        )
    raise iam.IamError(f"the template has no {FUNCTION_TYPE} with Handler {function.handler}")


def local_environment(stack: Any) -> tuple[dict[str, str], tuple[Path, ...]]:
    """(what the local stack adds to every function's environment, the folders of its local stand-ins that the
    sandbox must be able to write: the SQLite file that plays SQL Server)."""
    from workbench.local.demo import SIMULATED_OXR_PLAN

    env = dict(stack.env())
    env.update(SIMULATED_OXR_PLAN)
    env["POWERTOOLS_LOG_LEVEL"] = os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")
    if mode := os.environ.get("PIPELINE_MODE"):
        env["PIPELINE_MODE"] = mode
    writable: list[Path] = []
    url = urlsplit(stack.sqlserver_url)
    if url.scheme.startswith("sqlite") and url.path.startswith("//"):
        writable.append(Path(url.path[1:]).parent)
    return env, tuple(writable)


@dataclass
class FunctionReport:
    name: str
    memory_mb: int
    timeout_s: int
    memory_enforcement: str
    layer_origin: str
    invocations: list[Invoked] = field(default_factory=list)
    init_errors: list[str] = field(default_factory=list)

    def _durations(self, cold: bool) -> list[float]:
        return [i.duration_ms for i in self.invocations if i.cold is cold]

    def as_dict(self) -> dict[str, Any]:
        inits = [i.init_ms for i in self.invocations if i.init_ms is not None]
        peaks = [i.max_memory_mb for i in self.invocations if i.max_memory_mb is not None]
        return {
            "invocations": len(self.invocations),
            "cold_starts": sum(i.cold for i in self.invocations),
            "init_ms": _stat(inits),
            "cold_invocation_ms": _stat(self._durations(True)),
            "warm_invocation_ms": _stat(self._durations(False)),
            "max_memory_used_mb": round(max(peaks)) if peaks else None,
            "memory_mb": self.memory_mb,
            "timeout_s": self.timeout_s,
            "memory_enforcement": self.memory_enforcement,
            "errors": [i.error for i in self.invocations if i.error] + self.init_errors,
            "layer": self.layer_origin,
        }


def _stat(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": round(statistics.median(values), 1), "max": round(max(values), 1), "n": len(values)}


@dataclass
class ArtifactsReport:
    """The local runtime's run report, the functions' durations, and the IAM check."""

    run: RunReport
    functions: dict[str, FunctionReport]
    calls: dict[str, list[iam.Call]]
    findings: list[iam.Finding]

    @property
    def missing(self) -> list[iam.Finding]:
        """Calls the role would refuse in AWS: the run is not ok."""
        return [f for f in self.findings if f.kind == "missing"]

    @property
    def unused(self) -> list[iam.Finding]:
        """Permissions no call needed in this run (least privilege; a path the run did not take may need them)."""
        return [f for f in self.findings if f.kind == "unused"]

    @property
    def ok(self) -> bool:
        return self.run.ok and not self.missing and not any(f.init_errors for f in self.functions.values())

    def durations(self) -> dict[str, float]:
        """{function: ms per invocation}, the median of its warm invocations (its cold ones when none was warm):
        what `pipeline cost` reads from `DURATIONS_FILE`."""
        found: dict[str, float] = {}
        for name, function in self.functions.items():
            times = function._durations(False) or function._durations(True)
            if times:
                found[name] = round(statistics.median(times), 1)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.run.as_dict(),
            "functions": {name: f.as_dict() for name, f in self.functions.items()},
            "aws_calls": {name: sorted({c.action for c in calls}) for name, calls in self.calls.items()},
            "iam_findings": [str(f) for f in self.findings],
        }

    def table(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title="functions from their built artifacts (python3.13 sandbox, awslambdaric)")
        for name in ("function", "invocations", "cold", "init ms", "cold ms", "warm ms (median)", "warm ms (max)",
                     "max memory MB", "errors"):  # fmt: skip
            table.add_column(name, justify="left" if name == "function" else "right")
        for name, f in self.as_dict()["functions"].items():
            warm = f["warm_invocation_ms"] or {}
            table.add_row(
                name,
                str(f["invocations"]),
                str(f["cold_starts"]),
                _ms(f["init_ms"], "median"),
                _ms(f["cold_invocation_ms"], "median"),
                _ms(warm, "median"),
                _ms(warm, "max"),
                "-" if f["max_memory_used_mb"] is None else f"{f['max_memory_used_mb']} / {f['memory_mb']}",
                str(len(f["errors"])),
            )
        lines = [Text(f"IAM: {finding}", style="red") for finding in self.missing]
        lines += [Text(f"IAM, not needed in this run: {finding}", style="yellow") for finding in self.unused]
        if not self.findings:
            lines.append(Text("IAM: every AWS call was allowed by the function's role, and every permission was used"))
        return Group(self.run.table(), table, *lines)


def _ms(value: Mapping[str, float] | None, key: str) -> str:
    return "-" if not value else f"{value[key]:.0f}"


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class ArtifactsRuntime:
    """One execution environment per function of the chosen sources; `handlers(kind)` for the local runtime."""

    def __init__(
        self,
        stack: Any,
        sources: Sequence[SourceId],
        *,
        build_dir: Path = artifacts.BUILD_DIR,
        template_path: Path | str = TEMPLATE_PATH,
        parameters: Mapping[str, str | int] | None = None,
        log_dir: Path = LOG_DIR,
    ) -> None:
        self.template = bound_template(stack, template_path, parameters)
        base, writable = local_environment(stack)
        self.functions = tuple(f for f in all_functions() if f.source in sources)
        self.environments: dict[str, ExecutionEnvironment] = {}
        for function in self.functions:
            config = function_config(self.template, function)
            self.environments[function.name] = ExecutionEnvironment(
                config,
                artifacts.mounts(function, build_dir),
                base_environment=base,
                writable=writable,
                log_dir=log_dir,
            )

    def handlers(self, kind: str) -> dict[str, Handler]:
        def handler(environment: ExecutionEnvironment) -> Handler:
            def invoke(event: dict[str, Any], _context: Any) -> dict[str, Any]:
                result = environment.invoke(event)
                return result if isinstance(result, dict) else {}

            return invoke

        return {f.source: handler(self.environments[f.name]) for f in self.functions if f.kind == kind}

    def redrive(self) -> Callable[[SourceId], int]:
        """The scheduled redrive for the local runtime: the source's sandboxed redrive function, invoked with the
        event its EventBridge rule sends; what it returns is the number of events it sent back."""
        from workbench.local.events import scheduled_event

        handlers = self.handlers("redrive")

        def run(source: SourceId) -> int:
            if source not in handlers:
                return 0
            result = handlers[source](scheduled_event(source, datetime.now(UTC), self.template.region), None)
            return int(result.get("redriven", 0))

        return run

    def calls(self) -> dict[str, list[iam.Call]]:
        region, account = self.template.region, self.template.account_id
        return {name: iam.calls_of(env.api.calls, region, account) for name, env in self.environments.items()}

    def report(self, run: RunReport) -> ArtifactsReport:
        functions = {
            name: FunctionReport(
                name,
                env.config.memory_mb,
                env.config.timeout_s,
                env.memory_enforcement,
                env.mounts.layer_origin,
                list(env.stats.invocations),
                list(env.stats.init_errors),
            )
            for name, env in self.environments.items()
        }
        calls = self.calls()
        configs = {name: env.config for name, env in self.environments.items()}
        return ArtifactsReport(run, functions, calls, iam.check(self.template, configs, calls))

    def close(self) -> None:
        for environment in self.environments.values():
            environment.close()


def write_durations(report: ArtifactsReport, path: Path | None = None) -> Path:
    """Record the run's durations for `pipeline cost` (functions this run did not invoke keep what an earlier run
    measured). Measured in local sandboxes against the stand-ins: a live fetch waits on the network longer."""
    import json

    from pipeline.contracts import iso
    from workbench.deploy.cost import DURATIONS_FILE

    path = path or DURATIONS_FILE
    document: dict[str, Any] = {}
    if path.is_file():
        with contextlib.suppress(ValueError):
            document = json.loads(path.read_text())
    earlier = document.get("functions") if isinstance(document, dict) else None
    functions: dict[str, Any] = earlier if isinstance(earlier, dict) else {}
    measured_at = iso(datetime.now(UTC))
    for name, ms in report.durations().items():
        functions[name] = {"invocation_ms": ms, "measured_at": measured_at, "by": "run --artifacts"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"functions": functions}, indent=2, sort_keys=True) + "\n")
    return path


def run_artifacts(
    stack: Any,
    minutes: int,
    start: datetime | None = None,
    *,
    speed: float | None = None,
    sources: Sequence[str] | None = None,
    build_dir: Path = artifacts.BUILD_DIR,
    template_path: Path | str = TEMPLATE_PATH,
    parameters: Mapping[str, str | int] | None = None,
) -> ArtifactsReport:
    """`minutes` scheduled minutes from `start` through the sandboxed functions (configured by the template with
    `parameters`); the report of the run."""
    from workbench.local.demo import DEFAULT_START, chosen_sources, local_runtime, use_stack

    use_stack(stack)  # this process plays EventBridge and the mappings against the stack
    chosen = chosen_sources(sources)
    functions = ArtifactsRuntime(stack, chosen, build_dir=build_dir, template_path=template_path, parameters=parameters)
    try:
        runtime = local_runtime(
            stack,
            stack.settings(),
            chosen,
            ingest_handlers=functions.handlers("ingest"),
            process_handlers=functions.handlers("process"),
            redrive=functions.redrive(),
            compact_handlers=functions.handlers("compact"),
        )
        report = runtime.run(minutes, floor_minute(start or DEFAULT_START), speed=speed)
        return functions.report(report)
    finally:
        functions.close()
