"""A short soak in `make test`: a few dozen minutes of every source under every kind of fault, reconciled.
CI runs the whole day (`make soak`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline import aws, quarantine
from pipeline.constants import Env
from workbench.soak import default_plan, soak

pytestmark = [pytest.mark.stack, pytest.mark.slow]

START = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # inside the NYSE session: every source has data
MINUTES = 24


def test_a_short_soak_under_every_kind_of_fault_loses_and_duplicates_nothing(clean_stack, monkeypatch):
    monkeypatch.setenv(Env.UNIVERSE_LIMIT, "10")
    plan = default_plan(START, MINUTES)

    report = soak(clean_stack, start=START, minutes=MINUTES, plan=plan)

    figures = report.as_dict()
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures
    assert figures["faults_injected"] == len(plan.windows) + len(plan.points)
    kinds = {f["kind"] for f in figures["faults"]}
    assert kinds >= {"outage", "s3_errors", "source_failure", "duplicate_delivery", "duplicate_publish", "poison",
                     "bad_row", "s3_put_error"}  # fmt: skip
    assert figures["backoffs"] > 0 and figures["sink_refusals"] > 0 and figures["s3_errors_answered"] > 0
    assert figures["quarantined_rows"] >= 3  # a bad row in each source's raw object, quarantined, not lost
    records = list(quarantine.records(aws.client("s3", clean_stack.settings()), clean_stack.bucket))
    assert {r.scope for r in records} == {"rows", "message"}
    # every row reconciled; a minute whose ingest failed under a fault has no raw object: absent, never hidden
    assert all(v["missing"] == v["extra"] == 0 and not v["error"] for v in figures["verification"].values())
    assert figures["verification"]["coinmarketcap"]["absent"] >= figures["sources"]["coinmarketcap"]["ingest_failures"]
    assert all(v["ok"] == (v["absent"] == 0) for v in figures["verification"].values()), figures["verification"]
    # The sources' failures came from their twins' switches, through the live code paths: CoinMarketCap's challenge
    # page failed its minute (HTTP 403, every attempt), Open Exchange Rates' refusal was not called again by the
    # retry (its quota guard), Yahoo's 429s tripped the circuit breaker into a cool-down (minutes skipped)
    assert all(figures["source_fault_minutes"][s] > 0 for s in figures["sources"]), figures["source_fault_minutes"]
    sources = figures["sources"]
    assert sources["coinmarketcap"]["ingest_failures"] >= 1, sources
    assert sources["yahoo_finance"]["skipped_minutes"] >= 1, sources
    assert report.sources["openexchangerates"]["ingest_failures"] == 0 and figures["retries"] > 0
    assert {f.get("switch") for f in figures["faults"] if f["kind"] == "source_failure"} == {
        "challenge", "429_storm", "quota_exhausted"}  # fmt: skip


def test_soak_json_is_one_json_document_on_stdout_and_the_logs_go_to_stderr(clean_stack):
    """`python -m pipeline soak --json | jq`: the handlers' Powertools logs (here at INFO, so there are many) go to
    stderr; stdout parses as one JSON document whose day lost and duplicated nothing."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, **clean_stack.env(), Env.UNIVERSE_LIMIT: "5", "POWERTOOLS_LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "soak", "--minutes", "12", "--start", "2026-11-17T15:00Z", "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
    assert '"level":"INFO"' in result.stderr.replace(" ", "")  # the logs were written, to stderr
    # measured against the market too: per source the share of what existed that reached the sink, and how late
    sources = {"yahoo_finance", "coinmarketcap", "openexchangerates"}
    assert set(figures["completeness"]) == set(figures["freshness"]) == set(figures["market"]["sources"]) == sources
    assert all(0 < share <= 1 for share in figures["completeness"].values()), figures["completeness"]
    for source, fresh in figures["freshness"].items():
        assert 0 <= fresh["p50_minutes"] <= fresh["p95_minutes"], (source, fresh)
        assert "recorded load times" in fresh["basis"]
    # the challenge page's minute is a gap named for it, not a silent hole
    causes = figures["market"]["sources"]["coinmarketcap"]["missing_by_cause"]
    assert causes.get("challenge page", 0) >= 1, causes
