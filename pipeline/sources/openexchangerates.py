"""openexchangerates: the latest US-dollar exchange rates from Open Exchange Rates, without burning the quota.

Payload (what `fetch` returns and `parse` reads): the JSON body of GET https://openexchangerates.org/api/latest.json
as a dict: `{"disclaimer", "license", "timestamp" (epoch s of the rates), "base": "USD", "rates": {code: rate}}`.
An error body `{"error": true, "status", "message", "description"}` raises `UpstreamError` naming `message` and
the HTTP status (never the app id, which comes from `PIPELINE_OXR_APP_ID` or its secret ARN).
Raw rows: one per currency: base, currency, rate, rate_ts (the upstream `timestamp`).

Quota guard. The free plan allows 1,000 requests a month and refreshes its rates hourly; the pipeline runs every
minute. The source keeps one state document (`StateStore`, name `QUOTA_STATE`: `state/openexchangerates.json`
in the bucket) holding the last body, its upstream `timestamp`, the time of the last call, the month and the
calls made in it. Each scheduled minute `decide()` chooses, from that document alone (no network):

1. the state is from the future (e.g. another run): call;
2. `now < timestamp + oxr_refresh_seconds`: the upstream rates cannot have changed: reuse the cached body;
3. `now < last_call + retry` (retry = refresh/12, at least a minute): the last call found no newer rates
   (the service publishes a little after the hour), or failed: wait before asking again (with no body cached
   yet, the minute raises `NothingToIngest`: there is nothing to write, and a failing app id does not call
   every minute);
4. `oxr_monthly_quota` > 0 and the calls this month have reached the month's pace (quota x share of the month
   gone, plus one): reuse the cached body, so the budget lasts the whole month;
5. otherwise call, count the call, store the new body.

A reused body repeats the same `rate_ts`, which the SQL Server sink dedupes by its natural key
(base, currency, rate_ts). At the default hourly refresh a month of minutes makes at most ~744 calls; the pace
rule keeps a faster setting (or a late-publishing service) within the quota. `quota_report()` shows the
budget (calls this month, quota, projected calls at the current refresh) for the demo and the notebooks.

Simulated: a simulated service whose `timestamp` advances every minute (like a paid plan) with slowly moving
rates from `pipeline.sources.simulator`; the guard runs in simulated mode too, so at the default 3600 s refresh
the simulated service is also called once an hour.
"""

from __future__ import annotations

import calendar
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import STATUS_SUCCESS, floor_minute, iso, to_utc
from pipeline.settings import Settings
from pipeline.sources.base import NothingToIngest, PayloadError, RawRow, UpstreamError
from pipeline.state import MemoryState, StateStore

LATEST_URL = "https://openexchangerates.org/api/latest.json"
TIMEOUT = (5, 20)
QUOTA_STATE = "openexchangerates"
DISCLAIMER = "Usage subject to terms: https://openexchangerates.org/terms"
LICENSE = "https://openexchangerates.org/license"

# Used when no StateStore is handed in: the guard still holds within one warm process.
_PROCESS_STATE = MemoryState()


# ---------------------------------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class Decision:
    call: bool
    reason: str


def _month(at: datetime) -> str:
    return f"{at:%Y-%m}"


def _month_bounds(at: datetime) -> tuple[datetime, datetime]:
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    days = calendar.monthrange(at.year, at.month)[1]
    return start, start + timedelta(days=days)


def calls_this_month(doc: dict[str, Any] | None, now: datetime) -> int:
    if not doc or doc.get("month") != _month(now):
        return 0
    return int(doc.get("calls", 0))


def retry_seconds(refresh_seconds: int) -> int:
    return max(60, refresh_seconds // 12)


def decide(doc: dict[str, Any] | None, now: datetime, *, refresh_seconds: int, monthly_quota: int) -> Decision:
    """Whether the minute `now` may call the service, from the quota state document alone (see module doc)."""
    now = to_utc(now)
    last_call = to_utc(doc["last_call"]) if doc and doc.get("last_call") else None
    if last_call is not None and last_call > now:
        return Decision(True, "the cached state is from a later time than this minute")
    cached = bool(doc and doc.get("payload") and "timestamp" in doc)
    if cached:
        assert doc is not None
        rates_at = datetime.fromtimestamp(int(doc["timestamp"]), UTC)
        if rates_at > now:
            return Decision(True, "the cached rates are from a later time than this minute")
        due = rates_at + timedelta(seconds=refresh_seconds)
        if now < due:
            return Decision(False, f"rates of {iso(rates_at)} are current until {iso(due)}")
    if last_call is not None and now < last_call + timedelta(seconds=retry_seconds(refresh_seconds)):
        again = last_call + timedelta(seconds=retry_seconds(refresh_seconds))
        found = "found no newer rates" if cached else "brought no rates"
        return Decision(False, f"the call at {iso(last_call)} {found}; next try at {iso(again)}")
    if monthly_quota > 0:
        used = calls_this_month(doc, now)
        start, end = _month_bounds(now)
        allowed = min(monthly_quota, 1 + math.floor(monthly_quota * (now - start) / (end - start)))
        if used >= allowed:
            return Decision(False, f"{used} of {monthly_quota} calls used this month; the pace allows {allowed} by now")
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
    _, end = _month_bounds(now)
    start_from = max(now, next_after) if next_after else now
    remaining = max(0.0, (end - start_from).total_seconds())
    projected = calls + math.ceil(remaining / settings.oxr_refresh_seconds)
    return QuotaReport(
        _month(now), calls, settings.oxr_monthly_quota, settings.oxr_refresh_seconds, projected,
        (doc or {}).get("last_call"), iso(rates_at) if rates_at else None, iso(next_after) if next_after else None,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- upstream


def _error_message(body: Any, status: int | None) -> str | None:
    if isinstance(body, dict) and body.get("error"):
        code = body.get("status", status)
        description = " ".join(str(body.get("description") or "").split())
        return f"openexchangerates error {body.get('message') or 'unknown'} (HTTP {code})" + (
            f": {description}" if description else ""
        )
    return None


def call_latest(app_id: str) -> dict[str, Any]:
    """One GET of latest.json.

    The app id travels in the `Authorization: Token` header the API accepts, never in the URL, so no access log,
    proxy or debug line of the HTTP client can record it; nor does it go into any message.
    """
    import requests

    try:
        response = requests.get(LATEST_URL, headers={"Authorization": f"Token {app_id}"}, timeout=TIMEOUT)
    except requests.RequestException as exc:  # only its type: nothing of the request goes into the message
        raise UpstreamError(f"openexchangerates unreachable: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(
            f"openexchangerates answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
    message = _error_message(body, response.status_code)
    if message or response.status_code != 200:
        raise UpstreamError(message or f"openexchangerates answered HTTP {response.status_code}")
    return body  # type: ignore[no-any-return]


def simulate(seed: int, at: datetime) -> dict[str, Any]:
    """The simulated service's answer at a minute: its `timestamp` advances every minute, like a paid plan."""
    from pipeline.sources import simulator

    at = floor_minute(at)
    rates = simulator.fx_rates(seed, at)
    return {
        "disclaimer": DISCLAIMER, "license": LICENSE, "timestamp": int(at.timestamp()), "base": "USD",
        "rates": dict(sorted(rates.items())),
    }  # fmt: skip


def guarded_fetch(
    state: StateStore, now: datetime, *, refresh_seconds: int, monthly_quota: int, call: Any
) -> dict[str, Any]:
    """The body for minute `now`: the cached one, or a new call (`call()`) when `decide()` allows it."""
    doc = state.get(QUOTA_STATE)
    decision = decide(doc, now, refresh_seconds=refresh_seconds, monthly_quota=monthly_quota)
    if not decision.call:
        if not (doc and doc.get("payload")):  # nothing to serve yet: no raw object this minute
            raise NothingToIngest(f"openexchangerates: no rates yet: {decision.reason}")
        return doc["payload"]  # type: ignore[no-any-return]
    month = _month(now)
    record = dict(doc or {})
    record.update(month=month, calls=calls_this_month(doc, now) + 1, last_call=iso(now))
    if monthly_quota and record["calls"] > monthly_quota and not (doc or {}).get("payload"):
        raise UpstreamError(
            f"openexchangerates: the monthly quota of {monthly_quota} calls is used up and no rates are cached"
        )
    try:
        body = call()
        rates_at = rates_time(body)  # an error or malformed body is counted, never cached
    except Exception:
        state.put(QUOTA_STATE, record)  # a failed request still counts against the quota
        raise
    record.update(payload=body, timestamp=int(rates_at.timestamp()))
    state.put(QUOTA_STATE, record)
    return body


# ---------------------------------------------------------------------------------------------------- parse


def rates_time(body: Any) -> datetime:
    """The time of a latest.json body's rates; an error body, or one without rates or a timestamp, raises."""
    message = _error_message(body, None)
    if message:
        raise UpstreamError(message)
    if not isinstance(body, dict) or not isinstance(body.get("rates"), dict) or not body["rates"]:
        raise PayloadError("openexchangerates body has no 'rates' object: not a latest.json answer")
    try:
        return datetime.fromtimestamp(int(body["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise PayloadError("openexchangerates body has no usable 'timestamp' (epoch seconds)") from None


def parse_body(body: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
    rate_ts = iso(rates_time(body))
    base = str(body.get("base") or "USD")
    tail = {"status": STATUS_SUCCESS, "error": "", "scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    rows = []
    for currency, rate in sorted(body["rates"].items()):
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise PayloadError(f"openexchangerates body: rate of {currency} is {rate!r}, not a positive number")
        rows.append({"base": base, "currency": str(currency), "rate": float(rate), "rate_ts": rate_ts, **tail})
    return rows


class OpenExchangeRates:
    id: SourceId = "openexchangerates"

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> dict[str, Any]:
        now = floor_minute(scheduled_at)
        if settings.mode == "simulated":

            def call() -> dict[str, Any]:
                return simulate(settings.seed, now)
        else:
            app_id = settings.secret(settings.oxr_app_id, settings.oxr_app_id_secret_arn)
            if not app_id:
                raise UpstreamError(
                    "openexchangerates: no app id: set PIPELINE_OXR_APP_ID or PIPELINE_OXR_APP_ID_SECRET_ARN"
                )

            def call() -> dict[str, Any]:
                return call_latest(app_id)

        return guarded_fetch(
            state if state is not None else _PROCESS_STATE, now,
            refresh_seconds=settings.oxr_refresh_seconds, monthly_quota=settings.oxr_monthly_quota, call=call,
        )  # fmt: skip

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        return parse_body(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def load_payload(self, path: Path) -> dict[str, Any]:
        try:
            body = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{path}: cannot read the saved body ({type(exc).__name__})") from exc
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(body, dict):
            raise PayloadError(f"{path}: not a JSON object: not an Open Exchange Rates body")
        return body


SOURCE = OpenExchangeRates()
