"""The quota guard: whether a minute may call, from one state document (see the package's docstring).

The monthly primitives (month, pace, the daily reconciliation with usage.json) are `pipeline.sources.budget`'s.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pipeline.contracts import floor_minute, iso, to_utc
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sources.base import (
    NothingToIngest,
    UpstreamError,
    UpstreamFailure,
)
from pipeline.sources.budget import month_key, month_span, over_pace, reconciled, used_this_month
from pipeline.sources.openexchangerates.fetch import Service
from pipeline.sources.openexchangerates.parse import rates_time
from pipeline.state import MemoryState, StateConflict, StateStore

QUOTA_STATE = "openexchangerates"

log = logging.getLogger(__name__)

# Used when no StateStore is handed in: the guard still holds within one warm process.
_PROCESS_STATE = MemoryState()


@dataclass(frozen=True)
class Decision:
    call: bool
    reason: str


def calls_this_month(doc: dict[str, Any] | None, now: datetime) -> int:
    return used_this_month(doc, now, "calls")


def retry_seconds(refresh_seconds: int) -> int:
    return max(60, refresh_seconds // 12)


def decide(doc: dict[str, Any] | None, now: datetime, *, refresh_seconds: int, monthly_quota: int) -> Decision:
    """Whether the minute `now` may call the service, from the quota state document alone (see module doc)."""
    now = to_utc(now)
    last_call = to_utc(doc["last_call"]) if doc and doc.get("last_call") else None
    if last_call is not None and last_call > now:
        return Decision(False, f"the last call at {iso(last_call)} is later than now ({iso(now)}): never backwards")
    cached = bool(doc and doc.get("payload") and "timestamp" in doc)
    if cached:
        assert doc is not None
        rates_at = datetime.fromtimestamp(int(doc["timestamp"]), UTC)
        if rates_at > now:
            return Decision(False, f"the cached rates of {iso(rates_at)} are later than now ({iso(now)})")
        due = rates_at + timedelta(seconds=refresh_seconds)
        if now < due:
            return Decision(False, f"rates of {iso(rates_at)} are current until {iso(due)}")
    if last_call is not None and now < last_call + timedelta(seconds=retry_seconds(refresh_seconds)):
        again = last_call + timedelta(seconds=retry_seconds(refresh_seconds))
        found = "found no newer rates" if cached else "brought no rates"
        return Decision(False, f"the call at {iso(last_call)} {found}; next try at {iso(again)}")
    wait = over_pace(calls_this_month(doc, now), monthly_quota, now, "calls")
    if wait:
        return Decision(False, wait)
    return Decision(True, "the upstream rates may have changed" if cached else "no rates cached yet")


@dataclass(frozen=True)
class QuotaReport:
    month: str
    calls: int
    quota: int  # 0 = unlimited
    refresh_seconds: int
    projected_calls: int  # calls by the month's end at one call per refresh from now on
    last_call: str | None
    rates_timestamp: str | None
    next_call_after: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quota_report(state: StateStore | None, settings: Settings, now: datetime | None = None) -> QuotaReport:
    """The Open Exchange Rates budget: calls this month, the quota, and the projected calls at the refresh."""
    now = to_utc(now or datetime.now(UTC))
    doc = (state or _PROCESS_STATE).get(QUOTA_STATE)
    calls = calls_this_month(doc, now)
    rates_at = datetime.fromtimestamp(int(doc["timestamp"]), UTC) if doc and "timestamp" in doc else None
    next_after = rates_at + timedelta(seconds=settings.oxr_refresh_seconds) if rates_at else None
    _, end = month_span(now)
    start_from = max(now, next_after) if next_after else now
    remaining = max(0.0, (end - start_from).total_seconds())
    projected = calls + math.ceil(remaining / settings.oxr_refresh_seconds)
    return QuotaReport(
        month_key(now), calls, settings.oxr_monthly_quota, settings.oxr_refresh_seconds, projected,
        (doc or {}).get("last_call"), iso(rates_at) if rates_at else None, iso(next_after) if next_after else None,
    )  # fmt: skip


def _reconciled(doc: dict[str, Any] | None, minute: datetime, now: datetime, service: Service) -> dict[str, Any] | None:
    """The document with its count set from usage.json, once a wall-clock day (None: nothing to change; a
    document from later than this invocation is never rewritten)."""

    def read_count(record: dict[str, Any]) -> int | None:
        try:
            usage = service.usage()["data"]["usage"]
            requests_made = int(usage["requests"])
        except (UpstreamFailure, KeyError, TypeError, ValueError) as exc:  # the guard goes on with its own count
            log.warning("openexchangerates usage.json not read: %s", one_line(exc))
            return None
        record["usage"] = {k: usage.get(k) for k in ("requests", "requests_quota", "requests_remaining")}
        return requests_made

    return reconciled(doc, minute, now, checked="usage_checked", counter="calls", read_count=read_count)


@dataclass(frozen=True)
class _Plan:
    kind: Literal["serve", "skip", "call"]
    reason: str


def _plan(doc: dict[str, Any] | None, minute: datetime, now: datetime, refresh: int, quota: int) -> _Plan:
    """What the invocation for `minute` does, at wall-clock time `now` (see the module doc)."""
    doc = doc or {}
    last_minute = to_utc(doc["minute"]) if doc.get("minute") else None
    if last_minute is not None and minute < last_minute:
        return _Plan("skip", f"minute {iso(minute)} is older than {iso(last_minute)}, which the state was written "
                             "for: no call, and the state is left as it is")  # fmt: skip
    payload = doc.get("payload")
    served = doc.get("served_minute")
    if payload and served and to_utc(served) == minute:
        return _Plan("serve", f"a retry of {iso(minute)}, whose raw object carries these rates")
    decision = decide(doc, now, refresh_seconds=refresh, monthly_quota=quota)
    if decision.call:
        return _Plan("call", decision.reason)
    if not payload:
        return _Plan("skip", f"no rates yet: {decision.reason}")
    where = f" (in the raw object of {served})" if served else ""
    return _Plan("skip", f"no newer rates: {decision.reason}{where}")


def _store(state: StateStore, record: dict[str, Any], version: str | None) -> None:
    """Write the outcome of a call; if another invocation wrote meanwhile, keep whichever rates are newer."""
    for _ in range(3):
        try:
            state.put_if(QUOTA_STATE, record, version)
            return
        except StateConflict:
            current = state.read(QUOTA_STATE)
            theirs = current.doc or {}
            if int(theirs.get("timestamp", 0)) >= int(record.get("timestamp", 0)):
                return
            mine = ("payload", "timestamp", "served_ts", "served_minute")
            record = {**theirs, **{k: record[k] for k in mine if k in record}}
            version = current.version
    log.warning("openexchangerates: the state document kept changing; the rates were not recorded")


def guarded_fetch(
    state: StateStore,
    minute: datetime,
    *,
    now: datetime | None = None,
    refresh_seconds: int,
    monthly_quota: int,
    service: Service | None = None,
    call: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The body for the scheduled `minute` at wall-clock `now` (default: the minute), or `NothingToIngest`."""
    minute = floor_minute(minute)
    now = to_utc(now) if now is not None else minute
    if service is None:
        assert call is not None, "guarded_fetch needs a service or a call"
        service = _CallOnly(call)
    for _ in range(3):
        current = state.read(QUOTA_STATE)
        reconciled = _reconciled(current.doc, minute, now, service)
        doc = reconciled if reconciled is not None else current.doc
        plan = _plan(doc, minute, now, refresh_seconds, monthly_quota)
        if plan.kind == "serve":
            return (doc or {})["payload"]  # type: ignore[no-any-return]
        if plan.kind == "skip":
            if reconciled is not None:
                with contextlib.suppress(StateConflict):
                    state.put_if(QUOTA_STATE, reconciled, current.version)
            raise NothingToIngest(f"openexchangerates: {plan.reason}")
        record = dict(doc or {})
        record.update(
            month=month_key(now), calls=calls_this_month(doc, now) + 1, last_call=iso(now), minute=iso(minute)
        )
        if monthly_quota and record["calls"] > monthly_quota and not record.get("payload"):
            raise UpstreamError(
                f"openexchangerates: the monthly quota of {monthly_quota} calls is used up and no rates are cached"
            )
        try:  # claim the call first: of two invocations racing here, one wins and the other reads its claim
            version = state.put_if(QUOTA_STATE, record, current.version)
        except StateConflict:
            continue
        return _call(state, record, version, minute, service)
    raise NothingToIngest("openexchangerates: another invocation is updating the state: no call this minute")


@dataclass(frozen=True)
class _CallOnly:
    """A service from a bare `call()` (tests, older callers): no usage.json."""

    call: Callable[[], dict[str, Any]]

    def latest(self) -> dict[str, Any]:
        return self.call()

    def usage(self) -> dict[str, Any]:
        raise UpstreamError("no usage.json for this service")


def _call(
    state: StateStore, record: dict[str, Any], version: str, minute: datetime, service: Service
) -> dict[str, Any]:
    """Make the claimed call and record its rates (a failed or malformed answer stays counted, never cached)."""
    body = service.latest()
    rates_at = int(rates_time(body).timestamp())
    served_ts = record.get("served_ts", record.get("timestamp"))
    record = {**record, "payload": body, "timestamp": rates_at}
    if served_ts is not None and int(served_ts) >= rates_at:
        _store(state, record, version)
        where = f" (in the raw object of {record['served_minute']})" if record.get("served_minute") else ""
        raise NothingToIngest(
            f"openexchangerates: the call found no newer rates than {iso(datetime.fromtimestamp(rates_at, UTC))}{where}"
        )
    record.update(served_ts=rates_at, served_minute=iso(minute))
    _store(state, record, version)
    return body
