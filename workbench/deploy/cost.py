"""What a month of the deployed stack costs, computed from the template, the registry and measured durations.

`python -m pipeline cost` reads:
- the template (`infra/cloudformation/template.yaml`, with `--parameter` overrides): each source's schedule,
  counted while its rule is enabled (`SchedulesEnabled=false`: no ingest, so no event, no process run and no
  metric), and its redrive function's (`RedriveSchedule`, likewise), the functions' memory, the alarms and
  their metrics (those whose Condition holds), the metric filters, the topics and queues encrypted with a KMS
  key, the Open Exchange Rates refresh period;
- the metrics the code writes in embedded metric format (`EMF_METRICS`, the Yahoo ingest's figures);
- the registry (`pipeline.registry`): each source's market (XNYS sessions or 24/7), so the minutes in which the
  yahoo_finance ingest does work and writes a raw object, and those in which it returns at once;
- the durations `python -m pipeline run --artifacts` measured (`DURATIONS_FILE`), when that file exists; else the
  documented defaults of `ASSUMED_DURATIONS_MS`, labelled as assumptions in the output.

Prices are the us-east-1 list prices in `PRICES` (x86 Lambda), with the date they were noted; they and the
assumptions are in `workbench.deploy.prices`. Every quantity is monthly, for a 30-day month.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final

from pipeline import registry
from pipeline.handlers import Kind, handler_string
from workbench.cloudformation.template import TEMPLATE_PATH, Template, TemplateError, rate_period
from workbench.deploy.functions import PROJECT_ROOT, PackagingError
from workbench.deploy.prices import (
    ASSUMED_DURATIONS_MS,
    EMF_METRICS,
    ESM_POLLERS,
    EVENT_BYTES,
    LOG_BYTES_PER_INVOCATION,
    LONG_POLL_SECONDS,
    PRICES_NOTED,
    PRICES_REGION,
    SECRET_REFRESH_SECONDS,
    SNOWFLAKE_CREDIT_PRICE,
    SNOWFLAKE_CREDITS_PER_HOUR,
    SNOWFLAKE_MINIMUM_SECONDS,
    charge,
)

DAYS: Final = 30
MINUTES_PER_DAY: Final = 24 * 60
# XNYS: the sessions of a reference year by the exchange's calendar (pipeline.calendar: holidays out, early
# closes short), a twelfth of them a month.
REFERENCE_YEAR: Final = 2026

# Where `run --artifacts` leaves its measurements: {"functions": {"<function>": {"invocation_ms": ...}}}.
DURATIONS_FILE: Final = PROJECT_ROOT / "reports" / "artifacts" / "durations.json"


def secrets_read(params: Mapping[str, str]) -> list[str]:
    """The secrets the functions read, as the parameters imply: the Snowflake credentials and the SQL Server URL
    (given, or created with the database), the Open Exchange Rates app id in live mode, the CoinMarketCap key when
    one is given."""
    names = ["the Snowflake credentials", "the SQL Server URL"]
    if params.get("Mode", "live") == "live" or params.get("OxrAppIdSecretArn"):
        names.append("the Open Exchange Rates app id")
    if params.get("CmcApiKeySecretArn"):
        names.append("the CoinMarketCap API key")
    return names


@dataclass
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float
    usd_after_free_tier: float
    note: str = ""


@dataclass
class Bill:
    lines: list[Line] = field(default_factory=list)
    invocations: dict[str, int] = field(default_factory=dict)
    durations_ms: dict[str, float] = field(default_factory=dict)
    durations_measured: bool = False
    raw_objects: dict[str, int] = field(default_factory=dict)
    snowflake: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def total_after_free_tier(self) -> float:
        return sum(line.usd_after_free_tier for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": PRICES_REGION,
            "prices_noted": PRICES_NOTED,
            "days": DAYS,
            "lines": [asdict(line) for line in self.lines],
            "total_usd": round(self.total, 2),
            "total_after_free_tier_usd": round(self.total_after_free_tier, 2),
            "invocations": self.invocations,
            "raw_objects": self.raw_objects,
            "durations_ms": self.durations_ms,
            "durations_measured": self.durations_measured,
            "snowflake": self.snowflake,
            "assumptions": self.assumptions,
        }


def schedule_minutes(expression: str) -> int:
    """Invocations a month of an EventBridge `rate(...)` expression."""
    try:
        every = rate_period(expression)
    except TemplateError:
        raise PackagingError(f"cost: cannot count schedule {expression!r} (only rate(N minutes|hours|days))") from None
    return int(timedelta(days=DAYS) / every)


@cache
def _year_sessions(market: str, year: int = REFERENCE_YEAR) -> tuple[int, int]:
    """(sessions, open minutes) of `market` in `year`, from the exchange calendar."""
    from pipeline import calendar

    found = calendar.sessions(market, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    return len(found), sum(session.minutes for session in found)


def market_minutes(market: str) -> int:
    """Minutes a month a market is open (for XNYS a twelfth of the reference year's sessions)."""
    if market == "24/7":
        return DAYS * MINUTES_PER_DAY
    if market == "XNYS":
        return round(_year_sessions(market)[1] / 12)
    raise PackagingError(f"cost: unknown market {market!r}")


def market_sessions(market: str) -> float:
    return DAYS if market == "24/7" else _year_sessions(market)[0] / 12


def measured_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """{function: ms per invocation} measured by `run --artifacts`, or {} when there is no such file."""
    if not path.is_file():
        return {}
    document = json.loads(path.read_text())
    functions: Mapping[str, Any] = document.get("functions", document)
    found: dict[str, float] = {}
    for name, entry in functions.items():
        value = entry.get("invocation_ms") if isinstance(entry, Mapping) else entry
        if isinstance(value, int | float):
            found[name] = float(value)
    return found


def _function(template: Template, handler: str) -> tuple[str, Mapping[str, Any]]:
    for logical_id, resource in template.resources("AWS::Lambda::Function"):
        if resource.get("Properties", {}).get("Handler") == handler:
            return logical_id, resource["Properties"]
    raise PackagingError(f"cost: the template has no function with handler {handler}")


def _memory_gb(template: Template, handler: str) -> float:
    return int(template.resolve(_function(template, handler)[1]["MemorySize"])) / 1024


def _rule(template: Template, source: str, kind: Kind = "ingest") -> Mapping[str, Any]:
    """The properties of the rule that invokes the source's `kind` function (ingest or redrive)."""
    function_id, _ = _function(template, handler_string(kind, source))
    for _, rule in template.resources("AWS::Events::Rule"):
        props = rule.get("Properties", {})
        targets = [t.get("Arn", {}).get("Fn::GetAtt", [None])[0] for t in props.get("Targets", [])]
        if function_id in targets and "ScheduleExpression" in props:
            return props  # type: ignore[no-any-return]
    raise PackagingError(f"cost: no schedule rule invokes the {source} {kind} function")


def _schedule(template: Template, source: str) -> str:
    """The schedule expression of the rule that invokes the source's ingest function."""
    return str(template.resolve(_rule(template, source)["ScheduleExpression"]))


def ingest_runs(template: Template, source: str) -> int:
    """Scheduled ingests a month of the source: none while its rule is disabled (`SchedulesEnabled=false`)."""
    props = _rule(template, source)
    if template.resolve(props.get("State", "ENABLED")) != "ENABLED":
        return 0
    return schedule_minutes(_schedule(template, source))


def kms_encrypted(template: Template, kind: str) -> list[str]:
    """The logical ids of the resources of `kind` (an SNS topic or SQS queue) encrypted with a KMS key: each
    message sent through them costs KMS requests (SQS-managed and S3-managed encryption cost none)."""
    return [lid for lid, r in template.resources(kind) if r.get("Properties", {}).get("KmsMasterKeyId")]


def redrive_runs(template: Template, source: str) -> int:
    """Runs a month of the source's redrive function: none while its rule is disabled (`RedriveEnabled`)."""
    props = _rule(template, source, "redrive")
    if template.resolve(props.get("State", "ENABLED")) != "ENABLED":
        return 0
    return schedule_minutes(str(template.resolve(props["ScheduleExpression"])))


def _compaction(template: Template, ms: Mapping[str, float]) -> dict[str, float]:
    """A month of the compaction function: its runs (while its rule is enabled), their GB-seconds and S3 requests."""
    rule = next(
        (
            props
            for _, resource in template.resources("AWS::Events::Rule")
            for props in [resource.get("Properties", {})]
            for target in props.get("Targets", [])
            if isinstance(target.get("Arn"), dict)
            and target["Arn"].get("Fn::GetAtt", [""])[0] == "CompactCoinMarketCapFunction"
        ),
        None,
    )
    if rule is None or template.resolve(rule.get("State", "ENABLED")) != "ENABLED":
        return {"runs": 0, "gb_seconds": 0.0, "gets": 0, "lists_and_puts": 0}
    runs = schedule_minutes(str(template.resolve(rule["ScheduleExpression"])))
    gb = _memory_gb(template, handler_string("compact", "coinmarketcap"))
    seconds = (DAYS * ms["compact-coinmarketcap:day"] + (runs - DAYS) * ms["compact-coinmarketcap"]) / 1000
    pages = -(-MINUTES_PER_DAY // 1000)  # a day's minute objects listed 1,000 a page, twice (merge, then delete)
    return {
        "runs": runs,
        "gb_seconds": seconds * gb,
        "gets": DAYS * MINUTES_PER_DAY,
        "lists_and_puts": runs + DAYS * (2 * pages + 1),
    }


def _alarm_metrics(template: Template) -> int:
    count = 0
    for _, alarm in template.resources("AWS::CloudWatch::Alarm"):
        props = alarm.get("Properties", {})
        count += 1 if "MetricName" in props else sum(1 for q in props.get("Metrics", []) if "MetricStat" in q)
    return count


@dataclass
class _Usage:
    """A month's quantities of the services the functions use, summed over the functions."""

    gb_seconds: float = 0.0
    requests: int = 0
    log_bytes: int = 0
    sqs_requests: int = 0
    publishes: int = 0
    s3_put: int = 0
    s3_get: int = 0

    def runs(self, count: int) -> None:
        """`count` invocations: their requests and their logs."""
        self.requests += count
        self.log_bytes += count * LOG_BYTES_PER_INVOCATION


def compute(
    parameters: Mapping[str, str] | None = None,
    *,
    template_path: Path = TEMPLATE_PATH,
    durations: Mapping[str, float] | None = None,
    credit_price: float = SNOWFLAKE_CREDIT_PRICE,
    warehouse: str = "X-Small",
    secrets: int | None = None,
) -> Bill:
    """The month's bill. `durations` ({function: ms}) replaces the assumed ones where given; `secrets` (the secrets
    the functions read) defaults to what the parameters imply (`secrets_read`)."""
    template = Template.load(template_path, parameters=dict(parameters or {}))
    params = template.parameters
    read = secrets_read(params)
    if secrets is None:
        secrets = len(read)
    stored_secrets = secrets + (1 if params.get("CreateSqlServer") == "true" else 0)  # the database's master
    measured = dict(durations or {})
    bill = Bill(durations_measured=bool(measured))
    ms = {**ASSUMED_DURATIONS_MS, **measured}
    bill.durations_ms = ms

    usage = _Usage()
    for spec in registry.specs():
        _source_usage(bill, usage, template, spec, ms)
    _compaction_usage(bill, usage, _compaction(template, ms))
    bill.assumptions += _assumptions(ms, bool(measured), read, secrets, stored_secrets)
    _price(bill, usage, template, secrets, stored_secrets)
    bill.snowflake = snowflake_cost(warehouse, credit_price, bill.raw_objects.get("yahoo_finance", 0))
    return bill


def _source_usage(bill: Bill, usage: _Usage, template: Template, spec: Any, ms: Mapping[str, float]) -> None:
    """A month of a source's three functions: ingest, process and the scheduled redrive."""
    source, params = spec.id, template.parameters
    scheduled = ingest_runs(template, source)
    ingest_gb = _memory_gb(template, handler_string("ingest", source))
    process_gb = _memory_gb(template, handler_string("process", source))
    open_minutes = min(scheduled, market_minutes(spec.market))
    if source == "openexchangerates":  # unchanged rates write nothing: one raw object a refresh period,
        refresh_minutes = int(params["OxrRefreshSeconds"]) // 60
        written = min(open_minutes, open_minutes // max(1, refresh_minutes))  # at most a call each...
        if int(params["OxrMonthlyQuota"]) > 0:  # ...and no more calls than the plan's month allows
            written = min(written, int(params["OxrMonthlyQuota"]))
    else:
        written = open_minutes
    bill.raw_objects[source] = written
    ingest_name, process_name = f"ingest-{source}", f"process-{source}"
    idle_key = f"{ingest_name}:closed" if spec.market != "24/7" else f"{ingest_name}:skip"
    busy = open_minutes if source != "openexchangerates" else written
    idle = scheduled - busy
    ingest_seconds = (busy * ms[ingest_name] + idle * ms.get(idle_key, ms[ingest_name])) / 1000
    usage.gb_seconds += ingest_seconds * ingest_gb
    usage.gb_seconds += written * ms[process_name] / 1000 * process_gb
    bill.invocations[ingest_name] = scheduled
    bill.invocations[process_name] = written
    # The scheduled redrive: a short run that finds the dead-letter queue empty (one GetQueueAttributes)
    redrive_name, redriven = f"redrive-{source}", redrive_runs(template, source)
    usage.gb_seconds += redriven * ms[redrive_name] / 1000 * _memory_gb(template, handler_string("redrive", source))
    bill.invocations[redrive_name] = redriven
    usage.runs(scheduled + written + redriven)
    # SQS: the mapping's idle long polls, plus send (by SNS), receive and delete of each event, plus the
    # redrive's look at the dead-letter queue
    polls = ESM_POLLERS * DAYS * MINUTES_PER_DAY * 60 // LONG_POLL_SECONDS
    usage.sqs_requests += polls + 3 * written + redriven
    usage.publishes += written
    # S3: the ingest reads its state and the key it writes (never overwriting with less), writes raw and
    # state; the process reads the raw object; the Parquet sink writes one object per raw object.
    usage.s3_get += scheduled + 2 * written
    usage.s3_put += written + (written if source != "coinmarketcap" else 2 * written)


def _compaction_usage(bill: Bill, usage: _Usage, compaction: Mapping[str, float]) -> None:
    usage.gb_seconds += compaction["gb_seconds"]
    usage.runs(int(compaction["runs"]))
    usage.s3_get += int(compaction["gets"])
    usage.s3_put += int(compaction["lists_and_puts"])
    if compaction["runs"]:
        bill.invocations["compact-coinmarketcap"] = int(compaction["runs"])


def _assumptions(
    ms: Mapping[str, float], measured: bool, read: list[str], secrets: int, stored_secrets: int
) -> list[str]:
    """What the bill assumes, stated in the output."""
    return [
        f"a {DAYS}-day month; XNYS open {market_minutes('XNYS'):,} minutes (a twelfth of its "
        f"{_year_sessions('XNYS')[0]} sessions in {REFERENCE_YEAR}, early closes short); 24/7 sources "
        f"{market_minutes('24/7'):,} minutes",
        "durations "
        + (
            "measured by `run --artifacts` (local sandboxes against the stand-ins: a live fetch waits longer on its "
            "service; --assumed-durations for the defaults)"
            if measured
            else "assumed (ASSUMED_DURATIONS_MS)"
        )
        + ": "
        + ", ".join(f"{name} {value / 1000:g} s" for name, value in ms.items()),
        f"each SQS event source mapping long-polls with {ESM_POLLERS} connections every {LONG_POLL_SECONDS} s",
        "each redrive run finds its dead-letter queue empty (one SQS request); a redrive after an outage is extra",
        "the compaction merges one day a day (its 1,440 minute objects read, one file written, the minute objects "
        "deleted: DELETE is free); its other runs list and find nothing; the Glue table is free (Data Catalog "
        "under 1M objects); Athena queries are extra, $5 per TB scanned (a month of snapshots is a few MB)",
        f"{LOG_BYTES_PER_INVOCATION} bytes of logs per invocation; events of {EVENT_BYTES} bytes",
        f"{stored_secrets} secrets, of which the functions read {secrets} ({', '.join(read)}), each every "
        f"{SECRET_REFRESH_SECONDS // 60} min by one warm function"
        + ("; the database's master secret is read once, when it is created" if stored_secrets > secrets else ""),
        "one KMS request per event published to an encrypted topic and per secret read (an upper bound: AWS "
        "managed keys, no key-month fee)",
    ]


def _line(bill: Bill, service: str, item: str, quantity: float, unit: str, key: str, units: float) -> None:
    """A line of the bill: `units` of the price `key` (PRICES) for a `quantity` shown in `unit`."""
    usd, after = charge(key, units)
    bill.lines.append(Line(service, item, quantity, unit, usd, after))


def _price(bill: Bill, usage: _Usage, template: Template, secrets: int, stored_secrets: int) -> None:
    """The bill's lines: each service's quantities at the list prices, with and without the free tier."""
    running = any(bill.invocations.values())  # with the schedules off no function runs, and none reads a secret
    emf = sum(len(names) for source, names in EMF_METRICS.items() if bill.invocations.get(f"ingest-{source}"))
    kms = _kms_requests(template, usage.publishes, secrets) if running else 0
    _line(bill, "Lambda", "requests", usage.requests, "requests", "lambda_requests", usage.requests / 1e6)
    usd, after = charge("lambda_gb_seconds", usage.gb_seconds)
    bill.lines.append(
        Line("Lambda", "compute", round(usage.gb_seconds), "GB-s", usd, after, "x86, memory from the template")
    )
    _line(bill, "SQS", "FIFO requests (mostly idle long polls)", usage.sqs_requests, "requests", "sqs_fifo_requests",
          usage.sqs_requests / 1e6)  # fmt: skip
    publishes = usage.publishes
    deliveries = publishes  # one subscription matches each event
    payload_gb = publishes * EVENT_BYTES / 1e9
    sns = [
        charge("sns_fifo_publishes", publishes / 1e6),
        charge("sns_fifo_deliveries", deliveries / 1e6),
        charge("sns_fifo_payload", payload_gb),
    ]
    bill.lines.append(
        Line(
            "SNS", "FIFO publishes and deliveries", publishes, "events", sum(u for u, _ in sns), sum(a for _, a in sns)
        )
    )
    _line(bill, "S3", "PUT (raw, state, processed)", usage.s3_put, "requests", "s3_put", usage.s3_put / 1000)
    _line(bill, "S3", "GET and HEAD", usage.s3_get, "requests", "s3_get", usage.s3_get / 1000)
    secret_calls = secrets * DAYS * MINUTES_PER_DAY * 60 // SECRET_REFRESH_SECONDS if running else 0
    stored, _ = charge("secrets", stored_secrets)
    calls, _ = charge("secrets_api", secret_calls / 10_000)
    item = f"{stored_secrets} secrets and their reads"
    bill.lines.append(Line("Secrets Manager", item, secret_calls, "API calls", stored + calls, stored + calls))
    log_gb = usage.log_bytes / 1e9
    _line(bill, "CloudWatch", "Logs ingestion", round(log_gb, 3), "GB", "logs_ingestion", log_gb)
    alarm_metrics = _alarm_metrics(template)
    _line(bill, "CloudWatch", "alarms", alarm_metrics, "alarm metrics", "alarm_metrics", alarm_metrics)
    dashboards = sum(1 for _ in template.resources("AWS::CloudWatch::Dashboard"))
    _line(bill, "CloudWatch", "dashboards", dashboards, "dashboards", "dashboards", dashboards)
    # A metric filter publishes RawObjectsWritten only when its ingest writes: none while the schedules are off
    filters = sum(1 for _ in template.resources("AWS::Logs::MetricFilter")) if any(bill.raw_objects.values()) else 0
    custom = filters + emf
    item = f"custom metrics (RawObjectsWritten {filters}, embedded metric format {emf})"
    _line(bill, "CloudWatch", item, custom, "metrics", "custom_metrics", custom)
    _line(bill, "KMS", "requests (encrypted topic, secrets)", kms, "requests", "kms_requests", kms / 10_000)
    rules = sum(1 for _ in template.resources("AWS::Events::Rule"))
    bill.lines.append(
        Line("EventBridge", "scheduled rules (ingest, redrive, compaction)", rules, "rules", 0.0, 0.0, "free")
    )


def _kms_requests(template: Template, publishes: int, secrets: int) -> int:
    """KMS requests a month: each publish to the encrypted event topic, each read of a secret (Secrets Manager
    decrypts it with its key)."""
    topic = publishes if "EventTopic" in kms_encrypted(template, "AWS::SNS::Topic") else 0
    queues = 3 * publishes if kms_encrypted(template, "AWS::SQS::Queue") else 0  # send and receive of each event
    return topic + queues + secrets * DAYS * MINUTES_PER_DAY * 60 // SECRET_REFRESH_SECONDS


def snowflake_cost(warehouse: str, credit_price: float, loads: int, auto_suspend_seconds: int = 60) -> dict[str, Any]:
    """A warehouse resumed by a load every market minute: with an auto-suspend of 60 s it never suspends while
    the market is open (the next load comes before), and each session ends with one auto-suspend of idle."""
    if warehouse not in SNOWFLAKE_CREDITS_PER_HOUR:
        raise PackagingError(
            f"cost: unknown warehouse size {warehouse!r}: one of {', '.join(SNOWFLAKE_CREDITS_PER_HOUR)}"
        )
    sessions = market_sessions("XNYS") if loads else 0  # no load, no resume
    if auto_suspend_seconds >= 60:
        seconds = loads * 60 + sessions * auto_suspend_seconds
    else:
        seconds = loads * SNOWFLAKE_MINIMUM_SECONDS
    credits = seconds / 3600 * SNOWFLAKE_CREDITS_PER_HOUR[warehouse]
    return {
        "warehouse": warehouse,
        "credits_per_hour": SNOWFLAKE_CREDITS_PER_HOUR[warehouse],
        "loads": loads,
        "running_hours": round(seconds / 3600, 1),
        "credits": round(credits, 1),
        "credit_price_usd": credit_price,
        "usd": round(credits * credit_price, 2),
    }


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.3f}" if not float(value).is_integer() else f"{int(value):,}"


def markdown(bill: Bill) -> str:
    """The bill as the Markdown table docs/deploy.md quotes."""
    rows = [
        "| service | item | quantity | per month | after free tier |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for line in bill.lines:
        rows.append(
            f"| {line.service} | {line.item} | {_quantity(line.quantity)} {line.unit} | {_money(line.usd)} | "
            f"{_money(line.usd_after_free_tier)} |"
        )
    rows.append(f"| **AWS total** | | | **{_money(bill.total)}** | **{_money(bill.total_after_free_tier)}** |")
    flake = bill.snowflake
    rows.append(
        f"| Snowflake | {flake['warehouse']} warehouse woken by {flake['loads']:,} loads | "
        f"{flake['credits']:,} credits ({flake['running_hours']:,} h) | **{_money(flake['usd'])}** | "
        f"at ${flake['credit_price_usd']:.2f} a credit |"
    )
    return "\n".join(rows)


__all__ = ["Bill", "compute", "markdown", "measured_durations", "snowflake_cost"]
