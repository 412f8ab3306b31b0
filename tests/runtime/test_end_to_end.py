"""The whole pipeline on the local stack: schedule -> ingest -> S3 + SNS -> SQS -> process -> sinks -> verify."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import aws, clients
from pipeline.contracts import processed_key, raw_key
from pipeline.registry import source_ids
from tests.conftest import empty_stack
from workbench.local.demo import run_minutes, use_stack
from workbench.local.runtime import LocalRuntime
from workbench.replay import replay
from workbench.verify import verify

SOURCES = source_ids()

pytestmark = [pytest.mark.stack, pytest.mark.slow]

# A day of its own, after the notebooks' days (3 to 12 November) and before the later tests' (17 to 19): on the
# shared stack the rates' state never moves backwards, so minutes older than its state would skip.
START = datetime(2026, 11, 13, 15, 0, tzinfo=UTC)  # a Friday, 10:00 in New York: every source has data
MINUTES = 3
LAST = START + timedelta(minutes=MINUTES - 1)


def sink_rows(report):
    return {s.source: s.total("sink_rows") for s in report.sources}


@pytest.fixture(scope="module")
def first_run(local_stack):
    saved = dict(os.environ)  # run_minutes points this process at the stack: leave no trace for other tests
    empty_stack(local_stack)  # and start from nothing, whatever the tests before left in the queues
    try:
        yield local_stack, run_minutes(local_stack, MINUTES, START, progress=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clients.reset()


def test_every_minute_of_every_source_reaches_its_sink(first_run):
    stack, report = first_run
    settings = stack.settings()
    s3 = aws.client("s3", settings)

    for source in SOURCES:
        stats = report.sources[source]
        minutes = {raw_key(source, START + timedelta(minutes=i)) for i in range(MINUTES)}
        if source == "openexchangerates":  # hourly rates: the minutes after the call have nothing new to write
            assert stats.raw_keys <= minutes and len(stats.raw_keys) + stats.skipped == MINUTES
        else:
            assert stats.raw_keys == minutes and stats.skipped == 0
        assert len(stats.events) == len(stats.raw_keys)
        assert stats.rows_processed > 0 or source == "openexchangerates"
        assert (stats.dead_letters, stats.ingest_errors, stats.failed_deliveries) == (0, [], 0)
    for key in report.sources["coinmarketcap"].raw_keys:
        assert s3.head_object(Bucket=settings.bucket, Key=processed_key(key))["ContentLength"] > 0

    checked = verify(settings, START, LAST)
    assert checked.ok, checked.as_dict()
    assert sink_rows(checked)["yahoo_finance"] == report.sources["yahoo_finance"].rows_processed


def test_running_the_same_minutes_again_leaves_every_sink_unchanged(first_run):
    """Ingesting a scheduled minute again writes the same key and leaves no duplicate downstream."""
    stack, first = first_run
    settings = stack.settings()
    before = sink_rows(verify(settings, START, LAST))

    again = run_minutes(stack, MINUTES, START, progress=False)

    after = verify(settings, START, LAST)
    assert after.ok, after.as_dict()
    assert sink_rows(after) == before
    for source in SOURCES:
        keys = again.sources[source].raw_keys
        if source == "openexchangerates":  # the rates' state never moves backwards: only the last minute is
            # served again, the older ones neither call nor rewrite (their raw objects stay as they are)
            assert keys == {max(first.sources[source].raw_keys)}
        else:
            assert keys == first.sources[source].raw_keys
        assert len(again.sources[source].events) == len(keys)  # new content (ingested_at): new events, same rows


def test_replaying_the_window_republishes_every_raw_object_and_changes_no_sink(first_run):
    stack, first = first_run
    settings = stack.settings()
    before = sink_rows(verify(settings, START, LAST))
    use_stack(stack)
    s3, sns, sqs = (aws.client(name, settings) for name in ("s3", "sns", "sqs"))

    count = replay(s3, sns, settings.bucket, settings.topic_arn, sources=SOURCES, start=START, end=LAST)
    runtime = LocalRuntime(sqs, stack.queues, stack.dead_letter_queues)
    runtime.poll(LAST + timedelta(hours=1))

    assert count == sum(len(first.sources[source].raw_keys) for source in SOURCES)
    assert runtime.dead_letters() == dict.fromkeys(SOURCES, 0)
    after = verify(settings, START, LAST)
    assert after.ok, after.as_dict()
    assert sink_rows(after) == before


def test_an_hourly_rates_plan_writes_at_most_two_raw_objects_in_ten_minutes_and_verify_is_clean(local_stack):
    start = datetime(2026, 11, 13, 15, 55, tzinfo=UTC)  # the ten minutes cross an hour, after the first run
    saved, overrides = dict(os.environ), dict(local_stack.overrides)
    try:
        local_stack.overrides = {**overrides, "oxr_refresh_seconds": 3600}  # the free plan's hourly rates
        report = run_minutes(local_stack, 10, start, sources=["openexchangerates"], progress=False)
        stats = report.sources["openexchangerates"]
        assert 1 <= len(stats.raw_keys) <= 2 and len(stats.events) == len(stats.raw_keys)
        assert stats.skipped == 10 - len(stats.raw_keys) and not stats.ingest_errors
        checked = verify(local_stack.settings(), start, start + timedelta(minutes=9), sources=["openexchangerates"])
        assert checked.ok, checked.as_dict()
        assert checked.sources[0].skipped == 10 - len(stats.raw_keys)  # known as skipped, not missing
    finally:
        local_stack.overrides = overrides
        os.environ.clear()
        os.environ.update(saved)
        clients.reset()
