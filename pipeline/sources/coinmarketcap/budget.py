"""The API mode's credit guard: one listings call a minute is ~44,640 credits a month; the Basic plan has 10,000.

The guard keeps `state/coinmarketcap_api.json`: the month (by the wall clock), the credits spent in it, the time of
the last call and the minute it served. A minute calls only if `cmc_min_interval_seconds` have passed since the
last call and this month's credits are within the month's pace (`cmc_monthly_credits` x share of the month gone,
plus one); otherwise it writes nothing (`NothingToIngest`). Once a day /v1/key/info (no credits) sets the count
from CoinMarketCap's own (`usage.current_month.credits_used`) and the month's reset. A call refused because the
day's or the month's allowance is spent (`AllowanceSpent`, 1009/1010) records `paused_until`, the allowance's reset:
no minute calls before it. The call is claimed with a conditional write, so
two invocations cannot both spend it; an older minute than the last one served neither calls nor rewrites.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.contracts import ContractError, iso, to_utc
from pipeline.errors import one_line
from pipeline.sources.base import NothingToIngest, UpstreamError, UpstreamRefused, read_json
from pipeline.sources.budget import month_key, month_span, next_day, over_pace, reconciled, used_this_month
from pipeline.sources.coinmarketcap.fetch import AllowanceSpent
from pipeline.sources.coinmarketcap.rows import CmcPayload
from pipeline.state import StateConflict, StateStore

STATE = "coinmarketcap_api"
log = logging.getLogger(__name__)


def credits_this_month(doc: dict[str, Any] | None, now: datetime) -> int:
    return used_this_month(doc, now, "credits")


def _checked(
    doc: dict[str, Any], minute: datetime, now: datetime, key_info: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The document with this month's credits from /v1/key/info, once a wall-clock day (a document from later
    than this invocation is never rewritten)."""

    def read_count(record: dict[str, Any]) -> int | None:
        try:
            data = key_info()["data"]
            used = int(data["usage"]["current_month"]["credits_used"])
            record["plan_credits"] = int(data["plan"]["credit_limit_monthly"])
            reset = data["plan"].get("credit_limit_monthly_reset_timestamp")
            if isinstance(reset, str) and reset:
                record["monthly_reset"] = reset
        except UpstreamRefused:
            raise
        except (UpstreamError, KeyError, TypeError, ValueError) as exc:
            log.warning("coinmarketcap /v1/key/info not read: %s", one_line(exc))
            return None
        return used

    record = reconciled(doc, minute, now, checked="key_checked", counter="credits", read_count=read_count)
    return doc if record is None else record


def _wait(doc: dict[str, Any], minute: datetime, now: datetime, monthly: int, interval: int) -> str | None:
    """Why this invocation does not call (None: it may)."""
    if doc.get("minute") and minute < to_utc(doc["minute"]):
        return f"minute {iso(minute)} is older than {doc['minute']}, already served: no call"
    if doc.get("paused_until") and now < to_utc(doc["paused_until"]):
        return (
            f"the plan's allowance is spent ({doc.get('paused_for', 'refused')}); no call until {doc['paused_until']}"
        )
    last = to_utc(doc["last_call"]) if doc.get("last_call") else None
    if last is not None and now < last + timedelta(seconds=interval):
        return f"the last call was at {iso(last)}; next after {iso(last + timedelta(seconds=interval))}"
    return over_pace(credits_this_month(doc, now), monthly, now, "credits")


def resets_at(period: str, doc: dict[str, Any], now: datetime) -> datetime:
    """When a spent allowance comes back: the next 00:00 UTC for the day's; for the month's, the plan's reset
    (from /v1/key/info) when it is later than now, else the 1st of next month, 00:00 UTC."""
    if period == "day":
        return next_day(now)
    with contextlib.suppress(KeyError, TypeError, ValueError, ContractError):
        reset = to_utc(doc["monthly_reset"])
        if reset > now:
            return reset
    return month_span(now)[1]


def guarded_call(
    state: StateStore,
    minute: datetime,
    now: datetime,
    *,
    monthly_credits: int,
    min_interval: int,
    listing: Callable[[], CmcPayload],
    key_info: Callable[[], dict[str, Any]],
) -> CmcPayload:
    """The listing for `minute` if the plan's credits allow a call at wall-clock `now`, else `NothingToIngest`."""
    current = state.read(STATE)
    doc = _checked(current.doc or {}, minute, now, key_info)
    reason = _wait(doc, minute, now, monthly_credits, min_interval)
    if reason:
        if doc != (current.doc or {}):
            with contextlib.suppress(StateConflict):
                state.put_if(STATE, doc, current.version)
        raise NothingToIngest(f"coinmarketcap API: {reason}")
    record = {**doc, "month": month_key(now), "credits": credits_this_month(doc, now) + 1, "last_call": iso(now)}
    record["minute"] = iso(minute)
    try:
        version = state.put_if(STATE, record, current.version)
    except StateConflict:
        raise NothingToIngest("coinmarketcap API: another invocation is calling this minute") from None
    try:
        payload = listing()
    except AllowanceSpent as exc:
        until = resets_at(exc.period, record, now)
        record.update(paused_until=iso(until), paused_for=f"the {exc.period}'s, refused at {iso(now)}")
        with contextlib.suppress(StateConflict):
            state.put_if(STATE, record, version)
        raise
    try:
        spent = int(read_json(payload.body)["status"]["credit_count"])
    except (KeyError, TypeError, ValueError):
        spent = 1
    if spent != 1:
        record["credits"] = credits_this_month(doc, now) + spent
        with contextlib.suppress(StateConflict):
            state.put_if(STATE, record, version)
    return payload


@dataclass(frozen=True)
class CreditReport:
    month: str
    credits: int
    monthly_credits: int  # 0 = unlimited
    min_interval_seconds: int
    projected_credits: int  # by the month's end, at one call per interval from now on
    last_call: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def credit_report(state: StateStore, monthly_credits: int, min_interval: int, now: datetime) -> CreditReport:
    """The API plan's budget, for the demo and the notebooks."""
    now = to_utc(now)
    doc = state.get(STATE) or {}
    used = credits_this_month(doc, now)
    _, end = month_span(now)
    projected = used + math.ceil((end - now).total_seconds() / max(60, min_interval))
    return CreditReport(month_key(now), used, monthly_credits, min_interval, projected, doc.get("last_call"))
