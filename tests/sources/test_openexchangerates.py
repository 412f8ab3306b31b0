"""openexchangerates: rows per currency, error bodies, and the quota guard (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from pipeline import registry
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, PayloadError, UpstreamError, parse_file
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


@responses.activate
def test_live_error_names_the_message_never_the_app_id():
    responses.get(
        oxr.LATEST_URL,
        status=429,
        json={"error": True, "status": 429, "message": "not_allowed", "description": "Too many requests."},
    )
    with pytest.raises(UpstreamError) as caught:
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id="secret-app-id-123"), MARCH, MemoryState())
    assert str(caught.value) == "openexchangerates error not_allowed (HTTP 429): Too many requests."
    assert "secret-app-id-123" not in str(caught.value)
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Token secret-app-id-123"  # the header the API documents
    assert "secret-app-id-123" not in (request.url or "")  # never in a URL that logs and proxies keep


@responses.activate
def test_a_failed_call_still_counts_against_the_quota():
    responses.get(oxr.LATEST_URL, status=401, json={"error": True, "status": 401, "message": "invalid_app_id"})
    state = MemoryState()
    with pytest.raises(UpstreamError, match="invalid_app_id"):
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id="x"), MARCH, state)
    assert oxr.quota_report(state, Settings(), MARCH).calls == 1


@responses.activate
def test_before_the_first_rates_a_failing_service_is_retried_after_a_pause_not_every_minute():
    responses.get(oxr.LATEST_URL, status=401, json={"error": True, "status": 401, "message": "invalid_app_id"})
    settings, state, ten = Settings(mode="live", oxr_app_id="x"), MemoryState(), MARCH.replace(day=10)
    with pytest.raises(UpstreamError, match="invalid_app_id"):
        oxr.SOURCE.fetch(settings, ten, state)

    waiting = r"no rates yet: the call at 2025-03-10T00:00:00Z brought no rates; next try at 2025-03-10T00:05:00Z"
    with pytest.raises(NothingToIngest, match=waiting):
        oxr.SOURCE.fetch(settings, ten + timedelta(minutes=1), state)
    assert len(responses.calls) == 1  # the skipped minute asked nothing

    with pytest.raises(UpstreamError, match="invalid_app_id"):
        oxr.SOURCE.fetch(settings, ten + timedelta(minutes=5), state)  # retry = refresh / 12
    assert len(responses.calls) == 2
    assert oxr.quota_report(state, settings, ten + timedelta(minutes=5)).calls == 2


def test_no_app_id_is_a_clear_error():
    with pytest.raises(UpstreamError, match="PIPELINE_OXR_APP_ID"):
        oxr.SOURCE.fetch(Settings(mode="live", oxr_app_id=None, oxr_app_id_secret_arn=None), MARCH, MemoryState())


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
def test_a_malformed_answer_is_counted_and_never_replaces_the_cached_rates(body):
    responses.get(oxr.LATEST_URL, status=200, json=body)
    state = MemoryState()
    state.put(oxr.QUOTA_STATE, _doc(MARCH - timedelta(hours=2), MARCH - timedelta(hours=2)))
    cached = state.get(oxr.QUOTA_STATE)["payload"]
    settings = Settings(mode="live", oxr_app_id="x")
    with pytest.raises(PayloadError, match=r"^openexchangerates body has no"):
        oxr.SOURCE.fetch(settings, MARCH, state)
    assert oxr.quota_report(state, settings, MARCH).calls == 1
    # the next minute waits before asking again, and serves the rates cached before
    assert oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=1), state) == cached
    assert len(responses.calls) == 1


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
    # a cache from a later run (time went backwards) is not trusted
    assert oxr.decide(_doc(ten, ten), ten - timedelta(days=1), **HOURLY).call


def test_a_minute_schedule_calls_the_simulated_service_once_an_hour():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    stamps = []
    for minute in range(180):
        body = oxr.SOURCE.fetch(settings, MARCH + timedelta(hours=9, minutes=minute), state)
        stamps.append(body["timestamp"])
    assert oxr.quota_report(state, settings, MARCH + timedelta(hours=12)).calls == 3
    # minutes in between repeat the same rates (and rate_ts), which the sink dedupes
    assert len(set(stamps)) == 3 and stamps[:60] == [stamps[0]] * 60


@pytest.mark.parametrize(("refresh", "most"), [(3600, 744), (60, 1000)])
def test_a_month_of_minutes_stays_within_the_quota(refresh, most):
    settings = Settings(mode="simulated", seed=3, oxr_refresh_seconds=refresh, oxr_monthly_quota=1000)
    state = MemoryState()
    for minute in range(31 * 24 * 60):
        oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=minute), state)
    report = oxr.quota_report(state, settings, MARCH + timedelta(days=30, hours=23, minutes=59))
    assert report.calls == most
    assert report.as_dict()["quota"] == 1000 and report.month == "2025-03"


def test_quota_report_projects_the_month_at_the_current_refresh():
    settings = Settings(mode="simulated", seed=3)
    state = MemoryState()
    for minute in range(120):
        oxr.SOURCE.fetch(settings, MARCH + timedelta(minutes=minute), state)
    report = oxr.quota_report(state, settings, MARCH + timedelta(hours=2))
    assert (report.calls, report.quota, report.refresh_seconds) == (2, 1000, 3600)
    assert report.projected_calls == 2 + 31 * 24 - 2  # one call an hour for the rest of March
    assert report.rates_timestamp == "2025-03-01T01:00:00Z" and report.next_call_after == "2025-03-01T02:00:00Z"


def test_simulated_service_is_deterministic_and_moves_slowly():
    a = oxr.simulate(5, MARCH.replace(hour=12))
    assert a == oxr.simulate(5, MARCH.replace(hour=12)) and a != oxr.simulate(6, MARCH.replace(hour=12))
    later = oxr.simulate(5, MARCH.replace(hour=13))
    assert later["timestamp"] - a["timestamp"] == 3600
    assert abs(later["rates"]["EUR"] / a["rates"]["EUR"] - 1) < 0.01
    assert a["rates"]["USD"] == 1.0 and abs(a["rates"]["HKD"] / 7.85 - 1) < 0.02
