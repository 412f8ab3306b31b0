"""openexchangerates: the latest US-dollar exchange rates from Open Exchange Rates, without burning the quota.

Payload (what `fetch` returns and `parse` reads): the JSON body of GET https://openexchangerates.org/api/latest.json
as a dict: `{"disclaimer", "license", "timestamp" (epoch s of the rates), "base": "USD", "rates": {code: rate}}`.
An error body `{"error": true, "status", "message", "description"}` raises `UpstreamError` naming `message` and
the HTTP status (never the app id, which comes from `PIPELINE_OXR_APP_ID` or its secret ARN).
Raw rows: one per currency: base, currency, rate, rate_ts (the upstream `timestamp`). A rate that cannot be read
(null, a string, true, 0 or below, 1e400, an object) is an error row for its currency naming the rate, never a
value; a body whose `timestamp` lies after the fetch (beyond `MAX_CLOCK_SKEW`) is refused whole (`parse_body`).

Error bodies are classified: 401 (`missing_app_id`, `invalid_app_id`) and 403 (`not_allowed`,
`access_restricted`: the plan does not allow it, or its quota is spent) raise `UpstreamRefused` (terminal, never
retried, logged as an error worth an alarm); 429 and the rest raise `UpstreamError` (transient).

Quota guard. The free plan allows 1,000 requests a month and refreshes its rates hourly; the pipeline runs every
minute. The source keeps one state document (`StateStore`, name `QUOTA_STATE`: `state/openexchangerates.json`
in the bucket) holding the last body, its upstream `timestamp`, the time of the last call, the month and the
calls made in it, and the minute whose raw object last carried the rates. The decision is made on the wall
clock (`now`: the time of the invocation in live mode; the scheduled minute is the simulated world's clock),
never on the scheduled minute, and the document never moves backwards:

0. a scheduled minute older than the one the document was last written for (Lambda's retry of an asynchronous
   invocation, `pipeline ingest --at`) neither calls nor rewrites it: `NothingToIngest`; a retry of the minute
   that wrote the rates serves them again (same key, same rows);
1. `now < timestamp + oxr_refresh_seconds`: the upstream rates cannot have changed;
2. `now < last_call + retry` (retry = refresh/12, at least a minute): the last call found no newer rates
   (the service publishes a little after the hour), or failed: wait before asking again;
3. `oxr_monthly_quota` > 0 and the calls this month (by the wall clock's month) have reached the month's pace
   (quota x share of the month gone, plus one): wait, so the budget lasts the whole month;
4. otherwise call: the call is claimed in the document first with a conditional write (S3 `If-Match` /
   `If-None-Match`), so of two concurrent invocations only one calls; the other reads the claim and waits.

A minute that does not call (or whose call found the rates already written) writes no raw object and publishes
nothing: it raises `NothingToIngest`, which the ingest reports as skipped, and `verify` counts such minutes as
skipped, not missing. So an hourly plan writes one raw object an hour, not sixty. Once a day (by the wall clock)
`usage.json`, which costs no quota, reconciles the document's count with the service's own.
`quota_report()` shows the budget (calls this month, quota, projected calls at the current refresh) for the demo
and the notebooks.

Simulated: a simulated service whose `timestamp` advances every minute (like a paid plan) with slowly moving
rates from `pipeline.sources.simulator`; the guard runs in simulated mode too, so at the default 3600 s refresh
the simulated service is also called once an hour. `PIPELINE_OXR_SIMULATED_FAULT` makes it answer one of the
documented errors (`missing_app_id`, `invalid_app_id`, `not_allowed`, `access_restricted`, `rate_limited`); its
`usage.json` reports the calls the state document counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pipeline.constants import SourceId
from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, floor_minute, iso, to_utc
from pipeline.errors import PipelineError, one_line
from pipeline.schemas import EARLIEST, LATEST
from pipeline.settings import Settings
from pipeline.sources.base import (
    NothingToIngest,
    PayloadError,
    RawRow,
    UpstreamError,
    UpstreamFailure,
    UpstreamRefused,
    after_fetch,
    fetch_time,
    read_json,
    refused_by_model,
)
from pipeline.sources.budget import month_key, month_span, over_pace, reconciled, used_this_month
from pipeline.sources.numbers import NotANumber, json_number, shown
from pipeline.state import MemoryState, StateConflict, StateStore

LATEST_URL = "https://openexchangerates.org/api/latest.json"
USAGE_URL = "https://openexchangerates.org/api/usage.json"
HISTORICAL_URL = "https://openexchangerates.org/api/historical/{day}.json"  # a day's end-of-day rates (one request)
TIMEOUT = (5, 20)
QUOTA_STATE = "openexchangerates"
DISCLAIMER = "Usage subject to terms: https://openexchangerates.org/terms"
LICENSE = "https://openexchangerates.org/license"

log = logging.getLogger(__name__)

# Used when no StateStore is handed in: the guard still holds within one warm process.
_PROCESS_STATE = MemoryState()


# ---------------------------------------------------------------------------------------------------- the guard


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


# ---------------------------------------------------------------------------------------------------- upstream

# Error messages the service documents that no retry can fix: the app id, or what the plan allows.
REFUSED = {"missing_app_id", "invalid_app_id", "not_allowed", "access_restricted", "invalid_base"}
FAULTS: dict[str, tuple[int, str, str]] = {
    "missing_app_id": (401, "missing_app_id", "No App ID provided. Please sign up at https://openexchangerates.org."),
    "invalid_app_id": (401, "invalid_app_id", "Invalid App ID provided. Please sign up or check your App ID."),
    "not_allowed": (403, "not_allowed", "Changing the API `base` currency is not available on this plan."),
    "access_restricted": (403, "access_restricted", "Access restricted for repeated over-use (status: 429)."),
    "rate_limited": (429, "not_allowed", "Too many requests from this App ID; slow down."),
}


def _error_message(body: Any, status: int | None) -> str | None:
    if isinstance(body, dict) and body.get("error"):
        code = body.get("status", status)
        description = " ".join(str(body.get("description") or "").split())
        return f"openexchangerates error {body.get('message') or 'unknown'} (HTTP {code})" + (
            f": {description}" if description else ""
        )
    return None


def upstream_error(body: Any, status: int | None, *, alarm: bool = False) -> UpstreamFailure | None:
    """The error an answer stands for (None when it is a good answer): a key or plan error is `UpstreamRefused`
    (terminal, logged as an alarm), a rate limit or server error `UpstreamError` (transient)."""
    message = _error_message(body, status)
    if message is None:
        return UpstreamError(f"openexchangerates answered HTTP {status}") if status not in (None, 200) else None
    code = body.get("status", status) if isinstance(body, dict) else status
    if str(body.get("message")) in REFUSED and code in (400, 401, 403, "400", "401", "403"):
        if alarm:  # a live (or simulated) answer, not a saved file being parsed
            log.error("ALARM openexchangerates refused the app id or plan (not retried): %s", message)
        return UpstreamRefused(f"{message}; not retried: check PIPELINE_OXR_APP_ID and the plan")
    return UpstreamError(message)


def _get(url: str, app_id: str) -> dict[str, Any]:
    """One GET of an API document.

    The app id travels in the `Authorization: Token` header the API accepts, never in the URL, so no access log,
    proxy or debug line of the HTTP client can record it; nor does it go into any message.
    """
    import requests

    try:
        response = requests.get(url, headers={"Authorization": f"Token {app_id}"}, timeout=TIMEOUT)
    except requests.RequestException as exc:  # only its type: nothing of the request goes into the message
        raise UpstreamError(f"openexchangerates unreachable: {type(exc).__name__}") from None
    try:
        body = read_json(response.text)
    except ValueError:
        raise UpstreamError(
            f"openexchangerates answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
    error = upstream_error(body, response.status_code, alarm=True)
    if error is not None:
        raise error
    return body  # type: ignore[no-any-return]


def call_latest(app_id: str) -> dict[str, Any]:
    """One GET of latest.json (one request of the plan's quota)."""
    return _get(LATEST_URL, app_id)


def call_historical(app_id: str, day: date) -> dict[str, Any]:
    """One GET of historical/YYYY-MM-DD.json: the day's end-of-day rates, in latest.json's form (one request of
    the plan's quota; the free plan allows it)."""
    return _get(HISTORICAL_URL.format(day=day.isoformat()), app_id)


def simulate_historical(seed: int, day: date) -> dict[str, Any]:
    """The simulated service's historical answer: the rates of the day's last minute (UTC)."""
    return simulate(seed, datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC))


def call_usage(app_id: str) -> dict[str, Any]:
    """One GET of usage.json (costs no quota): `{"status": 200, "data": {"plan": {...}, "usage": {"requests",
    "requests_quota", "requests_remaining", "days_elapsed", "days_remaining", "daily_average"}}}`."""
    return _get(USAGE_URL, app_id)


def simulate(seed: int, at: datetime) -> dict[str, Any]:
    """The simulated service's answer at a minute: its `timestamp` advances every minute, like a paid plan."""
    from pipeline.sources import simulator

    at = floor_minute(at)
    rates = simulator.fx_rates(seed, at)
    return {
        "disclaimer": DISCLAIMER, "license": LICENSE, "timestamp": int(at.timestamp()), "base": "USD",
        "rates": dict(sorted(rates.items())),
    }  # fmt: skip


class Service(Protocol):
    def latest(self) -> dict[str, Any]: ...

    def usage(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LiveService:
    app_id: str

    def latest(self) -> dict[str, Any]:
        return call_latest(self.app_id)

    def usage(self) -> dict[str, Any]:
        return call_usage(self.app_id)


@dataclass(frozen=True)
class SimulatedService:
    """The twin: rates of the minute `now`; a fault answers its documented error body through the same checks."""

    seed: int
    now: datetime
    fault: str = ""
    state: StateStore | None = None
    quota: int = 1000

    def _answer(self, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        if self.fault in FAULTS:
            status, message, description = FAULTS[self.fault]
            body = {"error": True, "status": status, "message": message, "description": description}
        error = upstream_error(body, status, alarm=True)
        if error is not None:
            raise error
        return body

    def latest(self) -> dict[str, Any]:
        return self._answer(simulate(self.seed, self.now))

    def usage(self) -> dict[str, Any]:
        doc = self.state.get(QUOTA_STATE) if self.state is not None else None
        used = calls_this_month(doc, self.now)
        start, end = month_span(self.now)
        elapsed = (self.now - start).days + 1
        usage = {
            "requests": used, "requests_quota": self.quota, "requests_remaining": max(0, self.quota - used),
            "days_elapsed": elapsed, "days_remaining": (end - self.now).days, "daily_average": used // elapsed,
        }  # fmt: skip
        plan = {"name": "Free", "quota": f"{self.quota} requests / month", "update_frequency": "3600s"}
        return self._answer({"status": 200, "data": {"app_id": "simulated", "status": "active", "plan": plan,
                                                     "usage": usage}})  # fmt: skip


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


# ---------------------------------------------------------------------------------------------------- parse


def rates_time(body: Any) -> datetime:
    """The time of a latest.json body's rates; an error body, or one without rates or a timestamp, raises."""
    if _error_message(body, None):
        raise upstream_error(body, None) or UpstreamError("openexchangerates error body")
    if not isinstance(body, dict) or not isinstance(body.get("rates"), dict) or not body["rates"]:
        raise PayloadError("openexchangerates body has no 'rates' object: not a latest.json answer")
    stamp = body.get("timestamp")
    seconds = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
    if isinstance(stamp, float) and math.isfinite(stamp) and stamp.is_integer():
        seconds = int(stamp)
    if seconds is None:
        raise PayloadError(
            f"openexchangerates body has no usable 'timestamp' (whole epoch seconds): {shown(stamp)}"
        )  # fractional seconds would be truncated: not a time this API writes
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None or not EARLIEST <= when < LATEST:
        raise PayloadError(
            f"openexchangerates body's 'timestamp' {shown(stamp)} is not a time of rates "
            f"(years {EARLIEST.year}..{LATEST.year - 1})"
        )
    return when


_CURRENCY = re.compile(r"[A-Z]{3,8}")  # ISO 4217 codes, and the few longer ones the Rate row allows


def rate_problem(currency: Any, rate: Any) -> str | None:
    """Why one currency's rate cannot be stored (None when it can): the code is not a currency code, or the rate
    is missing, not a finite number (true, "abc", an object, 1e400) or not above 0."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        return f"{shown(currency)} is not a currency code"
    try:
        value = json_number(rate, f"rate of {currency}")
    except NotANumber as exc:
        return str(exc)
    return None if value > 0 else f"rate of {currency} is {shown(rate)}, not above 0"


def parse_body(body: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    """One row per currency. A rate that cannot be read is an error row for that currency, naming the rate; the
    others stay success rows. The body as a whole is refused (`PayloadError`) when it cannot be read at all (no
    rates object, no timestamp, a base that is not a currency) or when its own `timestamp` lies after the fetch
    (`fetch_time`) by more than `MAX_CLOCK_SKEW`: every rate in it carries that time."""
    rates_at = rates_time(body)
    late = after_fetch(rates_at, fetch_time(scheduled_at, ingested_at), "timestamp")
    if late:
        raise PayloadError(f"openexchangerates body refused: its {late}")
    rate_ts = iso(rates_at)
    base = body.get("base")  # the currency every rate is quoted against: never assumed
    if "base" not in body:
        raise PayloadError("openexchangerates body has no 'base': the rates' currency is unknown")
    if not isinstance(base, str) or not _CURRENCY.fullmatch(base):
        raise PayloadError(f"openexchangerates body: base {shown(base, 40)} is not a currency code")
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    rows = []
    for currency, rate in sorted(body["rates"].items()):
        problem = rate_problem(currency, rate)
        code = "".join(ch for ch in str(currency) if ch.isprintable())[:16]
        rows.append(
            {
                "base": base, "currency": code, "rate": None if problem else float(rate), "rate_ts": rate_ts,
                "status": STATUS_ERROR if problem else STATUS_SUCCESS, "error": problem or "", **tail,
            }
        )  # fmt: skip
    return refused_by_model("openexchangerates", rows)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class OpenExchangeRates:
    id: SourceId = "openexchangerates"

    def __init__(self, clock: Callable[[], datetime] = wall_clock) -> None:
        self.clock = clock  # the wall clock of live decisions (tests set their own)

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> dict[str, Any]:
        minute = floor_minute(scheduled_at)
        store = state if state is not None else _PROCESS_STATE
        service: Service
        if settings.mode == "simulated":  # the simulated world's clock is the scheduled minute
            now = minute
            service = SimulatedService(
                settings.seed, now, settings.oxr_simulated_fault, store, settings.oxr_monthly_quota
            )
        else:
            now = to_utc(self.clock())
            app_id = settings.secret(settings.oxr_app_id, settings.oxr_app_id_secret_arn)
            if not app_id:
                raise UpstreamRefused(
                    "openexchangerates: no app id: set PIPELINE_OXR_APP_ID or PIPELINE_OXR_APP_ID_SECRET_ARN"
                )
            service = LiveService(app_id)
        return guarded_fetch(
            store, minute, now=now, refresh_seconds=settings.oxr_refresh_seconds,
            monthly_quota=settings.oxr_monthly_quota, service=service,
        )  # fmt: skip

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        return parse_body(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def saved_at(self, payload: Any) -> datetime | None:
        """The minute of a saved body's own `timestamp` (None for a body without a usable one)."""
        try:
            return rates_time(payload)
        except (PipelineError, AttributeError):
            return None

    def load_payload(self, path: Path) -> dict[str, Any]:
        try:
            body = read_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{path}: cannot read the saved body ({type(exc).__name__})") from exc
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(body, dict):
            raise PayloadError(f"{path}: not a JSON object: not an Open Exchange Rates body")
        return body


SOURCE = OpenExchangeRates()
