"""Redrive functions, one per source, scheduled (`RedriveSchedule` in the template, rate(5 minutes)): the
dead-letter queue back to the queue once the sink is healthy (`pipeline.redrive.auto_redrive`, the same code as
`pipeline redrive`), so an outage longer than the back-off budget still ends with every event processed and no
command typed. A run that finds the dead-letter queue empty builds no sink (no secret read, no connection).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from pipeline import clients
from pipeline.constants import Env, SourceId
from pipeline.handlers import Handler, entry_point
from pipeline.redrive import AutoRedriveResult, auto_redrive, waiting

logger = Logger(service="redrive")


def _handle(source: SourceId, event: dict[str, Any], context: Any) -> dict[str, Any]:
    sqs = clients.sqs()
    queue_url, dead_letter_queue_url = os.environ[Env.REDRIVE_QUEUE_URL], os.environ[Env.REDRIVE_DEAD_LETTER_QUEUE_URL]
    if not waiting(sqs, dead_letter_queue_url):  # the usual run: no sink built, no secret read, no connection
        return {"source": source, **AutoRedriveResult(waiting=0).as_dict()}
    result = auto_redrive(
        sqs, source, queue_url, dead_letter_queue_url, sink=clients.sink(source), bucket=clients.settings().bucket
    )
    summary = {"source": source, **result.as_dict()}
    if result.unhealthy:
        logger.warning("sink not healthy: nothing redriven", extra=summary)
    elif result.waiting:
        logger.info("redriven", extra=summary)
    return summary


def __getattr__(name: str) -> Handler:
    """`pipeline.handlers.redrive.<source>`: the entry point of every source declared in `pipeline.registry`."""
    return entry_point(name, _handle)
