"""`pipeline status`: per source, is it fresh, is anything waiting or dead-lettered, what did it spend.

GIVEN a few simulated minutes through the local stack, WHEN a person (or a script with --json) asks for the
status, THEN every source is named with its freshness, dead-letter depth and quarantine count; a dead letter or a
stale source makes the exit code 1; on AWS the alarms in ALARM are listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from pipeline.constants import Env
from pipeline.settings import Settings
from tests.conftest import empty_stack
from workbench.cloudformation.topology import LOCAL_CREDENTIALS
from workbench.local.queues import empty_queue
from workbench.status import stale_reason

pytestmark = pytest.mark.stack

START = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # a Tuesday session, 14:30-21:00 UTC
MINUTES = 6
SOURCES = {"yahoo_finance", "coinmarketcap", "openexchangerates"}


def pipeline(stack, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    env.update(stack.env())
    env.update({Env.UNIVERSE_LIMIT: "5", **extra})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env, timeout=300
    )


def empty(stack) -> None:
    """What the `clean_stack` fixture does, once for this module."""
    empty_stack(stack)


@pytest.fixture(scope="module")
def ran(local_stack):
    """MINUTES simulated minutes of every source from START on an emptied stack."""
    empty(local_stack)
    result = pipeline(local_stack, "run", "--minutes", str(MINUTES), "--start", START.isoformat(), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return local_stack


def test_status_json_names_every_source_with_freshness_dead_letters_and_quarantine(ran):
    result = pipeline(ran, "status", "--json")

    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    status = json.loads(result.stdout)
    assert status["ok"] is True
    assert set(status["sources"]) == SOURCES
    last = START + timedelta(minutes=MINUTES - 1)
    assert status["now"] == last.isoformat().replace("+00:00", "Z")
    assert "newest scheduled minute" in status["now_basis"]
    for source, row in status["sources"].items():
        assert row["dead_letters"] == 0 and row["quarantine_records"] == 0 and row["waiting"] == 0, source
        assert row["freshness_minutes"] is not None and row["stale"] == "", (source, row)
        assert row["raw_key"].startswith(f"raw/{source}/2026/11/17/"), row
    # the newest bar closed at the last scheduled minute; the snapshot is that minute; the local stack's simulated
    # rates plan refreshes every minute (SIMULATED_OXR_PLAN), so the rates are that minute's too
    for source in SOURCES:
        assert status["sources"][source]["freshness_minutes"] == 0, status["sources"][source]
    assert status["sources"]["openexchangerates"]["budget"]["calls"] == MINUTES
    assert status["sources"]["yahoo_finance"]["budget"]["month"] == "2026-11"


def test_status_table_for_people_shows_every_source(ran):
    result = pipeline(ran, "status")

    assert result.returncode == 0, result.stderr[-2000:]
    for source in SOURCES:
        assert source in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("at", "stale"),
    [
        # in the session, 30 minutes after the last bar: every source is behind (the local rates plan refreshes
        # every minute: two refresh periods are two minutes)
        (START + timedelta(minutes=35), SOURCES),
        # the same minute written another way (New York time)
        ("2026-11-17T10:35-05:00", SOURCES),
        # the Saturday after: the stock market is closed and Friday's close is due, which is later than the newest
        # bar; 24/7 sources are behind
        ("2026-11-21T12:00Z", SOURCES),
        # 12 minutes after the last bar: within Yahoo's rotation and grace, not within the crypto's 10 minutes
        (START + timedelta(minutes=MINUTES - 1 + 12), {"coinmarketcap", "openexchangerates"}),
    ],
)
def test_a_source_behind_its_market_is_stale_and_exits_1(ran, at, stale):
    at = at if isinstance(at, str) else at.isoformat()

    result = pipeline(ran, "status", "--json", "--at", at)

    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert {s for s, row in status["sources"].items() if row["stale"]} == stale, status["sources"]
    assert status["now_basis"] == "--at"


def test_a_dead_letter_makes_status_exit_1_and_names_its_source(ran):
    settings = ran.settings()
    sqs = boto3.client("sqs", endpoint_url=ran.aws_endpoint_url, region_name=settings.region,
                       aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS)  # fmt: skip
    url = ran.dead_letter_queues["coinmarketcap"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="coinmarketcap",
                     MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
    try:
        result = pipeline(ran, "status", "--json")
        table = pipeline(ran, "status")
    finally:  # the message goes, whether or not a purge of this queue ran in the last minute (one a minute)
        empty_queue(sqs, url)

    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["sources"]["coinmarketcap"]["dead_letters"] == 1
    assert status["sources"]["yahoo_finance"]["dead_letters"] == 0
    assert table.returncode == 1 and "1 dead" in table.stdout


def test_status_on_aws_lists_the_alarms_in_alarm_and_the_dashboard(ran):
    """PIPELINE_TARGET=aws against a moto server: the queues come from the options, the alarm from CloudWatch."""
    settings = ran.settings()
    cloudwatch = boto3.client("cloudwatch", endpoint_url=ran.aws_endpoint_url, region_name=settings.region,
                              aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS)  # fmt: skip
    for name in ("market-data-YahooFinanceDeadLetterAlarm-X1", "another-stack-Alarm"):
        cloudwatch.put_metric_alarm(
            AlarmName=name, MetricName="ApproximateNumberOfMessagesVisible", Namespace="AWS/SQS", Statistic="Maximum",
            Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="1 message in the queue")
    options = [f"--queue-url={s}={u}" for s, u in ran.queues.items()]
    options += [f"--dead-letter-queue-url={s}={u}" for s, u in ran.dead_letter_queues.items()]
    try:
        result = pipeline(ran, "status", "--json", "--stack", "market-data", "--at", START.isoformat(),
                          *options, **{Env.TARGET: "aws"})  # fmt: skip
    finally:
        cloudwatch.delete_alarms(AlarmNames=["market-data-YahooFinanceDeadLetterAlarm-X1", "another-stack-Alarm"])

    assert result.returncode == 0, result.stderr[-2000:]
    status = json.loads(result.stdout)
    assert status["target"] == "aws"
    assert [a["name"] for a in status["alarms"]] == ["market-data-YahooFinanceDeadLetterAlarm-X1"]
    assert status["alarms"][0]["reason"] == "1 message in the queue"
    assert status["dashboard_url"].endswith("#dashboards:name=market-data-pipeline")
    assert set(status["sources"]) == SOURCES


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--at", "yesterday"], "--at"),
        (["--queue-url", "no-equals-sign"], "--queue-url: write SOURCE=URL"),
        (["--queue-url", "nasdaq=https://q"], "unknown source 'nasdaq'"),
    ],
)
def test_a_bad_status_option_is_one_line_and_exit_1(ran, args, says):
    result = pipeline(ran, "status", *args, **{Env.TARGET: "aws"} if "--queue-url" in args else {})

    assert result.returncode == 1, result.stdout
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- the market calendar decides what is due ------------------------------------------------------------------

SETTINGS = Settings(mode="simulated", bucket="b")


@pytest.mark.parametrize(
    ("source", "now", "newest", "stale"),
    [
        # stocks: Saturday, the newest bar is Friday's close: not stale
        ("yahoo_finance", "2026-11-21T12:00Z", "2026-11-20T21:00Z", False),
        # Thanksgiving (closed): Wednesday's close is due
        ("yahoo_finance", "2026-11-26T16:00Z", "2026-11-25T21:00Z", False),
        # the day after Thanksgiving closes early (13:00 New York): its close is due, not 16:00
        ("yahoo_finance", "2026-11-27T20:00Z", "2026-11-27T18:00Z", False),
        ("yahoo_finance", "2026-11-27T20:00Z", "2026-11-27T17:00Z", True),
        # in session: 14 minutes behind is within rotation (5) + grace (10); 16 is not
        ("yahoo_finance", "2026-11-17T16:00Z", "2026-11-17T15:46Z", False),
        ("yahoo_finance", "2026-11-17T16:00Z", "2026-11-17T15:44Z", True),
        ("yahoo_finance", "2026-11-17T16:00Z", None, True),
        # before the open: yesterday's close is due
        ("yahoo_finance", "2026-11-17T13:00Z", "2026-11-16T21:00Z", False),
        ("yahoo_finance", "2026-11-17T13:00Z", "2026-11-16T20:00Z", True),
        # hourly rates: 1 h 59 min old is fresh, 2 h 01 min is not
        ("openexchangerates", "2026-11-21T12:00Z", "2026-11-21T10:01Z", False),
        ("openexchangerates", "2026-11-21T12:00Z", "2026-11-21T09:59Z", True),
        # crypto, every minute, weekends too
        ("coinmarketcap", "2026-11-21T12:00Z", "2026-11-21T11:55Z", False),
        ("coinmarketcap", "2026-11-21T12:00Z", "2026-11-21T11:45Z", True),
    ],
)
def test_stale_follows_the_market_calendar_and_the_refresh_period(source, now, newest, stale):
    from pipeline.contracts import to_utc

    reason = stale_reason(source, SETTINGS, to_utc(now), to_utc(newest) if newest else None)

    assert bool(reason) is stale, reason


def test_the_yahoo_month_counts_requests_429s_and_cool_downs_and_a_new_month_starts_from_zero():
    """The budget `status` shows comes from the state document the ingest keeps: a minute against a twin that
    answers 429 past the first request counts its requests, its 429s and the cool-down they opened."""
    import contextlib

    from pipeline.sources.base import UpstreamError
    from pipeline.sources.yahoo_finance import YahooFinance
    from pipeline.state import MemoryState
    from workbench.status import budget

    state = MemoryState()
    settings = Settings(mode="simulated", bucket="b", universe_limit=10, yahoo_twin_rate_limit=1)
    at = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    with contextlib.suppress(UpstreamError):
        YahooFinance().fetch(settings, at, state)

    spent = budget("yahoo_finance", settings, state, at)
    assert spent["month"] == "2026-11"
    assert spent["yahoo_requests"] >= 3 and spent["rate_limited"] >= 3, spent
    assert (spent["cooldowns"], spent["cooling_down"]) == (1, True), spent
    december = budget("yahoo_finance", settings, state, datetime(2026, 12, 1, 15, tzinfo=UTC))
    assert (december["yahoo_requests"], december["rate_limited"], december["cooldowns"]) == (0, 0, 0)
