"""`verify --market` and the soak: the sinks measured against what the market had, not only against raw objects.

GIVEN simulated minutes through the local stack, WHEN units go missing in different ways (a processed object lost
after its raw object was written, a minute never fetched, a holiday), THEN the report counts what existed and what
reached the sink, and lists each gap with its cause.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.runtime.test_status import empty, pipeline
from workbench.cloudformation.topology import LOCAL_CREDENTIALS

pytestmark = pytest.mark.stack

START = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
MINUTES = 30
LAST = START + timedelta(minutes=MINUTES - 1)
UNIVERSE = 5


@pytest.fixture(scope="module")
def ran(local_stack):
    """MINUTES simulated minutes of every source from START on an emptied stack; then a CoinMarketCap processed
    object is deleted (its raw object stays) and another minute loses both its raw and its processed object."""
    empty(local_stack)
    result = pipeline(local_stack, "run", "--minutes", str(MINUTES), "--start", START.isoformat(), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    s3 = boto3.client("s3", endpoint_url=local_stack.aws_endpoint_url, region_name=local_stack.region,
                      aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS)  # fmt: skip
    s3.delete_object(Bucket=local_stack.bucket, Key="processed/coinmarketcap/2026/11/17/1510.parquet")
    s3.delete_object(Bucket=local_stack.bucket, Key="processed/coinmarketcap/2026/11/17/1520.parquet")
    s3.delete_object(Bucket=local_stack.bucket, Key="raw/coinmarketcap/2026/11/17/1520.csv")
    return local_stack


def market(stack, *args: str) -> tuple[int, dict]:
    result = pipeline(stack, "verify", "--market", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout)


def test_every_source_is_measured_against_what_existed(ran):
    code, report = market(ran, "--from", START.isoformat(), "--to", LAST.isoformat())

    assert code == 1  # the lost processed object is also a reconciliation difference
    sources = report["market"]["sources"]
    assert set(sources) == {"yahoo_finance", "coinmarketcap", "openexchangerates"}
    yahoo = sources["yahoo_finance"]
    assert (yahoo["unit"], yahoo["expected"]) == ("bars", UNIVERSE * (MINUTES - 1))  # bars closed by the last minute
    # every bar reached the sink but those still inside the rotation's reach at the window's end
    assert set(yahoo["missing_by_cause"]) <= {"still within the rotation"}
    assert yahoo["reached"] + sum(yahoo["missing_by_cause"].values()) == yahoo["expected"]
    assert yahoo["completeness"] >= 0.8
    # a bar is fetched within the rotation (5 minutes) after it closes
    assert 0 <= yahoo["freshness"]["p50_minutes"] <= yahoo["freshness"]["p95_minutes"] <= 5
    assert "scheduled minute of its first raw object" in yahoo["freshness"]["basis"]

    cmc = sources["coinmarketcap"]
    assert (cmc["unit"], cmc["expected"], cmc["reached"]) == ("snapshots", MINUTES, MINUTES - 2)
    assert {(g["cause"], g["from"], g["units"]) for g in cmc["gaps"]} == {
        ("in a raw object, not in the sink", "2026-11-17T15:10:00Z", 1),
        ("not fetched", "2026-11-17T15:20:00Z", 1),
    }
    assert cmc["completeness"] == pytest.approx((MINUTES - 2) / MINUTES, abs=1e-6)
    assert cmc["freshness"]["p95_minutes"] == 0  # a snapshot reaches its raw object in its own minute

    oxr = sources["openexchangerates"]  # the local plan refreshes every minute: one rate set a minute
    assert (oxr["unit"], oxr["expected"], oxr["reached"]) == ("rate sets", MINUTES, MINUTES)


def test_a_window_written_other_ways_measures_the_same(ran):
    _, utc = market(ran, "--from", START.isoformat(), "--to", LAST.isoformat(), "--source", "yahoo_finance")
    _, new_york = market(ran, "--from", "2026-11-17T10:00-05:00", "--to", "2026-11-17 10:29-05:00",
                         "--source", "yahoo_finance")  # fmt: skip

    assert utc["market"]["sources"] == new_york["market"]["sources"]
    assert utc["ok"] is True


def test_a_holiday_is_a_gap_of_no_units_named_for_the_holiday(ran):
    code, report = market(ran, "--from", "2026-11-26T00:00Z", "--to", "2026-11-26T23:59Z",
                          "--source", "yahoo_finance")  # fmt: skip

    yahoo = report["market"]["sources"]["yahoo_finance"]
    assert (yahoo["expected"], yahoo["reached"], yahoo["completeness"]) == (0, 0, None)
    assert [g["units"] for g in yahoo["gaps"]] == [0]
    assert "Thanksgiving" in yahoo["gaps"][0]["cause"]
    assert code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--market"], "--market needs a window"),
        (["--market", "--from", "2026-11-17T15:00Z"], "--market needs a window"),
        (["--market", "--from", "2026-11-17T15:00Z", "--to", "tomorrow"], "--to"),
    ],
)
def test_market_without_a_window_is_one_line_and_exit_1(ran, args, says):
    result = pipeline(ran, "verify", *args)

    assert result.returncode == 1
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_table_for_people_shows_completeness_per_source(ran):
    result = pipeline(ran, "verify", "--market", "--from", START.isoformat(), "--to", LAST.isoformat())

    assert "Against the market" in result.stdout
    for source in ("yahoo_finance", "coinmarketcap", "openexchangerates"):
        assert source in result.stdout
