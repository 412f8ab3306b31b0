"""`python -m pipeline layer build` and `python -m pipeline deploy`.

The main command line mounts them: `app.add_typer(layer_app, name="layer")`, `app.command(name="deploy")(deploy)`
and `app.command(name="cost")(cost)`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from workbench.cloudformation.template import TEMPLATE_PATH, TemplateError, load_template
from workbench.cloudformation.topology import LOCAL_CREDENTIALS
from workbench.deploy.build import DEFAULT_OUT, SIZES_FILE, Build, build, build_for_emulator
from workbench.deploy.cost import compute, markdown, measured_durations
from workbench.deploy.cost_table import cost_table
from workbench.deploy.deployer import (
    RUNTIME_PARAMETER,
    DeployError,
    check_before_building,
    delete_pipeline,
    deploy_pipeline,
    parse_parameters,
)
from workbench.deploy.emulator import is_local_endpoint
from workbench.deploy.functions import PackagingError, all_functions, get_function
from workbench.deploy.preflight import PreflightError, check_credentials
from workbench.deploy.prices import SNOWFLAKE_CREDIT_PRICE
from workbench.deploy.runtime import DEFAULT_RUNTIME, SUPPORTED_RUNTIMES, LambdaRuntime, lambda_runtime
from workbench.deploy.sizes import print_sizes

# Tables keep their columns in a CI log or a pipe, where the terminal width is unknown.
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)

layer_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

FunctionOpt = Annotated[
    list[str] | None,
    typer.Option("--function", help=f"Only this function (repeatable): {', '.join(f.name for f in all_functions())}"),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Where layers, code.zip and sizes.json go")]
RebuildOpt = Annotated[bool, typer.Option("--rebuild", help="Build again even when the cache matches")]
RuntimeOpt = Annotated[
    str, typer.Option("--runtime", help=f"Lambda runtime to build for: {', '.join(SUPPORTED_RUNTIMES)}")
]


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _build(functions: list[str] | None, out: Path, rebuild: bool, runtime: LambdaRuntime | None = None) -> Build:
    chosen = tuple(get_function(name) for name in functions) if functions else all_functions()
    with console.status("building the code package and the layers (pip downloads Linux wheels on a first build)"):
        result = build(
            out,
            chosen,
            rebuild=rebuild,
            warn=lambda m: err.print(f"[yellow]warning:[/yellow] {m}"),
            runtime=runtime,
        )
    cached = {name: a.cached for name, a in result.layers.items()}
    print_sizes(console, result.sizes, cached, result.runtime.name, result.bytecode_by)
    return result


@layer_app.command("build")
def build_layers(
    function: FunctionOpt = None,
    out: OutOpt = DEFAULT_OUT,
    rebuild: RebuildOpt = False,
    runtime: RuntimeOpt = DEFAULT_RUNTIME,
) -> None:
    """Build each function's layer and the code package, print their sizes against the project's budget."""
    try:
        _build(function, out, rebuild, lambda_runtime(runtime))
    except PackagingError as exc:
        raise _fail(exc) from None
    console.print(f"sizes written to {out / SIZES_FILE}")


def _positive_price(value: float) -> float:
    """A price is a finite number above 0 (nan would be written into --json, a negative one bills a credit)."""
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"{value!r} is not a price: give a number of USD above 0, e.g. 3.0")
    return value


def cost(
    parameter: Annotated[
        list[str] | None, typer.Option("--parameter", "-p", help="Template parameter NAME=VALUE (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the bill as one JSON object")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown table docs/deploy.md quotes")
    ] = False,
    assumed: Annotated[
        bool, typer.Option("--assumed-durations", help="Use the documented durations even when measurements exist")
    ] = False,
    credit_price: Annotated[
        float,
        typer.Option(
            "--credit-price",
            envvar="PIPELINE_SNOWFLAKE_CREDIT_PRICE",
            help="USD per Snowflake credit (edition, region)",
            callback=_positive_price,
        ),
    ] = SNOWFLAKE_CREDIT_PRICE,
    warehouse: Annotated[str, typer.Option("--warehouse", help="Snowflake warehouse size")] = "X-Small",
    template: Annotated[Path, typer.Option("--template", help="The CloudFormation template")] = TEMPLATE_PATH,
) -> None:
    """The monthly AWS bill of the deployed stack, computed from the template, the registry and the durations
    `run --artifacts` measured (else documented assumptions), with and without the free tier; and what a
    Snowflake warehouse woken every market minute costs."""
    try:
        values = parse_parameters(parameter or [])
        durations = {} if assumed else measured_durations()
        bill = compute(values, template_path=template, durations=durations, credit_price=credit_price,
                       warehouse=warehouse)  # fmt: skip
    except (PackagingError, DeployError, TemplateError) as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps(bill.to_dict(), indent=2))
    elif as_markdown:
        print(markdown(bill))
    else:
        console.print(cost_table(bill))
        for assumption in bill.assumptions:
            console.print(f"[dim]- {assumption}[/dim]", soft_wrap=True)


def _session(region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region)
    if session.region_name is None:
        session = boto3.session.Session(region_name="us-east-1")
    if endpoint_url and session.get_credentials() is None:  # moto accepts any credentials
        session = boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS,
            aws_secret_access_key=LOCAL_CREDENTIALS,
            region_name=session.region_name,
        )
    return session


def _sts(session: Any, endpoint_url: str | None) -> Any:
    from pipeline.aws import session_client

    return session_client(session, "sts", endpoint_url)


def deploy(
    stack: Annotated[str, typer.Option("--stack", help="CloudFormation stack name")],
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="Deploy to this endpoint, e.g. the local moto server")
    ] = None,
    parameter: Annotated[
        list[str] | None, typer.Option("--parameter", "-p", help="Template parameter NAME=VALUE (repeatable)")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the stack instead")] = False,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (default: your profile's)")] = None,
    template: Annotated[Path, typer.Option("--template", help="The CloudFormation template")] = TEMPLATE_PATH,
    out: OutOpt = DEFAULT_OUT,
    rebuild: RebuildOpt = False,
    emulator_layers: Annotated[
        bool,
        typer.Option(
            "--emulator-layers",
            help="Deploy placeholder layers (no layer build): for the local emulator only, which cannot run code. "
            "The default for a local --endpoint-url when no real build is cached; refused for any other endpoint",
        ),
    ] = False,
    without_alerts: Annotated[
        bool,
        typer.Option(
            "--without-alerts",
            help="Deploy a live stack without AlertEmail (refused otherwise): its alarms reach only those who "
            "subscribe to the AlertTopicArn output",
        ),
    ] = False,
) -> None:
    """Build (or reuse) code and layers, upload them, create or update the stack through a change set.

    Refused before anything is built, in one line: a value the template does not allow, a stack name that makes a
    resource's name too long, no AWS credentials, a stack no change set can move, a stack without the secrets its
    sinks need (SnowflakeSecretArn; SqlServerUrlSecretArn or CreateSqlServer=true; OxrAppIdSecretArn when live), a
    live deployment without --parameter AlertEmail=... (unless --without-alerts), a BucketName already taken. On an
    update, a parameter not given keeps the stack's value, and the checks see it.

    To the local emulator (`--endpoint-url` on localhost or 127.x) nothing is downloaded: the real layers when a
    `layer build` is cached, placeholder layers otherwise (moto cannot run code anyway).
    """
    session = _session(region, endpoint_url)
    local = is_local_endpoint(endpoint_url)
    try:
        if emulator_layers and not local:
            where = f"--endpoint-url {endpoint_url} is not on this machine" if endpoint_url else "no --endpoint-url"
            raise DeployError(
                f"--emulator-layers is for the local emulator only and {where}: pass the local moto server's "
                "endpoint (http://127.0.0.1:PORT), or drop --emulator-layers to build and deploy real layers"
            )
        if delete:
            check_credentials(session, _sts(session, endpoint_url))
            delete_pipeline(stack, session=session, endpoint_url=endpoint_url, console=console)
            return
        if not template.is_file():
            raise DeployError(f"no template at {template}: run from the repository root or pass --template")
        values = parse_parameters(parameter or [])
        body = load_template(template)
        account = check_before_building(
            stack, body, values, session=session, endpoint_url=endpoint_url, without_alerts=without_alerts,
            console=console,
        )  # fmt: skip
        runtime = lambda_runtime(values.get(RUNTIME_PARAMETER, DEFAULT_RUNTIME))
        if local and not rebuild:
            chosen = build_for_emulator(out, placeholders=emulator_layers, runtime=runtime)
            if not chosen.placeholder_layers:
                console.print(f"layers: the real build cached in {out}")
        else:
            chosen = _build(None, out, rebuild, runtime)
        deploy_pipeline(
            stack,
            chosen,
            session=session,
            template=template,
            endpoint_url=endpoint_url,
            parameters=values,
            console=console,
            without_alerts=without_alerts,
            checked_account=account,
        )
    except (PackagingError, DeployError, TemplateError, PreflightError) as exc:
        raise _fail(exc) from None
    except (BotoCoreError, ClientError) as exc:  # what AWS (or the endpoint) answered, as one line
        raise _fail(DeployError(f"AWS: {' '.join(str(exc).split())}")) from None
