"""`python -m pipeline status`: does the pipeline work right now? One row per source.

Per source: the newest raw object and its age, the newest row its sink holds and its age (freshness), the
messages waiting in its queue (and, on AWS, the age of the oldest, from CloudWatch's
`ApproximateAgeOfOldestMessage`: SQS reports it nowhere else), its dead-letter depth, its quarantine records, and
the budget its state document says was spent this month (Yahoo requests, 429s and cool-downs; CoinMarketCap API
credits; Open Exchange Rates calls). On AWS also the CloudWatch alarms in ALARM, and the dashboard's address.

"Now" is the wall clock on AWS. The local stack runs simulated days that lie anywhere in time, so there "now" is
the newest scheduled minute of any raw object in the bucket, unless `--at` gives it; the report says which.

A source is *stale* when its sink's newest row is older than the market lets it be:

- yahoo_finance: the newest bar is more than `rotation + STALE_GRACE_MINUTES` minutes older than the last bar of
  the last session minute before now (outside trading hours the last session's close is what is due: a weekend
  or a holiday is never stale);
- openexchangerates: the newest rates are older than two refresh periods (`oxr_refresh_seconds`: an hourly plan
  publishes once an hour);
- coinmarketcap: the newest snapshot is older than `STALE_GRACE_MINUTES`, or than two API call intervals when
  the API is used.

`ok` (exit 0) means no source is stale and every dead-letter queue is empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rich.table import Table

from pipeline import calendar, quarantine, registry
from pipeline.constants import RAW_PREFIX, SourceId
from pipeline.contracts import iso, parse_raw_key, raw_key
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError, SinkRejected

STALE_GRACE_MINUTES: Final = 10
SESSION_LOOKBACK: Final = timedelta(days=7)  # the last session before now is found within this (long weekends)
ROW_WINDOWS: Final = (timedelta(minutes=90), timedelta(days=1), timedelta(days=5))  # sink rows read, widening


@dataclass
class SourceStatus:
    source: SourceId
    sink: str
    market: str
    raw_key: str | None = None
    raw_minute: datetime | None = None
    raw_age_minutes: float | None = None
    newest_row: datetime | None = None  # a bar's close, a rate's time, a snapshot's minute
    newest_row_raw_key: str | None = None
    freshness_minutes: float | None = None  # now - newest_row
    due: datetime | None = None  # the newest row the market and the schedule make due by now
    waiting: int = 0  # messages in the queue (visible and in flight)
    oldest_message_age_minutes: float | None = None  # AWS: ApproximateAgeOfOldestMessage
    dead_letters: int = 0
    quarantine_records: int = 0
    budget: dict[str, Any] = field(default_factory=dict)
    stale: str = ""  # why the source is stale; empty when it is not
    error: str = ""  # what could not be read

    @property
    def ok(self) -> bool:
        return not self.stale and not self.dead_letters and not self.error


@dataclass
class Status:
    target: str  # local | aws
    now: datetime
    now_basis: str  # how "now" was chosen
    sources: list[SourceStatus]
    alarms: list[dict[str, str]] = field(default_factory=list)  # AWS: alarms in ALARM
    dashboard_url: str | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "now": iso(self.now),
            "now_basis": self.now_basis,
            "sources": {s.source: asdict(s) | {"ok": s.ok} for s in self.sources},
            "alarms": self.alarms,
            "dashboard_url": self.dashboard_url,
        }

    def table(self) -> Table:
        table = Table(title=f"Pipeline status ({self.target}) at {iso(self.now)} ({self.now_basis})")
        for name in ("source", "newest raw object (age)", "newest sink row (age)", "waiting", "dead letters",
                     "quarantine", "budget this month", "state"):  # fmt: skip
            table.add_column(name, justify="right" if name in ("waiting", "dead letters", "quarantine") else "left")
        for s in self.sources:
            trouble = s.error or s.stale or f"{s.dead_letters} dead letter(s)"
            state = "[green]ok[/green]" if s.ok else f"[red]{trouble}[/red]"
            waiting = str(s.waiting) + (
                f" (oldest {_minutes(s.oldest_message_age_minutes)})" if s.oldest_message_age_minutes else ""
            )
            table.add_row(
                s.source,
                f"{_when(s.raw_minute)} ({_minutes(s.raw_age_minutes)})",
                f"{_when(s.newest_row)} ({_minutes(s.freshness_minutes)})",
                waiting,
                f"[red]{s.dead_letters}[/red]" if s.dead_letters else "0",
                str(s.quarantine_records),
                _budget_line(s.budget),
                state,
            )
        if self.alarms:
            table.caption = "alarms in ALARM: " + ", ".join(a["name"] for a in self.alarms)
        elif self.target == "aws":
            table.caption = "no alarm in ALARM"
        if self.dashboard_url:
            table.caption = (table.caption or "") + f"\ndashboard: {self.dashboard_url}"
        return table


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%MZ}" if value else "none"


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 120:
        return f"{value / 60:.1f} h"
    return f"{value:.0f} min"


def _budget_line(budget: dict[str, Any]) -> str:
    if not budget:
        return "-"
    if "yahoo_requests" in budget:
        cooling = f", cooling down until {budget['cooldown_until']}" if budget.get("cooling_down") else ""
        return (f"{budget['yahoo_requests']} requests, {budget['rate_limited']} x 429, "
                f"{budget['cooldowns']} cool-down(s){cooling}")  # fmt: skip
    if "credits" in budget:
        plan = f"{budget['monthly_credits']:,}" if budget["monthly_credits"] else "unlimited"
        return f"{budget['credits']} of {plan} credits"
    if "calls" in budget:
        plan = f"{budget['quota']:,}" if budget["quota"] else "unlimited"
        return f"{budget['calls']} of {plan} calls"
    return str(budget.get("note", "-"))


# --- reading the stack -------------------------------------------------------------------------------------------


def newest_raw_key(s3: Any, bucket: str, source: SourceId) -> str | None:
    """The newest raw object of a source: the greatest key under raw/<source>/, found by descending the
    YYYY/MM/DD folders (a listing of one day, not of the whole history)."""
    prefix = f"{RAW_PREFIX}/{source}/"
    for _level in range(3):  # YYYY/, MM/, DD/
        folders = _folders(s3, bucket, prefix)
        if not folders:
            return None
        prefix = max(folders)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", []) if o["Key"].endswith(".csv")]  # fmt: skip
    return max(keys, default=None)


def _folders(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]


def _newest_row(source: SourceId, sink: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """The newest row the sink holds at or before `now` (its natural time: a bar's close, a rate's time, a
    snapshot's minute) and the raw object it came from."""
    spec = registry.get(source)
    if hasattr(sink, "processed_keys"):  # one object per snapshot: the listing alone says which is newest
        for window in ROW_WINDOWS:
            keys = sink.processed_keys(raw_key(source, now - window), raw_key(source, now))
            if keys:
                newest = raw_key(source, _processed_minute(keys[-1]))
                return parse_raw_key(newest)[1], newest
        return None, None
    position = spec.natural_key.index(spec.natural_time) if spec.natural_time in spec.natural_key else None
    for window in ROW_WINDOWS:
        rows = sink.stored_rows(raw_key(source, now - window), raw_key(source, now), now - window, now)
        if not rows:
            continue
        if position is None:
            newest_key = max(r.raw_key for r in rows)
            return parse_raw_key(newest_key)[1], newest_key
        timed = [(r.key[position], r.raw_key) for r in rows if r.key[position] <= now]
        if timed:
            when, key = max(timed)
            bar = timedelta(minutes=1) if spec.market == calendar.XNYS else timedelta(0)  # a bar closes a minute on
            return when + bar, key
    return None, None


def _processed_minute(key: str) -> datetime:
    """processed/<source>/YYYY/MM/DD/HHMM.parquet -> its minute."""
    parts = key.rsplit(".", 1)[0].split("/")
    year, month, day, hhmm = parts[-4:]
    return datetime(int(year), int(month), int(day), int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


def due_row(source: SourceId, settings: Settings, now: datetime) -> datetime | None:
    """The newest row the market makes due by `now` (before the grace): the close of the last bar of the last
    session minute for stocks, `now` for 24/7 sources; None when no session lies within a week."""
    spec = registry.get(source)
    if spec.market != calendar.XNYS:
        return now
    found = calendar.sessions(spec.market, now - SESSION_LOOKBACK, now)
    if not found:
        return None
    return min(found[-1].close, now)


def stale_reason(source: SourceId, settings: Settings, now: datetime, newest: datetime | None) -> str:
    """Why a source whose sink's newest row is `newest` is stale at `now` (empty when it is not)."""
    due = due_row(source, settings, now)
    if due is None:
        return ""
    if source == "openexchangerates":
        allowed = timedelta(seconds=2 * settings.oxr_refresh_seconds)
    elif source == "yahoo_finance":
        allowed = timedelta(minutes=settings.yahoo_rotation_minutes + STALE_GRACE_MINUTES)
    elif source == "coinmarketcap" and (settings.cmc_api_key or settings.cmc_api_key_secret_arn):
        allowed = max(timedelta(minutes=STALE_GRACE_MINUTES), timedelta(seconds=2 * settings.cmc_min_interval_seconds))
    else:
        allowed = timedelta(minutes=STALE_GRACE_MINUTES)
    if newest is None:
        return f"stale: no row in the sink (one due by {iso(due)})"
    behind = due - newest
    if behind > allowed:
        return f"stale: newest row {iso(newest)}, {_minutes(behind.total_seconds() / 60)} behind {iso(due)}"
    return ""


def budget(source: SourceId, settings: Settings, state: Any, now: datetime) -> dict[str, Any]:
    """This month's spending, from the source's state document (scheduled minutes' month on the local stack)."""
    if source == "yahoo_finance":
        from pipeline.sources.yahoo_finance.budget import YahooState

        doc = YahooState.load(state)
        month = doc.month if doc.month.get("month") == f"{now:%Y-%m}" else {}
        until = doc.cooling_down(now)
        return {
            "month": f"{now:%Y-%m}", "yahoo_requests": int(month.get("requests", 0)),
            "rate_limited": int(month.get("rate_limited", 0)), "cooldowns": int(month.get("cooldowns", 0)),
            "cooling_down": until is not None, "cooldown_until": iso(until) if until else None,
            "not_found_today": len(doc.not_found),
        }  # fmt: skip
    if source == "coinmarketcap":
        if not (settings.cmc_api_key or settings.cmc_api_key_secret_arn):
            return {"note": "home page (no API key): no credits spent"}
        from pipeline.sources.coinmarketcap.budget import credit_report

        return credit_report(state, settings.cmc_monthly_credits, settings.cmc_min_interval_seconds, now).as_dict()
    if source == "openexchangerates":
        from pipeline.sources.openexchangerates import quota_report

        return quota_report(state, settings, now=now).as_dict()
    return {}


def _queue_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))


def _oldest_age_minutes(cloudwatch: Any, url: str, now: datetime) -> float | None:
    """CloudWatch's ApproximateAgeOfOldestMessage of a queue over the last 15 minutes, in minutes."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": name}], StartTime=now - timedelta(minutes=15), EndTime=now,
        Period=60, Statistics=["Maximum"],
    )  # fmt: skip
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return round(float(points[-1]["Maximum"]) / 60, 1) if points else None


def alarms_in_alarm(cloudwatch: Any, prefix: str | None) -> list[dict[str, str]]:
    """The CloudWatch alarms in state ALARM (those whose names start with `prefix`, when given)."""
    found = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(StateValue="ALARM"):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            name = str(alarm["AlarmName"])
            if prefix is None or name.startswith(prefix):
                found.append({"name": name, "reason": str(alarm.get("StateReason", "")),
                              "since": str(alarm.get("StateUpdatedTimestamp", ""))})  # fmt: skip
    return found


def stack_queues(cloudformation: Any, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The queues and dead-letter queues of a deployed stack, by source, from its outputs
    (`<Source>QueueUrl`, `<Source>DeadLetterQueueUrl`)."""
    outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    by_name = {source.replace("_", ""): source for source in registry.source_ids()}
    queues: dict[str, str] = {}
    dead: dict[str, str] = {}
    for output in outputs:
        key, value = str(output["OutputKey"]), str(output["OutputValue"])
        for suffix, into in (("DeadLetterQueueUrl", dead), ("QueueUrl", queues)):
            if key.endswith(suffix) and (source := by_name.get(key[: -len(suffix)].lower())) is not None:
                into[source] = value
                break
    return queues, dead


def dashboard_name(stack_name: str) -> str:
    """The name the template gives its dashboard."""
    return f"{stack_name}-pipeline"


def dashboard_url(region: str, stack_name: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={dashboard_name(stack_name)}")  # fmt: skip


def status(
    settings: Settings,
    *,
    queues: dict[str, str],
    dead_letter_queues: dict[str, str],
    target: str = "local",
    at: datetime | None = None,
    stack_name: str | None = None,
    sources: tuple[SourceId, ...] | None = None,
) -> Status:
    """The status of every source of the stack that `settings` and the queue URLs name."""
    from pipeline import aws
    from pipeline.sinks import get_sink
    from pipeline.state import S3State

    s3, sqs = aws.client("s3", settings), aws.client("sqs", settings)
    chosen = sources or registry.source_ids()
    newest = {source: newest_raw_key(s3, settings.bucket, source) for source in chosen}
    now, basis = _now(target, at, newest)
    cloudwatch = aws.client("cloudwatch", settings) if target == "aws" else None
    state = S3State(s3, settings.bucket)
    out = []
    for source in chosen:
        spec = registry.get(source)
        report = SourceStatus(source, spec.sink_label, spec.market)
        if (key := newest[source]) is not None:
            report.raw_key, report.raw_minute = key, parse_raw_key(key)[1]
            report.raw_age_minutes = _age(now, report.raw_minute)
        try:
            sink = get_sink(source, settings, s3=s3)
            try:
                report.newest_row, report.newest_row_raw_key = _newest_row(source, sink, now)
            finally:
                sink.close()
        except (SinkError, SinkRejected) as exc:
            report.error = f"sink unreadable: {one_line(exc)}"
        report.freshness_minutes = _age(now, report.newest_row) if report.newest_row else None
        report.due = due_row(source, settings, now)
        if not report.error:
            report.stale = stale_reason(source, settings, now, report.newest_row)
        if source in queues:
            report.waiting = _queue_depth(sqs, queues[source])
            if cloudwatch is not None:
                report.oldest_message_age_minutes = _oldest_age_minutes(cloudwatch, queues[source], now)
        if source in dead_letter_queues:
            report.dead_letters = _queue_depth(sqs, dead_letter_queues[source])
        report.quarantine_records = sum(1 for _ in quarantine.records(s3, settings.bucket, source))
        report.budget = budget(source, settings, state, now)
        out.append(report)
    result = Status(target, now, basis, out)
    if cloudwatch is not None:
        result.alarms = alarms_in_alarm(cloudwatch, f"{stack_name}-" if stack_name else None)
        if stack_name:
            result.dashboard_url = dashboard_url(settings.region, stack_name)
    return result


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds() / 60, 1)


def _now(target: str, at: datetime | None, newest: dict[str, str | None]) -> tuple[datetime, str]:
    if at is not None:
        return at, "--at"
    if target == "aws":
        return datetime.now(UTC).replace(microsecond=0), "wall clock"
    minutes = [parse_raw_key(k)[1] for k in newest.values() if k is not None]
    if not minutes:
        return datetime.now(UTC).replace(microsecond=0), "wall clock (no raw object yet)"
    return max(minutes), "newest scheduled minute of a raw object (simulated time)"
