"""The local runtime does what the SQS event source mapping does: batches, partial failures, FIFO order, DLQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from pipeline import aws, clients
from workbench.local.runtime import LocalRuntime

pytestmark = pytest.mark.stack
T0 = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)


@pytest.fixture
def sqs(clean_stack, local_env):
    clients.reset()
    yield aws.client("sqs", local_env)
    clients.reset()


def send(sqs, url, body, group="coinmarketcap"):
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex)


def test_a_poison_message_is_quarantined_at_once_and_the_message_behind_it_processed(sqs, clean_stack, local_env):
    """GIVEN a message that is not a pipeline event, and a good event behind it in the same group
    WHEN the real process handler gets them THEN the poison is quarantined (never retried, never dead-lettered)
    and the good event is processed in the same pass."""
    from pipeline import quarantine
    from pipeline.handlers import ingest as ingest_handlers
    from workbench.local.demo import use_stack
    from workbench.local.runtime import scheduled_event

    use_stack(clean_stack)
    send(sqs, clean_stack.queues["coinmarketcap"], "this is not an event")
    good = ingest_handlers.coinmarketcap(scheduled_event("coinmarketcap", T0), None)
    runtime = LocalRuntime(sqs, clean_stack.queues, clean_stack.dead_letter_queues, sources=["coinmarketcap"])

    runtime.poll(T0)

    stats = runtime.stats["coinmarketcap"]
    assert stats.failed_deliveries == 0
    assert stats.rows_processed == good["success_rows"] > 0
    assert runtime.dead_letters() == {"coinmarketcap": 0}
    (entry,) = quarantine.records(aws.client("s3", local_env), local_env.bucket, "coinmarketcap")
    assert entry.scope == "message" and entry.message == "this is not an event"
    assert entry.reason.startswith("not a pipeline event")


def test_a_failed_record_is_retried_in_fifo_order_and_the_rest_of_its_batch_too(sqs, clean_stack):
    """GIVEN four messages of one group WHEN the second fails once THEN all four are processed, in order."""
    url = clean_stack.queues["coinmarketcap"]
    for i in range(4):
        send(sqs, url, f"m{i}")
    processed: list[str] = []
    failed_once: set[str] = set()
    processor = SqsFifoPartialProcessor()

    def record_handler(record):
        if record.body == "m1" and "m1" not in failed_once:
            failed_once.add("m1")
            raise RuntimeError("sink down")
        processed.append(record.body)

    def handler(event, context):
        return process_partial_response(event=event, record_handler=record_handler, processor=processor)

    runtime = LocalRuntime(
        sqs,
        clean_stack.queues,
        clean_stack.dead_letter_queues,
        sources=["coinmarketcap"],
        process_handlers={"coinmarketcap": handler},
    )
    runtime.poll(T0)
    assert processed == ["m0"]  # m1 failed: m2 and m3 were reported failed with it, not processed out of order
    runtime.poll(T0 + timedelta(seconds=10))
    assert processed == ["m0"]  # still invisible: the visibility timeout has not passed on the virtual clock
    runtime.settle(T0)

    assert processed == ["m0", "m1", "m2", "m3"]
    assert runtime.stats["coinmarketcap"].failed_deliveries == 3
    assert runtime.dead_letters() == {"coinmarketcap": 0}


def test_run_json_is_one_json_document_on_stdout_and_the_logs_go_to_stderr(clean_stack):
    """`python -m pipeline run --json | jq`: the handlers' Powertools logs go to stderr, stdout is the report."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, **clean_stack.env(), "POWERTOOLS_LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--minutes", "2", "--start", "2026-11-02T14:45Z",
         "--source", "coinmarketcap", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["sources"]["coinmarketcap"]["events_delivered"] == 2
    assert '"level":"INFO"' in result.stderr.replace(" ", "")


def test_a_run_interrupted_mid_batch_releases_what_it_held_and_the_next_run_delivers_it(clean_stack, local_env):
    """GIVEN a run interrupted (Ctrl-C) while the process handler holds its first batch
    WHEN the next run starts THEN it delivers those events at once (not after the queue's 360 s visibility
    timeout), every raw object reaches its sink, and verify is clean."""
    from workbench.local.demo import local_runtime, use_stack
    from workbench.verify import verify

    settings = use_stack(clean_stack)
    sources = ("coinmarketcap",)

    def interrupted(_event, _context):
        raise KeyboardInterrupt

    first = local_runtime(clean_stack, settings, sources, process_handlers={"coinmarketcap": interrupted})
    with pytest.raises(KeyboardInterrupt):
        first.run(3, T0)

    second = local_runtime(clean_stack, settings, sources)
    second.poll(T0 + timedelta(minutes=1))  # the next run's first poll, before it ingests anything

    stats = second.stats["coinmarketcap"]
    assert len(stats.events) == 1 and stats.failed_deliveries == 0
    report = verify(settings, T0, T0)
    assert report.ok, report.as_dict()


def test_a_source_declared_after_the_stack_came_up_gets_one_line_saying_what_to_type(sqs, clean_stack):
    """GIVEN a fourth source declared while the local stack runs (its queues come with `up`), WHEN a run includes it,
    THEN one line says to restart the stack, instead of a KeyError."""
    from tests.registry import fake_source
    from workbench.local.processes import LocalStackError

    with fake_source.declared(), pytest.raises(LocalStackError) as refused:
        LocalRuntime(sqs, clean_stack.queues, clean_stack.dead_letter_queues)
    assert str(refused.value) == (
        "source 'treasury_yields' has no queue on the running local stack (it was declared after the stack came up): "
        "run `pipeline local down` then `pipeline local up`"
    )
