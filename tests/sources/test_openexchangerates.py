"""openexchangerates: rows per currency, error bodies, and the quota guard (no network)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from pipeline import registry
from pipeline.contracts import iso
from pipeline.errors import TerminalError, TransientError, kind_of
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, PayloadError, UpstreamError, UpstreamFailure, UpstreamRefused, parse_file
from pipeline.sources import openexchangerates as oxr
from pipeline.state import MemoryState

FIXTURES = Path(__file__).parent / "fixtures" / "openexchangerates"
MARCH = datetime(2025, 3, 1, tzinfo=UTC)
HOURLY = {"refresh_seconds": 3600, "monthly_quota": 1000}


def test_one_row_per_currency_with_the_upstream_timestamp():
    rows = csv_to_rows(
        "openexchangerates",
        rows_to_csv("openexchangerates", parse_file("openexchangerates", FIXTURES / "latest_small.json")),
    )
    assert list(rows[0]) == list(registry.get("openexchangerates").raw_columns)
    assert [(r["base"], r["currency"], r["rate"]) for r in rows] == [
        ("USD", "EUR", "0.857649"), ("USD", "GBP", "0.73184"), ("USD", "JPY", "145.244005"), ("USD", "USD", "1.0"),
    ]  # fmt: skip
    assert {r["rate_ts"] for r in rows} == {"2025-06-25T21:00:00Z"}
    assert {r["status"] for r in rows} == {"success"}


def test_an_error_body_names_its_message_and_status():
    with pytest.raises(PayloadError) as caught:
        parse_file("openexchangerates", FIXTURES / "error_401_invalid_app_id.json")
    assert "invalid_app_id (HTTP 401)" in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture
def clock(monkeypatch):
    """The wall clock of live decisions, set by the test: `clock.now = ...`."""

    class Clock:
        now = MARCH

    value = Clock()
    monkeypatch.setattr(oxr.SOURCE, "clock", lambda: value.now)
    return value


def _usage(requests_made: int, quota: int = 1000) -> dict:
    usage = {"requests": requests_made, "requests_quota": quota, "requests_remaining": quota - requests_made,
             "days_elapsed": 10, "days_remaining": 21, "daily_average": requests_made // 10}  # fmt: skip
    return {"status": 200, "data": {"app_id": "x", "status": "active", "plan": {"name": "Free"}, "usage": usage}}


def _latest_calls() -> int:
    return sum(1 for c in responses.calls if (c.request.url or "").startswith(oxr.LATEST_URL))


@responses.activate
def test_live_error_names_the_message_never_the_app_id(clock):
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(
        oxr.LATEST_URL,
        status=429,
        json={"error": True, "status": 429, "message": "not_allowed", "description": "Too many requests."},
    )
    with pytest.raises(UpstreamError) as caught:
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id="secret-app-id-123"), MARCH, MemoryState())
    assert str(caught.value) == "openexchangerates error not_allowed (HTTP 429): Too many requests."
    assert kind_of(caught.value) == "transient"  # a rate limit: a later try may pass
    assert "secret-app-id-123" not in str(caught.value)
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Token secret-app-id-123"  # the header the API documents
        assert "secret-app-id-123" not in (call.request.url or "")  # never in a URL that logs and proxies keep


@responses.activate
@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "missing_app_id"), (401, "invalid_app_id"), (403, "not_allowed"), (403, "access_restricted")],
)
def test_an_app_id_or_plan_error_is_terminal_logged_as_an_alarm_and_not_retried(clock, caplog, status, message):
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(oxr.LATEST_URL, status=status, json={"error": True, "status": status, "message": message})
    settings, state = Settings(mode="live", oxr_app_id="x"), MemoryState()
    with pytest.raises(UpstreamRefused, match=rf"error {message} \(HTTP {status}\); not retried") as caught:
        oxr.SOURCE.fetch(settings, MARCH, state)
    assert kind_of(caught.value) == "terminal"
    assert any(r.levelname == "ERROR" and "ALARM" in r.getMessage() for r in caplog.records)
    assert oxr.quota_report(state, settings, MARCH).calls == 1  # a failed request still counts against the quota
    clock.now = MARCH + timedelta(minutes=1)
    with pytest.raises(NothingToIngest):
        oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=1), state)
    assert _latest_calls() == 1


@responses.activate
def test_before_the_first_rates_a_failing_service_is_retried_after_a_pause_not_every_minute(clock):
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(oxr.LATEST_URL, status=401, json={"error": True, "status": 401, "message": "invalid_app_id"})
    settings, state, ten = Settings(mode="live", oxr_app_id="x"), MemoryState(), MARCH.replace(day=10)
    clock.now = ten
    with pytest.raises(UpstreamRefused, match="invalid_app_id"):
        oxr.SOURCE.fetch(settings, ten, state)

    waiting = r"no rates yet: the call at 2025-03-10T00:00:00Z brought no rates; next try at 2025-03-10T00:05:00Z"
    clock.now = ten + timedelta(minutes=1)
    with pytest.raises(NothingToIngest, match=waiting):
        oxr.SOURCE.fetch(settings, ten + timedelta(minutes=1), state)
    assert _latest_calls() == 1  # the skipped minute asked nothing

    clock.now = ten + timedelta(minutes=5)
    with pytest.raises(UpstreamRefused, match="invalid_app_id"):
        oxr.SOURCE.fetch(settings, ten + timedelta(minutes=5), state)  # retry = refresh / 12
    assert _latest_calls() == 2
    assert oxr.quota_report(state, settings, ten + timedelta(minutes=5)).calls == 2


def test_no_app_id_is_a_clear_error():
    with pytest.raises(UpstreamRefused, match="PIPELINE_OXR_APP_ID"):
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id=None, oxr_app_id_secret_arn=None), MARCH, MemoryState())


@responses.activate
def test_the_decision_is_made_on_the_wall_clock_not_the_scheduled_minute(clock):
    """`pipeline ingest --at` an hour-old minute: the wall clock says the rates were fetched a minute ago."""
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(oxr.LATEST_URL, json={"timestamp": int(MARCH.timestamp()), "base": "USD", "rates": {"EUR": 0.9}})
    settings, state = Settings(mode="live", oxr_app_id="x"), MemoryState()
    clock.now = MARCH + timedelta(minutes=1)
    oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=1), state)
    clock.now = MARCH + timedelta(minutes=2)
    with pytest.raises(NothingToIngest):  # scheduled two hours later, but it is 00:02 by the clock
        oxr.SOURCE.fetch(settings, MARCH + timedelta(hours=2), state)
    assert _latest_calls() == 1


@responses.activate
def test_usage_json_reconciles_the_count_once_a_day(clock):
    responses.get(oxr.USAGE_URL, json=_usage(200))
    responses.get(oxr.LATEST_URL, json={"timestamp": int(MARCH.timestamp()), "base": "USD", "rates": {"EUR": 0.9}})
    settings, state = Settings(mode="live", oxr_app_id="x"), MemoryState()
    ten = MARCH.replace(day=10)
    clock.now = ten
    oxr.SOURCE.fetch(settings, ten, state)
    assert oxr.quota_report(state, settings, ten).calls == 201  # the service's 200 (other clients too), then this
    for minute in range(1, 4):
        clock.now = ten + timedelta(minutes=minute)
        with pytest.raises(NothingToIngest):
            oxr.SOURCE.fetch(settings, ten + timedelta(minutes=minute), state)
    usage_calls = [c for c in responses.calls if (c.request.url or "").startswith(oxr.USAGE_URL)]
    assert len(usage_calls) == 1 and state.get(oxr.QUOTA_STATE)["usage"]["requests"] == 200


@responses.activate
def test_a_live_answer_naming_a_currency_twice_caches_and_serves_it_as_ambiguous_never_as_the_last_rate(clock):
    """The cached body goes through the state document (JSON) and is served again on a retry of the minute: the
    ambiguous rate stays ambiguous there too, and the other currencies are rates."""
    text = f'{{"timestamp": {int(MARCH.timestamp())}, "base": "USD", "rates": {{"EUR": 0.9, "GBP": 0.8, "EUR": 0.95}}}}'
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(oxr.LATEST_URL, body=text, content_type="application/json")
    settings, state = Settings(mode="live", oxr_app_id="x"), MemoryState()
    clock.now = MARCH + timedelta(minutes=1)

    for _ in range(2):  # the call, then the retry of the same minute served from the state document
        body = oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=1), state)
        rows = oxr.SOURCE.parse(body, scheduled_at=MARCH + timedelta(minutes=1), ingested_at=clock.now)
        assert [(r["currency"], r["status"], r["rate"]) for r in rows] == [("EUR", "error", None),
                                                                           ("GBP", "success", 0.8)]  # fmt: skip
        assert rows[0]["error"].startswith("rate of EUR is given 2 times with different values (0.9, 0.95)")
    assert _latest_calls() == 1


# ---------------------------------------------------------------------------------------------------- the guard


def _doc(rates_at: datetime, last_call: datetime, calls: int = 1) -> dict:
    return {
        "payload": {"timestamp": int(rates_at.timestamp()), "rates": {"EUR": 0.9}},
        "timestamp": int(rates_at.timestamp()),
        "last_call": last_call.isoformat(),
        "month": f"{last_call:%Y-%m}",
        "calls": calls,
    }


@responses.activate
@pytest.mark.parametrize(
    "body", [{"timestamp": "soon", "rates": {"EUR": 0.9}}, {"timestamp": 1750885200}, ["not", "an", "object"]]
)
def test_a_malformed_answer_is_counted_and_never_replaces_the_cached_rates(clock, body):
    responses.get(oxr.USAGE_URL, json=_usage(0))
    responses.get(oxr.LATEST_URL, status=200, json=body)
    state = MemoryState()
    state.put(oxr.QUOTA_STATE, _doc(MARCH - timedelta(hours=2), MARCH - timedelta(hours=2)))
    cached = state.get(oxr.QUOTA_STATE)["payload"]
    settings = Settings(mode="live", oxr_app_id="x")
    with pytest.raises(PayloadError, match=r"^openexchangerates body has no"):
        oxr.SOURCE.fetch(settings, MARCH, state)
    assert oxr.quota_report(state, settings, MARCH).calls == 1
    # the next minute waits before asking again; the rates cached before stay, already written
    clock.now = MARCH + timedelta(minutes=1)
    with pytest.raises(NothingToIngest, match="no newer rates"):
        oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=1), state)
    assert state.get(oxr.QUOTA_STATE)["payload"] == cached and _latest_calls() == 1


def test_decide_calls_only_when_the_rates_can_have_changed():
    ten = MARCH.replace(day=10, hour=10)
    assert oxr.decide(None, ten, **HOURLY).call
    doc = _doc(ten, ten + timedelta(minutes=5))
    assert not oxr.decide(doc, ten + timedelta(minutes=59), **HOURLY).call
    assert oxr.decide(doc, ten + timedelta(minutes=60), **HOURLY).call
    # a call at 11:00 that found the 10:00 rates again: wait 5 minutes before asking again
    stale = _doc(ten, ten + timedelta(hours=1))
    decision = oxr.decide(stale, ten + timedelta(minutes=62), **HOURLY)
    assert not decision.call and "next try at 2025-03-10T11:05:00Z" in decision.reason
    assert oxr.decide(stale, ten + timedelta(minutes=65), **HOURLY).call
    # the month's pace: at 12:00 on the 10th (9.5 of 31 days) it allows 1 + 306 of the 1,000 calls
    assert not oxr.decide(_doc(ten, ten, calls=307), ten + timedelta(hours=2), **HOURLY).call
    assert oxr.decide(_doc(ten, ten, calls=306), ten + timedelta(hours=2), **HOURLY).call
    assert oxr.decide(_doc(ten, ten, calls=250), ten + timedelta(hours=2), **HOURLY).call
    # a state from later than now (a clock that went back) never makes the guard call
    decision = oxr.decide(_doc(ten, ten), ten - timedelta(days=1), **HOURLY)
    assert not decision.call and "never backwards" in decision.reason


def _run(settings: Settings, state: MemoryState, minutes: range, start: datetime = MARCH) -> list[int | None]:
    """The rates timestamp each scheduled minute served (None: skipped, no raw object)."""
    out: list[int | None] = []
    for minute in minutes:
        try:
            out.append(oxr.SOURCE.fetch(settings, start + timedelta(minutes=minute), state)["timestamp"])
        except NothingToIngest:
            out.append(None)
    return out


def test_a_minute_schedule_calls_the_simulated_service_once_an_hour_and_skips_the_minutes_between():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    stamps = _run(settings, state, range(180), MARCH + timedelta(hours=9))
    assert oxr.quota_report(state, settings, MARCH + timedelta(hours=12)).calls == 3
    # only the minute that fetched new rates has something to write
    assert [i for i, s in enumerate(stamps) if s is not None] == [0, 60, 120]


@pytest.mark.parametrize(("refresh", "most"), [(3600, 744), (60, 1000)])
def test_a_month_of_minutes_stays_within_the_quota(refresh, most):
    settings = Settings(mode="simulated", seed=3, oxr_refresh_seconds=refresh, oxr_monthly_quota=1000)
    state = MemoryState()
    written = sum(s is not None for s in _run(settings, state, range(31 * 24 * 60)))
    report = oxr.quota_report(state, settings, MARCH + timedelta(days=30, hours=23, minutes=59))
    assert report.calls == most and written == most  # one raw object per call that found new rates
    assert report.as_dict()["quota"] == 1000 and report.month == "2025-03"


def test_quota_report_projects_the_month_at_the_current_refresh():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    _run(settings, state, range(120))
    report = oxr.quota_report(state, settings, MARCH + timedelta(hours=2))
    assert (report.calls, report.quota, report.refresh_seconds) == (2, 1000, 3600)
    assert report.projected_calls == 2 + 31 * 24 - 2  # one call an hour for the rest of March
    assert report.rates_timestamp == "2025-03-01T01:00:00Z" and report.next_call_after == "2025-03-01T02:00:00Z"


def test_an_older_minute_after_a_newer_one_makes_no_call_and_leaves_the_state():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    eleven = MARCH.replace(day=10, hour=11)
    oxr.SOURCE.fetch(settings, eleven, state)
    before = state.read(oxr.QUOTA_STATE)
    with pytest.raises(NothingToIngest, match="is older than 2025-03-10T11:00:00Z"):
        oxr.SOURCE.fetch(settings, eleven - timedelta(hours=3), state)  # a late retry of 08:00
    assert state.read(oxr.QUOTA_STATE) == before  # not rewritten: same document, same version
    assert oxr.SOURCE.fetch(settings, eleven, state) == before.doc["payload"]  # a retry of 11:00 serves it again


def test_a_retried_last_minute_of_a_month_keeps_the_next_months_counter():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    april = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
    state.put(oxr.QUOTA_STATE, {**_doc(april, april, calls=700), "minute": iso(april), "served_minute": iso(april),
                                "usage_checked": "2025-04-01"})  # fmt: skip
    with pytest.raises(NothingToIngest):
        oxr.SOURCE.fetch(settings, datetime(2025, 3, 31, 23, 59, tzinfo=UTC), state)  # Lambda's retry of 23:59
    doc = state.get(oxr.QUOTA_STATE)
    assert (doc["month"], doc["calls"]) == ("2025-04", 700)


def test_two_concurrent_invocations_spend_one_call():
    state, calls, barrier = MemoryState(), [], threading.Barrier(2)
    ten = MARCH.replace(day=10, hour=10)

    def call() -> dict:
        calls.append(1)
        time.sleep(0.2)  # the other invocation decides while this call is under way
        return {"timestamp": int(ten.timestamp()), "base": "USD", "rates": {"EUR": 0.9}}

    def invoke() -> str:
        barrier.wait()
        try:
            oxr.guarded_fetch(state, ten, now=ten, call=call, **HOURLY)
            return "wrote"
        except NothingToIngest:
            return "skipped"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: invoke(), range(2)))
    assert len(calls) == 1 and state.get(oxr.QUOTA_STATE)["calls"] == 1
    # the other one skipped, or (a slow start) came after the call and served its rates for the same minute key
    assert outcomes in (["skipped", "wrote"], ["wrote", "wrote"])


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [("missing_app_id", UpstreamRefused, 401), ("invalid_app_id", UpstreamRefused, 401),
     ("not_allowed", UpstreamRefused, 403), ("access_restricted", UpstreamRefused, 403),
     ("rate_limited", UpstreamError, 429)],
)  # fmt: skip
def test_the_simulated_service_answers_each_documented_error(fault, error, status):
    settings = Settings(mode="simulated", seed=3, oxr_simulated_fault=fault)
    with pytest.raises(error, match=rf"\(HTTP {status}\)") as caught:
        oxr.SOURCE.fetch(settings, MARCH, MemoryState())
    assert kind_of(caught.value) == ("transient" if status == 429 else "terminal")
    # one kind per class: a handler catching the transient kind to retry never catches a refusal, and the reverse
    kind, other = (TransientError, TerminalError) if status == 429 else (TerminalError, TransientError)
    assert isinstance(caught.value, kind) and not isinstance(caught.value, other)
    assert isinstance(caught.value, UpstreamFailure)


def test_the_simulated_service_serves_usage_json():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    _run(settings, state, range(61))
    usage = oxr.SimulatedService(3, MARCH + timedelta(hours=1), state=state).usage()["data"]["usage"]
    assert (usage["requests"], usage["requests_quota"], usage["requests_remaining"]) == (2, 1000, 998)


def test_simulated_service_is_deterministic_and_moves_slowly():
    a = oxr.simulate(5, MARCH.replace(hour=12))
    assert a == oxr.simulate(5, MARCH.replace(hour=12)) and a != oxr.simulate(6, MARCH.replace(hour=12))
    later = oxr.simulate(5, MARCH.replace(hour=13))
    assert later["timestamp"] - a["timestamp"] == 3600
    assert abs(later["rates"]["EUR"] / a["rates"]["EUR"] - 1) < 0.01
    assert a["rates"]["USD"] == 1.0 and abs(a["rates"]["HKD"] / 7.85 - 1) < 0.02


def test_on_s3_the_state_is_written_conditionally_so_two_invocations_spend_one_call():
    import boto3
    from moto import mock_aws

    from pipeline.state import S3State, StateConflict

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="state-bucket")
        store = S3State(s3, "state-bucket")
        first = store.read("doc")
        version = store.put_if("doc", {"n": 1}, first.version)  # If-None-Match: *
        with pytest.raises(StateConflict):
            store.put_if("doc", {"n": 2}, first.version)  # it exists now
        store.put_if("doc", {"n": 3}, version)  # If-Match: the ETag read
        with pytest.raises(StateConflict):
            store.put_if("doc", {"n": 4}, version)  # written since
        assert store.get("doc") == {"n": 3}

        calls, barrier, ten = [], threading.Barrier(2), MARCH.replace(day=10, hour=10)

        def call() -> dict:
            calls.append(1)
            time.sleep(0.3)
            return {"timestamp": int(ten.timestamp()), "base": "USD", "rates": {"EUR": 0.9}}

        def invoke() -> str:
            barrier.wait()
            try:
                oxr.guarded_fetch(store, ten, now=ten, call=call, **HOURLY)
                return "wrote"
            except NothingToIngest:
                return "skipped"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(lambda _: invoke(), range(2)))
        assert len(calls) == 1 and store.get(oxr.QUOTA_STATE)["calls"] == 1
        assert outcomes in (["skipped", "wrote"], ["wrote", "wrote"])


def test_the_simulated_rates_share_a_dollar_factor_as_real_currencies_do():
    import numpy as np

    from pipeline.sources import simulator

    day = MARCH.replace(day=12)
    rates = [simulator.fx_rates(7, day + timedelta(minutes=m)) for m in range(24 * 60)]

    def returns(code: str) -> np.ndarray:
        return np.diff(np.log([r[code] for r in rates]))

    eurusd, usdchf = -returns("EUR"), returns("CHF")  # EURUSD is the inverse of USD/EUR
    assert np.corrcoef(eurusd, usdchf)[0, 1] < -0.8  # about -0.9 in the market
    majors = ["EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "SEK", "NOK"]
    matrix = np.corrcoef([returns(c) for c in majors])
    mean = matrix[np.triu_indices(len(majors), 1)].mean()
    assert 0.4 < mean < 0.8  # USD/XXX majors move together, not independently (+0.04 before)
