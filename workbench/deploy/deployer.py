"""Deploy the CloudFormation stack through a change set: upload the artifacts, create or update, follow the
events, print the outputs; or delete it. The change sets and the stack's events are `workbench.deploy.change_set`'s.

The template names the artifacts through parameters: `ArtifactBucket`, `CodeKey`, and one S3 key parameter per
layer. Which parameter holds which function's layer is read from the template itself (the function with handler
`pipeline.handlers.<kind>.<source>` lists a layer whose `Content.S3Key` is `!Ref <parameter>`), so the template
and this module cannot disagree about names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from rich.console import Console

from workbench.cloudformation.template import load_template, references
from workbench.deploy.build import Build
from workbench.deploy.change_set import TEMPLATE_BODY_LIMIT as TEMPLATE_BODY_LIMIT  # also from here, as before
from workbench.deploy.change_set import Deployer as Deployer
from workbench.deploy.change_set import DeployError as DeployError
from workbench.deploy.change_set import check_parameter_names, outputs_table
from workbench.deploy.emulator import emulator_only_refusal, is_local_endpoint
from workbench.deploy.functions import Function, all_functions

ARTIFACT_BUCKET_PARAMETER: Final = "ArtifactBucket"
CODE_KEY_PARAMETER: Final = "CodeKey"
RUNTIME_PARAMETER: Final = "PythonRuntime"  # the functions' and layers' runtime: the one the build is for


def artifact_bucket_name(account_id: str, region: str) -> str:
    """One artifact bucket per account and region, shared by every stack deployed there."""
    return f"market-data-pipeline-artifacts-{account_id}-{region}"


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) and isinstance(value.get("Ref"), str) else None


def layer_key_parameters(body: Mapping[str, Any], functions: tuple[Function, ...] | None = None) -> dict[str, str]:
    """{function name: the parameter holding its layer's S3 key}, read from the template."""
    functions = all_functions() if functions is None else functions
    resources: Mapping[str, Any] = body.get("Resources", {})
    by_handler = {
        str(r.get("Properties", {}).get("Handler")): r.get("Properties", {})
        for r in resources.values()
        if r.get("Type") == "AWS::Lambda::Function"
    }
    found: dict[str, str] = {}
    for function in functions:
        properties = by_handler.get(function.handler)
        if properties is None:
            continue
        for layer_id in sorted(references(properties.get("Layers", []))):
            layer = resources.get(layer_id, {})
            if layer.get("Type") != "AWS::Lambda::LayerVersion":
                continue
            if parameter := _ref(layer.get("Properties", {}).get("Content", {}).get("S3Key")):
                found[function.name] = parameter
    return found


def artifact_parameters(body: Mapping[str, Any], bucket: str, build: Build) -> dict[str, str]:
    """ArtifactBucket, CodeKey and every layer key parameter the template declares, from a build."""
    declared = body.get("Parameters", {})
    values = {
        ARTIFACT_BUCKET_PARAMETER: bucket,
        CODE_KEY_PARAMETER: build.code.s3_key,
        RUNTIME_PARAMETER: build.runtime.name,
    }
    keys = layer_key_parameters(body, build.functions)
    for function in build.functions:
        if parameter := keys.get(function.name):
            values[parameter] = build.layer_for(function).s3_key
    return {name: value for name, value in values.items() if name in declared}


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    """`K=V` strings (as given on the command line) as a dict; one clear error for a malformed one."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise DeployError(f"--parameter {pair!r}: expected NAME=VALUE, for example --parameter MaxReceiveCount=5")
        values[name.strip()] = value
    return values


def _clients(session: Any, endpoint_url: str | None) -> dict[str, Any]:
    from pipeline.aws import session_client

    names = ("cloudformation", "s3", "sns", "sqs", "sts", "lambda")
    return {name: session_client(session, name, endpoint_url) for name in names}


def deploy_pipeline(
    stack_name: str,
    build: Build,
    *,
    session: Any,
    template: Path,
    endpoint_url: str | None = None,
    parameters: Mapping[str, str] | None = None,
    console: Console | None = None,
    poll_seconds: float | None = None,
    without_alerts: bool = False,
    checked_account: str | None = None,
) -> dict[str, str]:
    """Upload the build, create or update the stack through a change set, and return its outputs.

    Refused before anything is created: what `check_before_building` refuses, unless the caller ran it already
    and passes the account it returned as `checked_account`.

    With `endpoint_url` (the local moto server) the template is adapted to moto's gaps (`moto_gaps`). A build
    with placeholder layers (`workbench.deploy.emulator`) is refused, before anything is sent, unless
    `endpoint_url` is on this machine.
    """
    from workbench.deploy import moto_gaps

    if refusal := emulator_only_refusal(build.placeholder_layers, endpoint_url):
        raise DeployError(refusal)
    console = console or Console()
    given = dict(parameters or {})
    body = load_template(template)
    clients = _clients(session, endpoint_url)
    account = checked_account or check_before_building(
        stack_name, body, given, session=session, clients=clients, endpoint_url=endpoint_url,
        without_alerts=without_alerts, console=console,
    )  # fmt: skip
    region = str(session.region_name)
    bucket = given.get(ARTIFACT_BUCKET_PARAMETER) or artifact_bucket_name(account, region)
    deployer = Deployer(
        stack_name,
        clients["cloudformation"],
        clients["s3"],
        region,
        console,
        poll_seconds if poll_seconds is not None else (0.5 if endpoint_url else 5.0),
        explicit_parameters=endpoint_url is not None,
        change_set_timeout=60.0 if endpoint_url else 600.0,
    )
    _upload_build(deployer, bucket, build, body, console)
    values = {**artifact_parameters(body, bucket, build), **given}
    if endpoint_url:
        source = {"TemplateBody": moto_gaps.template_for_moto(body, values)}
    else:
        source = deployer.template_source(bucket, template)
    outputs = deployer.deploy(source, body.get("Parameters", {}), values)
    if endpoint_url:
        outputs = _fill_moto_gaps(deployer, body, clients, console, outputs)
    console.print(outputs_table(stack_name, outputs))
    return outputs


def check_before_building(
    stack_name: str,
    body: Mapping[str, Any],
    given: Mapping[str, str],
    *,
    session: Any,
    clients: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    without_alerts: bool = False,
    console: Console | None = None,
) -> str:
    """Every check `deploy` makes before it builds or sends anything (`workbench.deploy.preflight`); the account.

    The given values against the template; the credentials (STS); the stack as it is (a state no change set can
    leave); then, on the effective parameters (the template's defaults, the stack's values, the given ones): the
    sinks' secrets and the alert email of a live stack (not for the local emulator, which runs no code), a data
    bucket name already taken, a reservation the account cannot make."""
    from workbench.deploy import preflight

    declared = body.get("Parameters", {})
    check_parameter_names(declared, given)
    preflight.check_parameter_values(declared, given)
    preflight.check_stack_name(stack_name, body, given)
    clients = clients or _clients(session, endpoint_url)
    account = preflight.check_credentials(session, clients["sts"])
    deployer = Deployer(stack_name, clients["cloudformation"], clients["s3"], str(session.region_name))
    current = deployer.stack()
    if current is not None:
        deployer._refuse_unusable(str(current["StackStatus"]))
    previous = {p["ParameterKey"]: p.get("ParameterValue", "") for p in (current or {}).get("Parameters", [])}
    values = preflight.effective_parameters(declared, previous, given)
    preflight.check_stack_name(stack_name, body, values)
    for note in preflight.check_freshness(values, declared):
        if console is not None:
            console.print(f"[yellow]note:[/yellow] {note}", soft_wrap=True)
    if not is_local_endpoint(endpoint_url):
        preflight.check_sink_secrets(values)
        warning = preflight.check_alert_email(values, without_alerts=without_alerts)
        if warning and console is not None:
            console.print(f"[bold red]warning:[/bold red] {warning}", soft_wrap=True)
    preflight.check_bucket_name(clients["s3"], values, previous)
    preflight.check_reserved_concurrency(clients["lambda"], values)
    return account


def _upload_build(deployer: Deployer, bucket: str, build: Build, body: Mapping[str, Any], console: Console) -> None:
    """The code and layers into the artifact bucket; a word on placeholder layers and functions without one."""
    if placeholders := build.placeholder_layers:
        console.print(
            f"layers: {len(placeholders)} placeholders, for the emulator only (it runs no code; "
            "`python -m pipeline layer build` makes real ones)",
            soft_wrap=True,
        )
    deployer.ensure_bucket(bucket)
    console.print(f"uploading artifacts to s3://{bucket}")
    for artifact in (build.code, *build.layers.values()):
        deployer.upload(bucket, artifact)
    missing = [f.name for f in build.functions if f.name not in layer_key_parameters(body, build.functions)]
    if missing and any(r.get("Type") == "AWS::Lambda::Function" for r in body["Resources"].values()):
        console.print(f"[yellow]warning:[/yellow] the template gives no layer to: {', '.join(missing)}")


def _fill_moto_gaps(
    deployer: Deployer, body: Mapping[str, Any], clients: Mapping[str, Any], console: Console, outputs: dict[str, str]
) -> dict[str, str]:
    """On moto: create the routing its CloudFormation skips, say what it does not create; the outputs, resolved
    from the bound template when moto gives none."""
    from workbench.deploy import moto_gaps

    stack = deployer.stack()
    assert stack is not None
    bound = moto_gaps.bound_template(body, stack, cloudformation=clients["cloudformation"], sqs=clients["sqs"])
    if made := moto_gaps.create_skipped_routing(bound, sns=clients["sns"], sqs=clients["sqs"]):
        console.print(f"moto: created {len(made)} subscription(s) and queue policies its CloudFormation skips")
    if skipped := moto_gaps.unverified_resources(body):
        console.print(f"moto: not created, so not verified locally: {', '.join(skipped)}", soft_wrap=True)
    return outputs or moto_gaps.resolved_outputs(bound)


def delete_pipeline(
    stack_name: str,
    *,
    session: Any,
    endpoint_url: str | None = None,
    console: Console | None = None,
    poll_seconds: float | None = None,
) -> bool:
    """Delete the stack (the data bucket is retained by its DeletionPolicy); False when there was none."""
    console = console or Console()
    clients = _clients(session, endpoint_url)
    deployer = Deployer(
        stack_name,
        clients["cloudformation"],
        clients["s3"],
        str(session.region_name),
        console,
        poll_seconds if poll_seconds is not None else (0.5 if endpoint_url else 5.0),
    )
    return deployer.delete()
