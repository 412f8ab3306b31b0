"""What `python -m pipeline deploy` checks before it builds or creates anything: each parameter's value against the
template's AllowedValues, AllowedPattern and bounds, the stack name against the names the template builds from it,
the secrets the sinks (and live rates) need, the alert email of a live deployment, AWS credentials, a data bucket
name already taken, and a reserved concurrency against the account's limit.

The checks that depend on the stack run on its effective parameters: the template's defaults, then the values the
stack already has (an update keeps what it is not given), then the ones given.

Each check fails with one line that says what to change. They read the template, so a resource named after the
stack is checked the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pipeline.errors import PipelineError
from workbench.cloudformation.template import Template, TemplateError

# CloudFormation's own rule for a stack name, and its limit.
STACK_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
STACK_NAME_MAX: Final = 128
# (resource type, the property that names it): the service's limit on that name, in characters.
NAME_LIMITS: Final[dict[tuple[str, str], tuple[str, int]]] = {
    ("AWS::Lambda::Function", "FunctionName"): ("Lambda function name", 64),
    ("AWS::Lambda::LayerVersion", "LayerName"): ("Lambda layer name", 140),
    ("AWS::IAM::Role", "RoleName"): ("IAM role name", 64),
    ("AWS::SQS::Queue", "QueueName"): ("SQS queue name (with .fifo)", 80),
    ("AWS::SNS::Topic", "TopicName"): ("SNS topic name (with .fifo)", 256),
    ("AWS::Logs::LogGroup", "LogGroupName"): ("log group name", 512),
    ("AWS::Logs::MetricFilter", "FilterName"): ("metric filter name", 512),
    ("AWS::CloudWatch::Alarm", "AlarmName"): ("alarm name", 255),
    ("AWS::Events::Rule", "Name"): ("EventBridge rule name", 64),
    ("AWS::S3::Bucket", "BucketName"): ("bucket name", 63),
    ("AWS::SecretsManager::Secret", "Name"): ("secret name", 512),
}
# Lambda keeps this many executions of an account unreserved; a reservation that would leave fewer is refused.
UNRESERVED_MINIMUM: Final = 100
RESERVED_PARAMETER: Final = "YahooIngestReservedConcurrency"


class PreflightError(PipelineError):
    """A deployment that would fail (or leave its alarms unheard): refused before anything is created."""


def effective_parameters(
    declared: Mapping[str, Any], previous: Mapping[str, str], given: Mapping[str, str]
) -> dict[str, str]:
    """The values the stack will run with: the template's defaults, then the stack's own values (a parameter not
    given keeps the value the stack has), then the given ones."""
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: value for name, value in previous.items() if name in declared})
    values.update(given)
    return values


def _value_problem(name: str, value: str, spec: Mapping[str, Any]) -> str | None:
    """What is wrong with one parameter value by the template's own constraints; None when nothing is."""
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        return f"{name}={value!r} is not one of {', '.join(allowed)}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        return f"{name}={value!r} does not match {pattern}"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{name}={value!r} is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{name}={value} is below its minimum {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{name}={value} is above its maximum {spec['MaxValue']}"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"{name} has {len(value)} characters, at most {spec['MaxLength']}"
    return None


def check_parameter_values(declared: Mapping[str, Any], given: Mapping[str, str]) -> None:
    """Refuse, in one line, any given value CloudFormation would refuse by the template's constraints."""
    problems = [
        problem
        for name, value in given.items()
        if name in declared and (problem := _value_problem(name, value, declared[name]))
    ]
    if problems:
        raise PreflightError(f"{'; '.join(problems)}: fix the --parameter value (the template describes each one)")


def check_sink_secrets(values: Mapping[str, str]) -> None:
    """Refuse a stack whose functions could never reach their sinks. The sinks are real in both modes (Snowflake
    for yahoo_finance, SQL Server for openexchangerates; simulated mode simulates the sources only), and live
    rates need the Open Exchange Rates app id. `values` are the effective parameters."""
    missing: list[str] = []
    if not values.get("SnowflakeSecretArn"):
        missing.append("SnowflakeSecretArn=<secret ARN> (the Snowflake sink of yahoo_finance)")
    if not values.get("SqlServerUrlSecretArn") and values.get("CreateSqlServer") != "true":
        missing.append("SqlServerUrlSecretArn=<secret ARN> or CreateSqlServer=true (the SQL Server sink of rates)")
    if values.get("Mode", "live") == "live" and not values.get("OxrAppIdSecretArn"):
        missing.append("OxrAppIdSecretArn=<secret ARN> (the Open Exchange Rates app id of live mode)")
    if missing:
        mode = values.get("Mode", "live")
        raise PreflightError(
            f"a {mode} stack needs its secrets: pass --parameter {'; --parameter '.join(missing)} "
            "(docs/deploy.md, section Secrets, creates them; simulated mode simulates the sources, the sinks are real)"
        )


@dataclass(frozen=True)
class NamedResource:
    logical_id: str
    what: str  # "Lambda function name"
    limit: int
    fixed: int  # characters of the name besides the stack name
    per_character: int  # how many times the stack name appears in it

    @property
    def max_stack_name(self) -> int:
        return (self.limit - self.fixed) // self.per_character

    def length(self, stack_name: str) -> int:
        return self.fixed + self.per_character * len(stack_name)


def _name(body: Mapping[str, Any], parameters: Mapping[str, str], stack: str, logical_id: str, prop: str) -> str | None:
    template = Template(body, parameters, stack_name=stack)
    resource = body["Resources"][logical_id]
    if "Condition" in resource and not template.condition(resource["Condition"]):
        return None
    value = resource.get("Properties", {}).get(prop)
    if value is None:
        return None
    try:
        resolved = template.resolve(value)
    except TemplateError:  # a name made of another resource's attributes: not the stack name's business
        return None
    return resolved if isinstance(resolved, str) else None


def named_resources(body: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[NamedResource]:
    """Every resource whose name the template builds from the stack name, with the service's limit on it."""
    given = dict(parameters or {})
    found: list[NamedResource] = []
    for logical_id, resource in body.get("Resources", {}).items():
        for (kind, prop), (what, limit) in NAME_LIMITS.items():
            if resource.get("Type") != kind:
                continue
            one, two = (_name(body, given, stack, logical_id, prop) for stack in ("s", "ss"))
            if one is None or two is None or len(two) == len(one):
                continue
            per_character = len(two) - len(one)
            found.append(NamedResource(logical_id, what, limit, len(one) - per_character, per_character))
    return found


def check_stack_name(stack_name: str, body: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> None:
    """Refuse a stack name CloudFormation refuses, or one that makes a resource's name longer than its service
    allows, naming the resource whose limit is the tightest and the longest stack name that fits."""
    if not STACK_NAME.match(stack_name) or len(stack_name) > STACK_NAME_MAX:
        raise PreflightError(
            f"stack name {stack_name!r} is not one CloudFormation accepts: a letter, then letters, digits and "
            f"hyphens, at most {STACK_NAME_MAX} characters"
        )
    resources = named_resources(body, parameters)
    if not resources:
        return
    tightest = min(resources, key=lambda r: r.max_stack_name)
    if len(stack_name) <= tightest.max_stack_name:
        return
    pattern = _name(body, dict(parameters or {}), "<stack>", tightest.logical_id, _property(tightest))
    raise PreflightError(
        f"stack name {stack_name[:40]!r}{'...' if len(stack_name) > 40 else ''} has {len(stack_name)} characters: "
        f"the {tightest.what} of {tightest.logical_id}, {pattern!r}, would have {tightest.length(stack_name)} "
        f"(at most {tightest.limit}); use a stack name of at most {tightest.max_stack_name} characters"
    )


def _property(resource: NamedResource) -> str:
    return next(prop for (_, prop), (what, _) in NAME_LIMITS.items() if what == resource.what)


def check_alert_email(parameters: Mapping[str, str], *, without_alerts: bool) -> str | None:
    """A live deployment without AlertEmail has alarms nobody hears: refused unless `without_alerts`, and then
    the warning to print. None when there is nothing to say."""
    if parameters.get("AlertEmail"):
        return None
    if parameters.get("Mode", "live") != "live":
        return None
    warning = (
        "no AlertEmail: the stack's alarms (dead letters, failed ingests, stale sources) publish to an SNS topic "
        "nobody is subscribed to"
    )
    if not without_alerts:
        raise PreflightError(
            f"{warning}. Pass --parameter AlertEmail=you@example.com (confirm the email SNS sends), or "
            "--without-alerts to deploy anyway and subscribe to the AlertTopicArn output yourself"
        )
    return warning


def check_reserved_concurrency(lambda_client: Any, parameters: Mapping[str, str]) -> None:
    """With YahooIngestReservedConcurrency=1, refuse an account whose concurrency limit cannot spare one
    execution (Lambda keeps 100 unreserved; new accounts have a limit of 10)."""
    if str(parameters.get(RESERVED_PARAMETER, "0")) != "1":
        return
    limits = lambda_client.get_account_settings()["AccountLimit"]
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    if unreserved - 1 < UNRESERVED_MINIMUM:
        raise PreflightError(
            f"{RESERVED_PARAMETER}=1 cannot be deployed on this account: its concurrency limit is "
            f"{limits['ConcurrentExecutions']} with {unreserved} unreserved, and Lambda keeps {UNRESERVED_MINIMUM} "
            f"unreserved. Drop the parameter (the state document's lease keeps the Yahoo runs one at a time) or "
            "ask AWS for a higher concurrency quota"
        )


RATE: Final = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}
LONGEST_MONTH: Final = 31 * 86400  # the Open Exchange Rates guard paces calls over the month
# (schedule parameter, source) of the alarms counting FreshnessMinutes one-minute periods without a raw object.
MINUTE_ALARMS: Final = (("YahooFinanceSchedule", "yahoo_finance"), ("CoinMarketCapSchedule", "coinmarketcap"))


def schedule_seconds(expression: str) -> int | None:
    """Seconds between runs of a `rate(...)` expression; None for a cron expression (not checked)."""
    match = RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * UNIT_SECONDS[match.group(2).removesuffix("s")]


def check_freshness(values: Mapping[str, str], declared: Mapping[str, Any]) -> list[str]:
    """Refuse a schedule the source's freshness alarm would take for a stale source (ALARM, then OK, each run);
    the warnings to print for what cannot be checked. `values` are the effective parameters."""
    if values.get("SchedulesEnabled", "true") != "true":
        return []  # no freshness alarm is created
    warnings: list[str] = []
    window = int(values.get("FreshnessMinutes", "5")) * 60
    for parameter, source in MINUTE_ALARMS:
        expression = values.get(parameter, "rate(1 minute)")
        every = schedule_seconds(expression)
        if every is None:
            warnings.append(f"{parameter}={expression}: the {source} freshness alarm is not checked against it")
        elif every > window:
            raise PreflightError(
                f"{parameter}={expression} writes a raw object every {every // 60} minutes, but the {source} "
                f"freshness alarm fires after FreshnessMinutes={window // 60} minutes without one (and is OK again "
                f"at each run): pass --parameter FreshnessMinutes={-(-every // 60)} or more (at most 60), or a "
                "shorter schedule"
            )
    expression = values.get("OpenExchangeRatesSchedule", "rate(1 minute)")
    tick = schedule_seconds(expression)
    if tick is None:
        warnings.append(f"OpenExchangeRatesSchedule={expression}: the rates' freshness alarm is not checked against it")
        return warnings
    refresh, quota = int(values.get("OxrRefreshSeconds", "3600")), int(values.get("OxrMonthlyQuota", "1000"))
    paced = LONGEST_MONTH / quota if quota > 0 else 0.0
    spacing = max(refresh, paced) + tick  # the first scheduled run once a call is due
    if spacing > 2 * refresh:
        allowed = sorted(int(v) for v in declared.get("OxrRefreshSeconds", {}).get("AllowedValues", []))
        fits = next((v for v in allowed if max(v, paced) + tick <= 2 * v), None)
        raise PreflightError(
            f"with OxrRefreshSeconds={refresh}, OxrMonthlyQuota={quota} and OpenExchangeRatesSchedule={expression}, "
            f"a raw object of rates comes every {spacing:.0f} s at worst, but the freshness alarm fires after two "
            f"refresh periods ({2 * refresh} s): "
            + (f"pass --parameter OxrRefreshSeconds={fits}, " if fits else "")
            + "a larger OxrMonthlyQuota if your plan allows it, or a shorter schedule"
        )
    return warnings


NO_CREDENTIALS: Final = (
    "no AWS credentials: run `aws configure` (or `aws sso login`), or set AWS_PROFILE=<profile> "
    "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then deploy again"
)


def check_credentials(session: Any, sts: Any) -> str:
    """The account the credentials belong to; refused in one line when there are none or AWS rejects them."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if session.get_credentials() is None:
        raise PreflightError(NO_CREDENTIALS)
    try:
        return str(sts.get_caller_identity()["Account"])
    except NoCredentialsError:
        raise PreflightError(NO_CREDENTIALS) from None
    except ClientError as exc:
        reason = exc.response.get("Error", {}).get("Message") or str(exc)
        raise PreflightError(
            f"AWS rejected the credentials ({reason}): renew them (`aws configure`, `aws sso login`) or pick "
            "another AWS_PROFILE, then deploy again"
        ) from None
    except BotoCoreError as exc:
        raise PreflightError(f"cannot reach AWS STS to check the credentials: {exc}") from None


def check_bucket_name(s3: Any, values: Mapping[str, str], previous: Mapping[str, str]) -> None:
    """A BucketName the stack does not own yet must be free: a bucket kept by a deleted stack (DeletionPolicy), or
    anyone else's, makes the create fail late with "The requested bucket name is not available"."""
    from botocore.exceptions import ClientError

    name = values.get("BucketName", "")
    if not name or previous.get("BucketName") == name:
        return
    try:
        s3.head_bucket(Bucket=name)
        whose = "exists in this account (kept by a deleted stack?)"
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return
        whose = "belongs to another account" if code in ("403", "AccessDenied", "Forbidden") else f"answers {code}"
    raise PreflightError(
        f"bucket {name} {whose}, so the stack cannot create it: pass another --parameter BucketName=... (or "
        "BucketName= to let CloudFormation name it); to keep a retained bucket's data, see docs/deploy.md, "
        "section Tear it down"
    )


__all__ = [
    "PreflightError",
    "check_alert_email",
    "check_bucket_name",
    "check_credentials",
    "check_freshness",
    "check_parameter_values",
    "check_reserved_concurrency",
    "check_sink_secrets",
    "check_stack_name",
    "effective_parameters",
    "named_resources",
    "schedule_seconds",
]
