"""`python -m pipeline soak`: a simulated trading day through the local stack under the faults it will meet.

The day runs on the local runtime's virtual clock (`workbench.local.runtime.LocalRuntime`): every source's ingest
every minute (stocks trade 390 of them, crypto and forex all 1,440), the queues, the process functions with their
quarantine and back-off, and the scheduled redrive. Faults are injected where the real ones arise
(`workbench.faults` holds the plan and the injection):

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

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.constants import STATE_PREFIX, SourceId
from pipeline.contracts import iso, parse_raw_key
from workbench.faults import (
    DAY_MINUTES,
    FaultySink,
    Plan,
    Tally,
    apply_point,
    default_plan,
    fault_minutes,
    incidents,
    inject,
    scoped,
)
from workbench.local.queues import empty_queues

# Tuesday 17 November 2026: a full NYSE session, 14:30-21:00 UTC.
DEFAULT_DAY = datetime(2026, 11, 17, tzinfo=UTC)


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

    from pipeline import aws, clients
    from pipeline.registry import source_ids
    from workbench.local.demo import use_stack
    from workbench.local.runtime import LocalRuntime

    began = time.monotonic()
    use_stack(stack)
    settings = stack.settings()
    chosen = sources or source_ids()
    s3, sqs, sns = aws.client("s3", settings), aws.client("sqs", settings), aws.client("sns", settings)
    _start_empty(stack, s3, sqs, settings.bucket, chosen)
    day = _Day(
        stack, settings, s3, sqs, sns,
        runtime=LocalRuntime(sqs, stack.queues, stack.dead_letter_queues, sources=chosen, region=settings.region),
        plan=scoped(plan or default_plan(start, minutes), chosen), sources=chosen, start=start, minutes=minutes,
    )  # fmt: skip
    tally = Tally()
    with inject(day.plan, day.clock, tally) as faulty:
        end = day.run(drain_limit, on_minute)
    clients.reset()
    report = _report(day, faulty, tally, end)
    report.wall_seconds = time.monotonic() - began
    return report


def _start_empty(stack: Any, s3: Any, sqs: Any, bucket: str, sources: tuple[SourceId, ...]) -> None:
    """The sources' state documents deleted, their queues and dead-letter queues purged: messages left by an
    earlier run would be counted (or block a FIFO group)."""
    for source in sources:
        s3.delete_object(Bucket=bucket, Key=f"{STATE_PREFIX}/{source}.json")
    empty_queues(sqs, [url for source in sources for url in (stack.queues[source], stack.dead_letter_queues[source])])


@dataclass
class _Day:
    """One soak on the local runtime's virtual clock: the stack, its clients, the sources and the faults."""

    stack: Any
    settings: Any
    s3: Any
    sqs: Any
    sns: Any
    runtime: Any
    plan: Plan
    sources: tuple[SourceId, ...]
    start: datetime
    minutes: int
    minute: datetime | None = None  # the scheduled minute being run (the runtime's clock when it has none)
    extra_messages: int = 0

    @property
    def last(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes - 1)

    def clock(self) -> datetime | None:
        now: datetime | None = self.runtime.now
        return now or self.minute

    def run(self, drain_limit: timedelta, on_minute: Callable[[int, datetime], None] | None) -> datetime:
        """Every scheduled minute: each source's ingest, then its one-minute faults, then its queue; the scheduled
        redrive; then drain what is left. Returns the virtual time the queues were empty."""
        now = self.start
        for i in range(self.minutes):
            now = self.minute = self.start + timedelta(minutes=i)
            for source in self.sources:
                self.runtime.tick(now, [source])
                for point in self.plan.at(now):
                    if point.source == source:
                        self.extra_messages += apply_point(point, self.s3, self.sqs, self.sns, self.settings,
                                                           self.stack)  # fmt: skip
                self.runtime.poll(now + timedelta(seconds=59), [source])
            self.runtime.scheduled_redrive(now)
            if on_minute:
                on_minute(i, now)
        self.minute = None
        drained: datetime = self.runtime.drain(now + timedelta(minutes=1), drain_limit)
        return drained


def _report(day: _Day, faulty: Mapping[str, FaultySink], tally: Tally, end: datetime) -> SoakReport:
    """The reconciliation of the day, and the figures."""
    from pipeline import quarantine
    from workbench.completeness import measure
    from workbench.verify import verify

    checked = verify(day.settings, day.start, day.last, s3=day.s3, sources=list(day.sources))
    left = day.runtime.dead_letters()
    records = [r for sid in day.sources for r in quarantine.records(day.s3, day.settings.bucket, sid)
               if r.raw_key is None or day.start <= parse_raw_key(r.raw_key)[1] <= day.last]  # fmt: skip
    report = SoakReport(start=day.start, minutes=day.minutes, faults=day.plan.listing())
    report.figures = _figures(day, checked, left, len(records), faulty, end)
    report.sources = {source: _source_figures(day.runtime.stats[source], left[source]) for source in day.sources}
    report.verification = {
        s.source: {n: s.total(n) for n in ("raw_rows", "sink_rows", "quarantined", "missing", "extra")}
        | {"absent": s.absent, "ok": s.ok, "error": s.error}
        for s in checked.sources
    }
    report.loads = {source: sink.loaded for source, sink in faulty.items()}
    report.figures["s3_errors_answered"] = tally.s3_errors + tally.s3_put_errors
    report.figures["source_fault_minutes"] = {  # scheduled minutes a twin's fault switch was on, by source
        s: fault_minutes(day.plan, s, day.start, day.minutes) for s in day.sources
    }
    report.figures["extra_messages_sent"] = day.extra_messages
    market = measure(
        day.settings, day.start, day.last, s3=day.s3, sources=list(day.sources), incidents=incidents(day.plan),
        load_times={source: sink.load_times for source, sink in faulty.items()},
    )  # fmt: skip
    report.figures["completeness"] = {s.source: s.completeness for s in market.sources}
    report.figures["freshness"] = {s.source: s.freshness() for s in market.sources}
    report.market = market.as_dict()
    return report


def _figures(
    day: _Day, checked: Any, left: Mapping[str, int], quarantined: int, faulty: Mapping[str, FaultySink], end: datetime
) -> dict[str, Any]:
    """The day's totals; `lost` and `duplicated` decide the soak."""
    stats = day.runtime.stats.values()
    redriven = sum(s.redriven for s in stats)
    return {
        "scheduled_minutes": {s: day.minutes - day.runtime.stats[s].skipped for s in day.sources},
        "raw_objects": sum(len(s.raw_keys) for s in stats),
        "messages": sum(len(s.events) for s in stats),
        "retries": sum(s.failed_deliveries + s.ingest_retries for s in stats),
        "backoffs": sum(s.backoffs for s in stats),
        "dead_lettered": redriven + sum(left.values()),
        "redriven": redriven,
        "quarantined": quarantined,
        "quarantined_rows": sum(s.total("quarantined") for s in checked.sources),
        "ingest_failures": sum(len(s.ingest_errors) for s in stats),
        "sink_refusals": sum(s.refused for s in faulty.values()),
        "lost": sum(s.total("missing") for s in checked.sources) + sum(left.values()) + day.runtime.pending(),
        "duplicated": sum(s.total("extra") for s in checked.sources),
        "drained_at": iso(end),
    }


def _source_figures(stats: Any, dead_letters_left: int) -> dict[str, Any]:
    return {
        "raw_objects": len(stats.raw_keys),
        "skipped_minutes": stats.skipped,
        "ingest_failures": len(stats.ingest_errors),
        "messages": len(stats.events),
        "retries": stats.failed_deliveries,
        "backoffs": stats.backoffs,
        "redriven": stats.redriven,
        "dead_letters_left": dead_letters_left,
    }


def figures_json(report: SoakReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)
