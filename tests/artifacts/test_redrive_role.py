"""The scheduled redrive's role against the AWS calls its handler really makes, without the python3.13 root: the
handler (`pipeline.handlers.redrive.<source>`) runs in this process against the local stack, with the
environment the template gives its function, on a dead-letter queue holding a pipeline event and garbage (so it
probes the sink, sends the event back, deletes it, and makes the garbage visible again); its botocore calls are
recorded as the sandbox records them, and the IAM check finds nothing missing and nothing unused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline import clients
from pipeline.constants import Env
from pipeline.contracts import Event
from pipeline.handlers import redrive as redrive_handlers
from pipeline.registry import source_ids
from workbench.deploy.functions import Function
from workbench.local.demo import use_stack
from workbench.local.runtime import scheduled_event
from workbench.local.sandbox import iam
from workbench.local.sandbox.observe.sitecustomize import RESOURCE_PARAMS
from workbench.local.sandbox.run import bound_template, function_config

pytestmark = pytest.mark.stack


class Recorder:
    """The calls of the handlers' clients, as `observe/sitecustomize.py` records them in a sandbox."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._params: dict[str, str] = {}

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.*.*", self._on_params)
        client.meta.events.register("after-call.*.*", self._on_call)

    def _on_params(self, params: dict[str, Any], **_: Any) -> None:
        self._params = {k: params[k] for k in RESOURCE_PARAMS if isinstance(params.get(k), str)}

    def _on_call(self, model: Any, http_response: Any = None, **_: Any) -> None:
        service = model.service_model
        self.records.append(
            {
                "service": service.signing_name or service.endpoint_prefix,
                "operation": model.name,
                "params": self._params,
                "status": getattr(http_response, "status_code", None),
            }
        )


@pytest.fixture
def configured(clean_stack: Any) -> Iterator[Any]:
    use_stack(clean_stack)
    clients.reset()
    yield clean_stack
    clients.configure(None)


@pytest.mark.parametrize("source", source_ids())
def test_the_redrive_role_allows_exactly_what_a_redrive_calls(
    configured: Any, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    stack = configured
    template = bound_template(stack)
    function = Function("redrive", source)
    config = function_config(template, function)
    # GIVEN the function's environment from the template: its own queue and dead-letter queue
    assert config.environment[Env.REDRIVE_QUEUE_URL] == stack.queues[source]
    assert config.environment[Env.REDRIVE_DEAD_LETTER_QUEUE_URL] == stack.dead_letter_queues[source]
    for name in (Env.REDRIVE_QUEUE_URL, Env.REDRIVE_DEAD_LETTER_QUEUE_URL):
        monkeypatch.setenv(name, config.environment[name])
    # AND a dead-letter queue holding a pipeline event and a message that is not one
    dlq = stack.dead_letter_queues[source]
    event = Event(bucket=stack.bucket, key=f"raw/{source}/2026/11/21/1500.csv", source=source,
                  scheduled_at="2026-11-21T15:00:00Z", rows=1)  # fmt: skip
    for body in (event.model_dump_json(), json.dumps({"note": "not a pipeline event"})):
        clients.sqs().send_message(
            QueueUrl=dlq, MessageBody=body, MessageGroupId=source, MessageDeduplicationId=uuid.uuid4().hex
        )
    recorder = Recorder()
    for client in (clients.sqs(), clients.s3()):
        recorder.attach(client)

    # WHEN the scheduled redrive runs
    result = getattr(redrive_handlers, source)(scheduled_event(source, datetime(2026, 11, 21, 15, 5, tzinfo=UTC)), None)

    # THEN the event went back to its queue, the garbage stayed, and the role matches the calls both ways
    assert (result["redriven"], result["kept"], result["unhealthy"]) == (1, 1, None), result
    calls = {function.name: iam.calls_of(recorder.records, template.region, template.account_id)}
    findings = iam.check(template, {function.name: config}, calls)
    assert [str(f) for f in findings] == []
    received = clients.sqs().receive_message(  # looked at, not held: the next test's purge may come within the minute
        QueueUrl=stack.queues[source], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    assert [json.loads(m["Body"])["key"] for m in received.get("Messages", [])] == [event.key]


def test_a_redrive_that_finds_its_dead_letter_queue_empty_only_looks(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual run, every five minutes: one GetQueueAttributes, no sink built (no secret read, no connection)."""
    stack = configured
    config = function_config(bound_template(stack), Function("redrive", "yahoo_finance"))
    for name in (Env.REDRIVE_QUEUE_URL, Env.REDRIVE_DEAD_LETTER_QUEUE_URL):
        monkeypatch.setenv(name, config.environment[name])

    def no_sink(source: str) -> Any:
        raise AssertionError(f"the {source} sink was built for an empty dead-letter queue")

    monkeypatch.setattr(clients, "sink", no_sink)
    recorder = Recorder()
    recorder.attach(clients.sqs())

    result = redrive_handlers.yahoo_finance(
        scheduled_event("yahoo_finance", datetime(2026, 11, 21, 15, 5, tzinfo=UTC)), None
    )

    assert (result["waiting"], result["redriven"], result["unhealthy"]) == (0, 0, None)
    assert [(r["operation"], r["params"].get("QueueUrl")) for r in recorder.records] == [
        ("GetQueueAttributes", stack.dead_letter_queues["yahoo_finance"])
    ]
