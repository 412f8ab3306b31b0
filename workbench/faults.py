"""The faults of a soak (`workbench.soak`): the plan (what fails, where and when on the virtual clock) and how each
fault is injected where the real one arises.

- sink outages: the sink the process and redrive functions get (`clients.sink`) raises `SinkError` while the
  virtual clock is inside the outage (`FaultySink`);
- S3 errors: a botocore hook on the functions' S3 client answers `GetObject` of raw objects 503 SlowDown for a
  while, and some raw `PutObject`s 500 once;
- the sources' own failures, through their simulated twins' fault switches (`SWITCHES`: Settings fields the
  functions' settings have on while the window covers the virtual clock);
- one-minute faults (`apply_point`): duplicate deliveries and publishes, poison messages, a raw object's bad row.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import Event, iso, parse_raw_key
from pipeline.sinks.base import SinkError

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


def apply_point(point: Point, s3: Any, sqs: Any, sns: Any, settings: Any, stack: Any) -> int:
    """Apply a one-minute fault right after the minute's ingest; returns messages it sent."""
    from pipeline.events import publish

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


def scoped(plan: Plan, sources: tuple[SourceId, ...]) -> Plan:
    """The plan's faults that touch `sources`: theirs, their sinks' and those of no source (S3)."""
    sinks = {SINK_OF[s] for s in sources}

    def touches(window: Window) -> bool:
        return window.target in sources or SINK_OF.get(window.target) is None or window.target in sinks

    return Plan([w for w in plan.windows if touches(w)], [p for p in plan.points if p.source in sources])


def fault_minutes(plan: Plan, source: SourceId, start: datetime, minutes: int) -> int:
    """The scheduled minutes of a run a twin's fault switch of `source` was on."""
    failures = [w for w in plan.windows if w.kind == "source_failure" and w.target == source]
    return sum(1 for i in range(minutes) if any(w.covers(start + timedelta(minutes=i)) for w in failures))
