"""Redrive functions, one per source, scheduled (`RedriveSchedule` in the template, rate(5 minutes)): the
dead-letter queue back to the queue once the sink is healthy (`pipeline.redrive.auto_redrive`, the same code as
`pipeline redrive`), so an outage longer than the back-off budget still ends with every event processed and no
command typed. A run that finds the dead-letter queue empty builds no sink (no secret read, no connection).

`def <source>(event, context)` is the function whose template `Handler:` is `pipeline.handlers.redrive.<source>`;
its log lines carry the EventBridge event's id as the correlation id.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import clients
from pipeline.constants import Env, SourceId
from pipeline.handlers import callable_outside_lambda
from pipeline.redrive import AutoRedriveResult, auto_redrive, waiting

logger = Logger(service="redrive")


def redrive_when_healthy(source: SourceId) -> dict[str, Any]:
    """Move `source`'s dead letters back to its queue if its sink is healthy; the summary the function returns."""
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


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def yahoo_finance(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The redrive function of yahoo_finance (Handler: pipeline.handlers.redrive.yahoo_finance)."""
    return redrive_when_healthy("yahoo_finance")


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def coinmarketcap(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The redrive function of coinmarketcap (Handler: pipeline.handlers.redrive.coinmarketcap)."""
    return redrive_when_healthy("coinmarketcap")


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def openexchangerates(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The redrive function of openexchangerates (Handler: pipeline.handlers.redrive.openexchangerates)."""
    return redrive_when_healthy("openexchangerates")
