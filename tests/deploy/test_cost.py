"""`python -m pipeline cost`: the bill follows the template, the registry and the code, and the docs quote it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.deploy.cost import compute, markdown, measured_durations, schedule_minutes
from workbench.deploy.prices import PRICES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _xnys_minutes_a_month() -> int:
    """A twelfth of the NYSE's 2026 session minutes, straight from exchange_calendars."""
    import exchange_calendars as xc

    calendar = xc.get_calendar("XNYS", start="2026-01-02", end="2026-12-31")
    sessions = calendar.sessions_in_range("2026-01-02", "2026-12-31")
    minutes = sum((calendar.session_close(s) - calendar.session_open(s)).total_seconds() // 60 for s in sessions)
    return round(minutes / 12)


def test_the_counts_follow_the_schedules_the_markets_and_the_oxr_refresh_period() -> None:
    bill = compute(durations={})
    xnys = _xnys_minutes_a_month()
    assert 8_000 < xnys < 8_200  # about 251 sessions of 390 minutes, a few shortened
    # every ingest runs every scheduled minute of a 30-day month
    assert {bill.invocations[f"ingest-{s}"] for s in ("yahoo_finance", "coinmarketcap", "openexchangerates")} == {
        43_200
    }
    # stocks write a raw object only in XNYS minutes; crypto every minute; unchanged rates write nothing, so one an hour
    assert bill.raw_objects == {"yahoo_finance": xnys, "coinmarketcap": 43_200, "openexchangerates": 720}
    assert bill.invocations["process-openexchangerates"] == 720
    # a faster plan (with the calls to match) writes more raw objects, and a slower schedule runs the ingest less
    faster = compute(
        {"OxrRefreshSeconds": "1800", "OxrMonthlyQuota": "10000", "CoinMarketCapSchedule": "rate(5 minutes)"},
        durations={},
    )
    assert faster.raw_objects["openexchangerates"] == 1_440 and faster.invocations["ingest-coinmarketcap"] == 8_640


def test_the_scheduled_redrive_is_billed_while_its_rule_runs() -> None:
    bill = compute(durations={})
    # every five minutes of a 30-day month, per source
    assert {bill.invocations[f"redrive-{s}"] for s in ("yahoo_finance", "coinmarketcap", "openexchangerates")} == {
        8_640
    }
    off = compute({"RedriveEnabled": "false"}, durations={})
    assert all(off.invocations[f"redrive-{s}"] == 0 for s in ("yahoo_finance", "coinmarketcap", "openexchangerates"))
    [requests], [off_requests] = ([line.quantity for line in b.lines if line.item == "requests"] for b in (bill, off))
    assert requests - off_requests == 3 * 8_640
    [sqs], [off_sqs] = ([line.quantity for line in b.lines if line.service == "SQS"] for b in (bill, off))
    assert sqs - off_sqs == 3 * 8_640  # one look at the dead-letter queue a run
    hourly = compute({"RedriveSchedule": "rate(1 hour)"}, durations={})
    assert hourly.invocations["redrive-coinmarketcap"] == 720


def test_lambda_compute_follows_memory_and_measured_durations() -> None:
    base = compute(durations={})
    doubled = compute({"IngestMemorySize": "2048", "ProcessMemorySize": "2048"}, durations={})
    [compute_line] = [line for line in base.lines if line.item == "compute"]
    [doubled_line] = [line for line in doubled.lines if line.item == "compute"]
    assert doubled_line.quantity == pytest.approx(2 * compute_line.quantity, abs=2)  # GB-s are rounded
    measured = compute(durations={"ingest-coinmarketcap": 4_000})
    [measured_line] = [line for line in measured.lines if line.item == "compute"]
    assert measured.durations_measured and not base.durations_measured
    assert measured_line.quantity - compute_line.quantity == pytest.approx(43_200 * 2, rel=1e-3)  # 2 s more x 1 GB


def test_the_free_tier_covers_lambda_and_never_raises_a_line() -> None:
    bill = compute(durations={})
    assert all(0 <= line.usd_after_free_tier <= line.usd for line in bill.lines)
    lam = [line for line in bill.lines if line.service == "Lambda"]
    assert sum(line.usd for line in lam) > 5 and sum(line.usd_after_free_tier for line in lam) == 0
    assert PRICES["lambda_gb_seconds"].free == 400_000


def test_the_snowflake_warehouse_runs_through_every_market_minute() -> None:
    flake = compute(durations={}, credit_price=3.0).snowflake
    xnys = _xnys_minutes_a_month()
    # a minute of running per load, and one 60 s auto-suspend after each of the month's ~21 sessions
    assert flake["loads"] == xnys and flake["credits"] == pytest.approx(xnys / 60 + 251 / 12 * 60 / 3600, abs=0.1)
    assert flake["usd"] == pytest.approx(flake["credits"] * 3.0, abs=0.5)


def test_measurements_are_read_from_the_artifacts_run_file(tmp_path: Path) -> None:
    path = tmp_path / "durations.json"
    assert measured_durations(path) == {}
    path.write_text(json.dumps({"functions": {"ingest-coinmarketcap": {"invocation_ms": 812.5, "init_ms": 900}}}))
    assert measured_durations(path) == {"ingest-coinmarketcap": 812.5}


def test_an_unknown_schedule_is_one_clear_error() -> None:
    assert schedule_minutes("rate(1 minute)") == 43_200 and schedule_minutes("rate(2 hours)") == 360
    from workbench.deploy.functions import PackagingError

    with pytest.raises(PackagingError, match=r"cannot count schedule 'cron\(0 \* \* \* \? \*\)'"):
        schedule_minutes("cron(0 * * * ? *)")


def test_docs_quote_the_bill_the_command_prints() -> None:
    text = DOCS.read_text(encoding="utf-8")
    quoted = re.search(r"<!-- pipeline cost --markdown --assumed-durations -->\n(.*?)\n<!-- end -->", text, re.S)
    assert quoted, "docs/deploy.md has no quoted `pipeline cost` block"
    printed = subprocess.run(
        [sys.executable, "-m", "pipeline", "cost", "--markdown", "--assumed-durations"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert quoted.group(1).strip() == printed == markdown(compute(durations={}))
    total = re.search(r"\*\*AWS total\*\* \| \| \| \*\*(\$[\d.,]+)\*\*", printed)
    assert total and f"about **{total.group(1)} a month**" in text


def test_the_json_output_has_the_totals() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "pipeline", "cost", "--json", "--assumed-durations"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document = json.loads(printed)
    assert document["total_usd"] == round(compute(durations={}).total, 2)
    assert {line["service"] for line in document["lines"]} >= {
        "Lambda",
        "SQS",
        "SNS",
        "S3",
        "Secrets Manager",
        "CloudWatch",
    }


def test_the_artifacts_run_leaves_the_durations_the_bill_then_uses(tmp_path: Path) -> None:
    """`run --artifacts` records each function's median warm invocation; `pipeline cost` bills those, and a later
    run of one source keeps what an earlier run measured for the others."""
    from datetime import UTC, datetime

    from workbench.local.runtime import RunReport
    from workbench.local.sandbox.environment import Invoked
    from workbench.local.sandbox.run import ArtifactsReport, FunctionReport, write_durations

    def report(**functions: list[Invoked]) -> ArtifactsReport:
        run = RunReport(start=datetime(2026, 11, 2, 15, 0, tzinfo=UTC), minutes=3)
        return ArtifactsReport(
            run, {n: FunctionReport(n, 512, 60, "cgroup", "built", i) for n, i in functions.items()}, {}, []
        )

    path = tmp_path / "durations.json"
    cold, warm = Invoked(True, 900.0, 2400.0, 180.0), [Invoked(False, None, ms, 150.0) for ms in (300.0, 340.0, 320.0)]
    write_durations(report(**{"ingest-yahoo_finance": [cold, *warm], "process-coinmarketcap": [cold]}), path)
    write_durations(report(**{"process-coinmarketcap": [Invoked(False, None, 75.0, 90.0)]}), path)

    durations = measured_durations(path)
    assert durations == {"ingest-yahoo_finance": 320.0, "process-coinmarketcap": 75.0}  # warm median; the newer run
    bill = compute(durations=durations)
    assert bill.durations_measured and bill.durations_ms["ingest-yahoo_finance"] == 320.0
    assert compute(durations={}).total > bill.total  # 20 s assumed for a Yahoo minute, 0.32 s measured


def _line(bill: Any, service: str, starts: str = "") -> Any:
    [line] = [line for line in bill.lines if line.service == service and line.item.startswith(starts)]
    return line


SOURCES = ("yahoo_finance", "coinmarketcap", "openexchangerates")


@pytest.mark.parametrize(
    ("parameters", "ingests"),
    [
        ({}, 43_200),
        ({"SchedulesEnabled": "true"}, 43_200),
        ({"SchedulesEnabled": "false"}, 0),
        ({"SchedulesEnabled": "false", "RedriveEnabled": "true"}, 0),
        ({"SchedulesEnabled": "false", "YahooFinanceSchedule": "rate(5 minutes)"}, 0),
    ],
)
def test_the_bill_follows_the_schedules_state(parameters: dict[str, str], ingests: int) -> None:
    bill = compute(parameters, durations={})
    assert {bill.invocations[f"ingest-{s}"] for s in SOURCES} == {ingests}
    if ingests:
        return
    # nothing runs: no event, no process run, no redrive, no metric written, no secret read, no Snowflake load
    assert set(bill.invocations.values()) == {0} and set(bill.raw_objects.values()) == {0}
    assert _line(bill, "Lambda", "compute").quantity == 0 and _line(bill, "SNS").quantity == 0
    assert _line(bill, "CloudWatch", "custom metrics").quantity == 0
    assert _line(bill, "Secrets Manager").quantity == 0 and _line(bill, "KMS").quantity == 0
    assert bill.snowflake["usd"] == 0
    # what stays: the secrets stored, the event source mappings' idle polls, the alarms (freshness ones gone)
    assert _line(bill, "Secrets Manager").usd > 0 and _line(bill, "SQS").quantity > 0
    assert (
        _line(bill, "CloudWatch", "alarms").quantity
        == _line(compute(durations={}), "CloudWatch", "alarms").quantity - 3
    )


def test_the_metrics_the_yahoo_ingest_writes_are_billed_as_custom_metrics() -> None:
    from types import SimpleNamespace

    from pipeline.sources.yahoo_finance import metrics as yahoo_metrics
    from workbench.deploy.prices import EMF_METRICS

    # the names the ingest writes, for a minute with rows and for a minute that failed as a whole
    payload = SimpleNamespace(stats={"requests": 3}, unfetched=[])
    written = set(yahoo_metrics.figures(payload, [{"status": "success"}])) | set(yahoo_metrics.figures(payload, None))  # type: ignore[arg-type]
    assert set(EMF_METRICS["yahoo_finance"]) == written
    bill = compute(durations={})
    filters = 3  # RawObjectsWritten, one dimension value per source
    assert _line(bill, "CloudWatch", "custom metrics").quantity == filters + len(written)


def test_kms_requests_follow_the_encrypted_topic_and_the_secrets(tmp_path: Path) -> None:
    from workbench.cloudformation.template import TEMPLATE_PATH, load_template
    from workbench.deploy.cost import DAYS
    from workbench.deploy.prices import SECRET_REFRESH_SECONDS

    bill = compute(durations={})
    publishes = _line(bill, "SNS").quantity
    secret_reads = 3 * DAYS * 24 * 3600 // SECRET_REFRESH_SECONDS
    assert load_template(TEMPLATE_PATH)["Resources"]["EventTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert _line(bill, "KMS").quantity == publishes + secret_reads
    # the same stack with an unencrypted topic: the secrets alone
    body = load_template(TEMPLATE_PATH)
    del body["Resources"]["EventTopic"]["Properties"]["KmsMasterKeyId"]
    plain = tmp_path / "template.json"
    plain.write_text(json.dumps(body))
    assert _line(compute(durations={}, template_path=plain), "KMS").quantity == secret_reads


ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"


@pytest.mark.parametrize(
    ("parameters", "stored", "read"),
    [
        ({}, 3, 3),  # live: the sinks' credentials and the rates' app id
        ({"Mode": "simulated"}, 2, 2),  # the simulated sources need no key; the sinks still do
        ({"Mode": "simulated", "OxrAppIdSecretArn": ARN + "oxr"}, 3, 3),
        ({"CmcApiKeySecretArn": ARN + "cmc"}, 4, 4),
        ({"CreateSqlServer": "true"}, 4, 3),  # the database's master secret is stored, read once at creation
        ({"CreateSqlServer": "true", "CmcApiKeySecretArn": ARN + "cmc"}, 5, 4),
    ],
)
def test_the_secrets_billed_are_those_the_parameters_imply(parameters: dict[str, str], stored: int, read: int) -> None:
    bill = compute(parameters)
    (line,) = [line for line in bill.lines if line.service == "Secrets Manager"]
    assert line.item == f"{stored} secrets and their reads"
    assert line.quantity == read * 30 * 24 * 60 * 60 // 300  # each read every 5 minutes by one warm function
    assert f"{stored} secrets, of which the functions read {read} (" in " ".join(bill.assumptions)


@pytest.mark.parametrize(
    ("parameters", "objects"),
    [
        ({}, 720),  # hourly rates: one raw object an hour
        ({"OxrRefreshSeconds": "300"}, 1000),  # every 5 minutes would be 8,640: the free plan's 1,000 calls cap it
        ({"OxrRefreshSeconds": "300", "OxrMonthlyQuota": "100"}, 100),
        ({"OxrRefreshSeconds": "300", "OxrMonthlyQuota": "0"}, 8640),  # 0: no quota to keep within
        ({"OxrMonthlyQuota": "5000"}, 720),
    ],
)
def test_the_rates_written_keep_within_the_plans_monthly_quota(parameters: dict[str, str], objects: int) -> None:
    assert compute(parameters).raw_objects["openexchangerates"] == objects
