"""The whole pipeline on the local stack: schedule -> ingest -> S3 + SNS -> SQS -> process -> sinks -> verify."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import aws
from pipeline.contracts import processed_key, raw_key
from pipeline.handlers import clients
from pipeline.local.demo import run_minutes, use_stack
from pipeline.local.runtime import LocalRuntime
from pipeline.registry import source_ids
from pipeline.replay import replay
from pipeline.verify import verify

SOURCES = source_ids()

pytestmark = [pytest.mark.stack, pytest.mark.slow]

START = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York: every source has data
MINUTES = 3
LAST = START + timedelta(minutes=MINUTES - 1)


def sink_rows(report):
    return {s.source: s.total("sink_rows") for s in report.sources}


@pytest.fixture(scope="module")
def first_run(local_stack):
    saved = dict(os.environ)  # run_minutes points this process at the stack: leave no trace for other tests
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
        assert stats.raw_keys == {raw_key(source, START + timedelta(minutes=i)) for i in range(MINUTES)}
        assert len(stats.events) == MINUTES
        assert stats.rows_processed > 0
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
        assert again.sources[source].raw_keys == first.sources[source].raw_keys
        assert len(again.sources[source].events) == MINUTES  # new content (ingested_at): new events, same rows


def test_replaying_the_window_republishes_every_raw_object_and_changes_no_sink(first_run):
    stack, _ = first_run
    settings = stack.settings()
    before = sink_rows(verify(settings, START, LAST))
    use_stack(stack)
    s3, sns, sqs = (aws.client(name, settings) for name in ("s3", "sns", "sqs"))

    count = replay(s3, sns, settings.bucket, settings.topic_arn, sources=SOURCES, start=START, end=LAST)
    runtime = LocalRuntime(sqs, stack.queues, stack.dead_letter_queues)
    runtime.poll(LAST + timedelta(hours=1))

    assert count == len(SOURCES) * MINUTES
    assert runtime.dead_letters() == dict.fromkeys(SOURCES, 0)
    after = verify(settings, START, LAST)
    assert after.ok, after.as_dict()
    assert sink_rows(after) == before
