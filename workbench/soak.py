"""`python -m pipeline soak`: a simulated trading day through the local stack under the faults it will meet.

The day runs on the local runtime's virtual clock (`workbench.local.runtime.LocalRuntime`): every source's ingest
every minute (stocks trade 390 of them, crypto and forex all 1,440), the queues, the process functions with their
quarantine and back-off, and the scheduled redrive. Faults are injected where the real ones arise:

- sink outages (Snowflake 45 min and 6 h, SQL Server): the sink the process and redrive functions get
  (`clients.sink`) raises `SinkError` while the virtual clock is inside the outage;
- S3 errors: a botocore hook on the functions' S3 client: `GetObject` of raw objects answers 503 SlowDown for a
  while, and some raw `PutObject`s answer 500 once;
- the sources' own failures, through their simulated twins' fault switches (`SWITCHES`: the settings a test or a
  user sets), so the soak meets them on the code paths the live sources take: a 429 storm (the Yahoo twin
  answers HTTP 429 past one request a minute, through yfinance, the circuit breaker and the cool-down), a
  challenge page (the CoinMarketCap twin's edge challenge, HTTP 403), spent API credits (CoinMarketCap's error
  1010 through its credit guard) and an exhausted quota (Open Exchange Rates answers `access_restricted`, 403,
  through its quota guard);
- duplicate deliveries (a second copy of an event sent to its queue: SQS delivers at least once) and duplicate
  publishes (the same event published again to the topic with its deduplication id);
- poison messages (bodies that are not pipeline events) and raw objects with a bad row (a success row of a
  just-written raw object given an impossible price).

It ends with a reconciliation (`workbench.verify`) and the figures: `lost` (rows in raw objects that no sink holds
and no quarantine record accounts for, plus events left unprocessed) and `duplicated` (natural keys held twice or
held for a raw object that lacks them) must both be 0. No step is taken by hand: what dead-letters is redriven by
the scheduled redrive once its sink answers the health probe.

The soak works on the local stack only, and owns it while it runs: it purges the sources' queues and dead-letter
queues and resets the simulated sources' state documents (`state/<source>.json`) first, so that the day's figures
and the quota and look-back decisions start fresh however often it is run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.constants import STATE_PREFIX, SourceId
from pipeline.contracts import Event, iso, parse_raw_key
from pipeline.sinks.base import SinkError

# Tuesday 17 November 2026: a full NYSE session, 14:30-21:00 UTC.
DEFAULT_DAY = datetime(2026, 11, 17, tzinfo=UTC)
DAY_MINUTES = 1440
SINK_OF = {"yahoo_finance": "snowflake", "openexchangerates": "sqlserver", "coinmarketcap": "s3parquet"}
# The simulated twins' fault switches (Settings fields), by the name a plan's window gives: while the window covers
# the virtual clock, the functions' settings have them on.
SWITCHES: dict[str, dict[str, Any]] = {
    "429_storm": {"yahoo_twin_rate_limit": 1},  # HTTP 429 to every request past the first of a minute
    "challenge": {"cmc_simulated_fault": "challenge"},  # the edge network's challenge page, HTTP 403
    "credits_spent": {"cmc_simulated_fault": "exhausted"},  # the API plan's monthly credits spent (error 1010)
    "quota_exhausted": {"oxr_simulated_fault": "access_restricted"},  # 403: restricted for over-use
}
# What each switch is called as the cause of a gap against the market (`workbench.completeness`).
CAUSES: dict[str, str] = {
    "429_storm": "cool-down (HTTP 429)",
    "challenge": "challenge page",
    "credits_spent": "quota (API credits spent)",
    "quota_exhausted": "quota (access restricted)",
}


@dataclass(frozen=True)
class Window:
    """A fault that lasts: [start, end) on the virtual clock."""

    kind: str  # outage | s3_errors | source_failure
    target: str  # snowflake, sqlserver, s3, or a source id
    start: datetime
    end: datetime
    detail: str = ""
    switch: str = ""  # source_failure: the twin's fault switch (a key of SWITCHES)

    def covers(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


@dataclass(frozen=True)
class Point:
    """A fault at one scheduled minute."""

    kind: str  # duplicate_delivery | duplicate_publish | poison | bad_row | s3_put_error
    source: SourceId
    at: datetime
    detail: str = ""


@dataclass
class Plan:
    windows: list[Window] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)

    def at(self, minute: datetime) -> list[Point]:
        return [p for p in self.points if p.at == minute]

    def listing(self) -> list[dict[str, str]]:
        out = [
            {"kind": w.kind, "target": w.target, "from": iso(w.start), "to": iso(w.end), "detail": w.detail}
            | ({"switch": w.switch} if w.switch else {})
            for w in self.windows
        ]
        out += [{"kind": p.kind, "target": p.source, "at": iso(p.at), "detail": p.detail} for p in self.points]
        return out


def default_plan(start: datetime, minutes: int) -> Plan:
    """The faults of a soak: the trading day's by default; a run shorter than a day gets the same kinds, shorter."""
    if minutes >= DAY_MINUTES:
        return _day_plan(start)
    return _short_plan(start, minutes)


def _day_plan(day: datetime) -> Plan:
    def t(hhmm: str) -> datetime:
        return day.replace(hour=int(hhmm[:2]), minute=int(hhmm[3:]))

    plan = Plan(
        windows=[
            Window("outage", "snowflake", t("15:00"), t("15:45"), "Snowflake down 45 minutes"),
            Window("outage", "snowflake", t("16:30"), t("22:30"), "Snowflake down six hours"),
            Window("outage", "sqlserver", t("03:00"), t("03:40"), "SQL Server down 40 minutes"),
            Window("s3_errors", "s3", t("06:00"), t("06:08"), "GetObject of raw objects answers 503 SlowDown"),
            Window(
                "source_failure",
                "yahoo_finance",
                t("15:50"),
                t("15:56"),
                "429 storm: every request past the first a minute throttled",
                "429_storm",
            ),
            Window(
                "source_failure",
                "coinmarketcap",
                t("09:00"),
                t("09:05"),
                "challenge page instead of the listing",
                "challenge",
            ),
            Window(
                "source_failure",
                "coinmarketcap",
                t("18:00"),
                t("18:10"),
                "the API plan's credits spent",
                "credits_spent",
            ),
            Window(
                "source_failure",
                "openexchangerates",
                t("12:00"),
                t("12:30"),
                "monthly quota exhausted: access_restricted",
                "quota_exhausted",
            ),
        ]
    )
    for source, minutes in {
        "yahoo_finance": ("14:40", "16:00", "19:00", "20:50"),
        "coinmarketcap": ("01:10", "08:00", "13:00", "23:00"),
        "openexchangerates": ("02:00", "03:10", "10:00", "22:00"),
    }.items():
        first, second, third, fourth = (t(m) for m in minutes)
        plan.points += [
            Point("duplicate_delivery", source, first, "the event delivered twice"),
            Point("duplicate_publish", source, first, "the event published again with its deduplication id"),
            Point("poison", source, second, "a body that is not a pipeline event"),
            Point("bad_row", source, third, "a success row with a negative price"),
            Point("duplicate_delivery", source, fourth, "the event delivered twice"),
            Point("s3_put_error", source, fourth, "the raw object's first PutObject answers 500"),
        ]
    return plan


def _short_plan(start: datetime, minutes: int) -> Plan:
    def t(offset: int) -> datetime:
        return start + timedelta(minutes=offset % max(1, minutes))

    q = max(1, minutes // 6)
    plan = Plan(
        windows=[
            Window("outage", "snowflake", t(q), t(q) + timedelta(minutes=2 * q), f"Snowflake down {2 * q} minutes"),
            Window("outage", "sqlserver", t(2 * q), t(2 * q) + timedelta(minutes=q), f"SQL Server down {q} minutes"),
            Window("s3_errors", "s3", t(3 * q), t(3 * q) + timedelta(minutes=2), "GetObject answers 503 SlowDown"),
            Window(
                "source_failure",
                "coinmarketcap",
                t(4 * q),
                t(4 * q) + timedelta(minutes=1),
                "challenge page",
                "challenge",
            ),
            Window("source_failure", "yahoo_finance", t(4 * q + 2), t(4 * q + 4), "429 storm", "429_storm"),
            Window(
                "source_failure",
                "openexchangerates",
                t(5 * q),
                t(5 * q) + timedelta(minutes=1),
                "monthly quota exhausted",
                "quota_exhausted",
            ),
        ]
    )
    for i, source in enumerate(SINK_OF):
        plan.points += [
            Point("duplicate_delivery", source, t(1 + i), "the event delivered twice"),
            Point("duplicate_publish", source, t(1 + i), "the event published again with its deduplication id"),
            Point("poison", source, t(2 + i), "a body that is not a pipeline event"),
            Point("bad_row", source, t(3 + i), "a success row with a negative price"),
            Point("s3_put_error", source, t(4 + i), "the raw object's first PutObject answers 500"),
        ]
    return plan


# --- injection ---------------------------------------------------------------------------------------------------


class FaultySink:
    """A sink that is down while one of its outage windows covers the virtual clock; otherwise the real one."""

    def __init__(self, sink: Any, target: str, plan: Plan, clock: Callable[[], datetime | None]) -> None:
        self.sink = sink
        self.source = sink.source
        self.target = target
        self.windows = [w for w in plan.windows if w.kind == "outage" and w.target == target]
        self.clock = clock
        self.refused = 0
        self.loaded: list[str] = []  # raw keys in the order the sink took them
        self.load_times: dict[str, datetime] = {}  # raw key -> virtual time the sink first took it

    def _check(self) -> None:
        now = self.clock()
        for window in self.windows:
            if window.covers(now):
                self.refused += 1
                raise SinkError(f"{self.target}: connection refused ({window.detail}, injected)")

    def load(self, rows: Any, raw_key: str) -> int:
        self._check()
        written = int(self.sink.load(rows, raw_key))
        self.loaded.append(raw_key)
        if (now := self.clock()) is not None:
            self.load_times.setdefault(raw_key, now)
        return written

    def stored_rows(self, *args: Any) -> Any:
        self._check()
        return self.sink.stored_rows(*args)

    def close(self) -> None:
        self.sink.close()


def _client_error(code: str, status: int, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    response: Any = {
        "Error": {"Code": code, "Message": f"{code} (injected)"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@dataclass
class Tally:
    s3_errors: int = 0
    s3_put_errors: int = 0
    events: dict[str, int] = field(default_factory=dict)


def switched(plan: Plan, at: datetime | None) -> dict[str, Any]:
    """The twins' fault switches on at `at` (Settings fields and values)."""
    on: dict[str, Any] = {}
    for window in plan.windows:
        if window.kind == "source_failure" and window.covers(at):
            if window.switch not in SWITCHES:
                raise ValueError(f"soak: window {window.detail!r} of {window.target} has no known twin switch")
            on.update(SWITCHES[window.switch])
    return on


@contextmanager
def inject(plan: Plan, clock: Callable[[], datetime | None], tally: Tally) -> Iterator[dict[str, FaultySink]]:
    """Install the plan's lasting faults in the functions' clients and sources; undone on exit."""
    from unittest import mock

    from pipeline import clients

    sinks: dict[str, FaultySink] = {}
    real_sink = clients.sink

    def sink(source: SourceId) -> FaultySink:
        if source not in sinks:
            sinks[source] = FaultySink(real_sink(source), SINK_OF.get(source, source), plan, clock)
        return sinks[source]

    s3_windows = [w for w in plan.windows if w.kind == "s3_errors"]
    put_errors = {(p.source, p.at) for p in plan.points if p.kind == "s3_put_error"}

    def on_get(params: Mapping[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).startswith("raw/") and any(w.covers(clock()) for w in s3_windows):
            tally.s3_errors += 1
            raise _client_error("SlowDown", 503, "GetObject")

    def on_put(params: Mapping[str, Any], **_: Any) -> None:
        key = str(params.get("Key", ""))
        if not key.startswith("raw/"):
            return
        try:
            spot = parse_raw_key(key)
        except ValueError:
            return
        if spot in put_errors:
            put_errors.discard(spot)  # once: Lambda's retry of the invocation succeeds
            tally.s3_put_errors += 1
            raise _client_error("InternalError", 500, "PutObject")

    real_settings = clients.settings
    variants: dict[tuple[int, tuple[tuple[str, Any], ...]], Any] = {}

    def settings() -> Any:
        """The functions' settings, with the twins' fault switches the plan has on at the virtual clock."""
        base = real_settings()
        on = tuple(sorted(switched(plan, clock()).items()))
        if not on:
            return base
        key = (id(base), on)
        if key not in variants:
            variants[key] = base.model_copy(update=dict(on))
        return variants[key]

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(clients, "sink", sink))
        stack.enter_context(mock.patch.object(clients, "settings", settings))
        s3 = clients.s3()
        s3.meta.events.register("before-parameter-build.s3.GetObject", on_get, unique_id="soak-get")
        s3.meta.events.register("before-parameter-build.s3.PutObject", on_put, unique_id="soak-put")
        stack.callback(s3.meta.events.unregister, "before-parameter-build.s3.GetObject", unique_id="soak-get")
        stack.callback(s3.meta.events.unregister, "before-parameter-build.s3.PutObject", unique_id="soak-put")
        yield sinks


def corrupt_row(s3: Any, bucket: str, key: str) -> int | None:
    """Give the last success row of a raw object an impossible price (a row a buggy parser could write); returns
    its CSV line (the header is line 1), or None when the object has no success row."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    header = rows[0]
    column = next(c for c in ("close", "price_usd", "rate") if c in header)
    status = header.index("status")
    lines = [i for i, r in enumerate(rows[1:], start=1) if len(r) == len(header) and r[status] == "success"]
    if not lines:
        return None
    rows[lines[-1]][header.index(column)] = "-1"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
    return lines[-1] + 1


POISON_BODIES = ("", "not json at all", '{"bucket": 1, "key": null}', '{"hello": "world"}', "\udcff".encode(
    "utf-8", "surrogateescape").decode("latin-1"))  # fmt: skip


# --- the soak ------------------------------------------------------------------------------------------------


@dataclass
class SoakReport:
    start: datetime
    minutes: int
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, str]] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    loads: dict[str, list[str]] = field(default_factory=dict)  # source -> raw keys in the order its sink took them
    market: dict[str, Any] = field(default_factory=dict)  # completeness and freshness against the market
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.figures.get("lost") == 0 and self.figures.get("duplicated") == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "start": iso(self.start),
            "minutes": self.minutes,
            "wall_seconds": round(self.wall_seconds, 1),
            **self.figures,
            "faults_injected": len(self.faults),
            "faults": self.faults,
            "sources": self.sources,
            "verification": self.verification,
            "market": self.market,
        }

    def table(self) -> Any:
        from rich.table import Table

        table = Table(
            title=f"Soak: {self.minutes} scheduled minutes from {iso(self.start)} ({self.wall_seconds:.0f} s)"
        )
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, value in self.figures.items():
            shown = json.dumps(value) if isinstance(value, dict) else str(value)
            style = "" if name not in ("lost", "duplicated") else ("green" if value == 0 else "red")
            table.add_row(name, f"[{style}]{shown}[/{style}]" if style else shown)
        table.add_row("faults_injected", str(len(self.faults)))
        return table


def soak(
    stack: Any,
    *,
    start: datetime = DEFAULT_DAY,
    minutes: int = DAY_MINUTES,
    plan: Plan | None = None,
    sources: tuple[SourceId, ...] | None = None,
    drain_limit: timedelta = timedelta(hours=12),
    on_minute: Callable[[int, datetime], None] | None = None,
) -> SoakReport:
    """Run `minutes` scheduled minutes from `start` through the local stack under `plan`; reconcile; the figures."""
    import time

    from pipeline import aws, clients, quarantine
    from pipeline.events import publish
    from pipeline.registry import source_ids
    from workbench.completeness import measure
    from workbench.local.demo import use_stack
    from workbench.local.runtime import LocalRuntime
    from workbench.verify import verify

    began = time.monotonic()
    use_stack(stack)
    settings = stack.settings()
    chosen = sources or source_ids()
    plan = plan or default_plan(start, minutes)
    plan = Plan(
        [w for w in plan.windows if w.target in chosen or SINK_OF.get(w.target) is None or w.target in
         {SINK_OF[s] for s in chosen}],
        [p for p in plan.points if p.source in chosen],
    )  # fmt: skip
    s3, sqs, sns = aws.client("s3", settings), aws.client("sqs", settings), aws.client("sns", settings)
    _reset_state(s3, settings.bucket, chosen)
    for source in chosen:  # messages left by an earlier run would be counted (or block a FIFO group): start empty
        for url in (stack.queues[source], stack.dead_letter_queues[source]):
            with contextlib.suppress(sqs.exceptions.PurgeQueueInProgress):
                sqs.purge_queue(QueueUrl=url)
    runtime = LocalRuntime(sqs, stack.queues, stack.dead_letter_queues, sources=chosen, region=settings.region)
    tally = Tally()
    minute_now: list[datetime | None] = [None]

    def clock() -> datetime | None:
        return runtime.now or minute_now[0]

    extra_messages = 0
    with inject(plan, clock, tally) as faulty:
        now = start
        for i in range(minutes):
            now = start + timedelta(minutes=i)
            minute_now[0] = now
            for source in chosen:
                runtime.tick(now, [source])
                for point in plan.at(now):
                    if point.source == source:
                        extra_messages += _point(point, runtime, s3, sqs, sns, settings, stack, publish)
                runtime.poll(now + timedelta(seconds=59), [source])
            runtime.scheduled_redrive(now)
            if on_minute:
                on_minute(i, now)
        minute_now[0] = None
        end = runtime.drain(now + timedelta(minutes=1), drain_limit)
    clients.reset()

    last = start + timedelta(minutes=minutes - 1)
    checked = verify(settings, start, last, s3=s3, sources=list(chosen))
    left = runtime.dead_letters()
    records = [r for sid in chosen for r in quarantine.records(s3, settings.bucket, sid)
               if r.raw_key is None or start <= parse_raw_key(r.raw_key)[1] <= last]  # fmt: skip
    stats = runtime.stats
    redriven = sum(s.redriven for s in stats.values())
    report = SoakReport(start=start, minutes=minutes, faults=plan.listing())
    report.figures = {
        "scheduled_minutes": {s: minutes - stats[s].skipped for s in chosen},
        "raw_objects": sum(len(s.raw_keys) for s in stats.values()),
        "messages": sum(len(s.events) for s in stats.values()),
        "retries": sum(s.failed_deliveries + s.ingest_retries for s in stats.values()),
        "backoffs": sum(s.backoffs for s in stats.values()),
        "dead_lettered": redriven + sum(left.values()),
        "redriven": redriven,
        "quarantined": len(records),
        "quarantined_rows": sum(s.total("quarantined") for s in checked.sources),
        "ingest_failures": sum(len(s.ingest_errors) for s in stats.values()),
        "sink_refusals": sum(s.refused for s in faulty.values()),
        "lost": sum(s.total("missing") for s in checked.sources) + sum(left.values()) + runtime.pending(),
        "duplicated": sum(s.total("extra") for s in checked.sources),
        "drained_at": iso(end),
    }
    report.sources = {
        source: {
            "raw_objects": len(stats[source].raw_keys),
            "skipped_minutes": stats[source].skipped,
            "ingest_failures": len(stats[source].ingest_errors),
            "messages": len(stats[source].events),
            "retries": stats[source].failed_deliveries,
            "backoffs": stats[source].backoffs,
            "redriven": stats[source].redriven,
            "dead_letters_left": left[source],
        }
        for source in chosen
    }
    report.verification = {
        s.source: {n: s.total(n) for n in ("raw_rows", "sink_rows", "quarantined", "missing", "extra")}
        | {"absent": s.absent, "ok": s.ok, "error": s.error}
        for s in checked.sources
    }
    report.loads = {source: sink.loaded for source, sink in faulty.items()}
    report.figures["s3_errors_answered"] = tally.s3_errors + tally.s3_put_errors
    report.figures["source_fault_minutes"] = {  # scheduled minutes a twin's fault switch was on, by source
        s: sum(1 for i in range(minutes) if any(w.target == s and w.covers(start + timedelta(minutes=i))
                                                for w in plan.windows if w.kind == "source_failure"))
        for s in chosen
    }  # fmt: skip
    report.figures["extra_messages_sent"] = extra_messages
    market = measure(
        settings, start, last, s3=s3, sources=list(chosen), incidents=incidents(plan),
        load_times={source: sink.load_times for source, sink in faulty.items()},
    )  # fmt: skip
    report.figures["completeness"] = {s.source: s.completeness for s in market.sources}
    report.figures["freshness"] = {s.source: s.freshness() for s in market.sources}
    report.market = market.as_dict()
    report.wall_seconds = time.monotonic() - began
    return report


def _point(point: Point, runtime: Any, s3: Any, sqs: Any, sns: Any, settings: Any, stack: Any, publish: Any) -> int:
    """Apply a one-minute fault right after the minute's ingest; returns messages it sent."""
    key = f"raw/{point.source}/{point.at:%Y/%m/%d/%H%M}.csv"
    if point.kind == "poison":
        for body in POISON_BODIES:
            sqs.send_message(QueueUrl=stack.queues[point.source], MessageBody=body or " ",
                             MessageGroupId=point.source, MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
        return len(POISON_BODIES)
    try:
        head = s3.head_object(Bucket=settings.bucket, Key=key)
    except s3.exceptions.ClientError:
        return 0  # nothing was ingested this minute (the market is closed, or the source failed)
    event = Event(bucket=settings.bucket, key=key, source=point.source, scheduled_at=iso(point.at),
                  rows=int(head.get("Metadata", {}).get("success-rows", "0")))  # fmt: skip
    if point.kind == "duplicate_delivery":
        sqs.send_message(QueueUrl=stack.queues[point.source], MessageBody=event.model_dump_json(),
                         MessageGroupId=point.source, MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
        return 1
    if point.kind == "duplicate_publish":
        publish(sns, settings.topic_arn, event, head["ETag"])
        return 1
    if point.kind == "bad_row":
        corrupt_row(s3, settings.bucket, key)
    return 0


def incidents(plan: Plan) -> list[Any]:
    """The plan's source failures and sink outages, as causes of gaps against the market."""
    from workbench.completeness import Incident

    found = [Incident(w.target, w.start, w.end, CAUSES.get(w.switch, w.detail))
             for w in plan.windows if w.kind == "source_failure"]  # fmt: skip
    sources_of = {sink: source for source, sink in SINK_OF.items()}
    found += [Incident(sources_of[w.target], w.start, w.end, f"sink down ({w.detail})")
              for w in plan.windows if w.kind == "outage" and w.target in sources_of]  # fmt: skip
    return found


def _reset_state(s3: Any, bucket: str, sources: tuple[SourceId, ...]) -> None:
    for source in sources:
        s3.delete_object(Bucket=bucket, Key=f"{STATE_PREFIX}/{source}.json")


def figures_json(report: SoakReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)
