"""`verify` over a window says ok only about data that is there: a minute without a raw object is skipped only where
the source skips by design (Open Exchange Rates' refresh) or its market was closed; otherwise it is absent, the
report is not ok and it says what to type next."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline import aws
from pipeline.contracts import processed_key, raw_key, to_utc

pytestmark = pytest.mark.stack


def pipeline(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **stack.env()},
    )  # fmt: skip


def by_source(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    return {s["source"]: s for s in json.loads(result.stdout)["sources"]}


@pytest.mark.parametrize(
    ("start", "end", "yahoo_closed"),
    [
        ("2026-11-02T15:00Z", "2026-11-02T16:00Z", 0),  # a Monday, the market open
        ("2026-11-02T10:00-05:00", "2026-11-02T11:00-05:00", 0),  # the same window written in New York time
        ("2026-11-07T15:00Z", "2026-11-07T16:00Z", 61),  # a Saturday: stocks closed
        ("2026-11-02T21:00Z", "2026-11-02T22:00Z", 60),  # the close: the 15:59 New York bar is due at 21:00Z
    ],
)
def test_a_window_without_raw_objects_is_absent_where_the_source_writes_every_minute(
    clean_stack, start, end, yahoo_closed
):
    result = pipeline(clean_stack, "verify", "--json", "--from", start, "--to", end)

    assert result.returncode == 1, result.stderr
    report = by_source(result)
    cmc, yahoo, oxr = report["coinmarketcap"], report["yahoo_finance"], report["openexchangerates"]
    assert (cmc["ok"], cmc["absent"], cmc["skipped"]) == (False, 61, 0)  # 24/7, never skips a minute
    # Yahoo skips by design (closed market, cool-downs, bars a later look-back carries): `verify --market` judges
    assert (yahoo["ok"], yahoo["absent"], yahoo["skipped"], yahoo["closed_minutes"]) == (True, 0, 61, yahoo_closed)
    assert (oxr["ok"], oxr["absent"], oxr["skipped"]) == (True, 0, 61)  # rates that cannot have changed: skipped
    advice = json.loads(result.stdout)["advice"]
    first, last = to_utc(start).strftime("%Y-%m-%dT%H:%M:%SZ"), to_utc(end).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        "coinmarketcap: 61 scheduled minute(s) have no raw object: the causes with "
        f"`python -m pipeline verify --market --source coinmarketcap --from {first} --to {last}`"
    ) in advice


def test_the_table_says_absent_and_what_to_type(clean_stack):
    result = pipeline(clean_stack, "verify", "--source", "coinmarketcap", "--from", "2026-11-02T15:00Z",
                      "--to", "2026-11-02T15:04Z")  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert "5 minute(s) absent: no raw object" in result.stdout
    assert "python -m pipeline verify --market --source coinmarketcap" in result.stdout


def test_a_window_whose_minutes_all_arrived_is_ok_and_a_lost_minute_says_how_to_replay_it(clean_stack):
    ran = pipeline(clean_stack, "run", "--minutes", "5", "--start", "2026-11-02T15:00Z", "--source", "coinmarketcap")
    assert ran.returncode == 0, ran.stderr

    whole = pipeline(clean_stack, "verify", "--json", "--source", "coinmarketcap",
                     "--from", "2026-11-02T15:00Z", "--to", "2026-11-02T15:04Z")  # fmt: skip
    assert whole.returncode == 0, whole.stdout
    cmc = by_source(whole)["coinmarketcap"]
    assert (cmc["ok"], cmc["absent"], cmc["skipped"], cmc["minutes"]) == (True, 0, 0, 5)
    assert json.loads(whole.stdout)["advice"] == []

    settings = clean_stack.settings()
    gone = processed_key(raw_key("coinmarketcap", to_utc("2026-11-02T15:02Z")))
    aws.client("s3", settings).delete_object(Bucket=settings.bucket, Key=gone)
    lost = pipeline(clean_stack, "verify", "--source", "coinmarketcap", "--from", "2026-11-02T15:00Z",
                    "--to", "2026-11-02T15:04Z")  # fmt: skip

    assert lost.returncode == 1
    assert (
        "load them again with `python -m pipeline replay --source coinmarketcap --from 2026-11-02T15:02:00Z "
        "--to 2026-11-02T15:02:00Z`, then verify"
    ) in " ".join(lost.stdout.split())
