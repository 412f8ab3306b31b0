"""Ingest functions, one per source, triggered every minute by an EventBridge schedule: each fetches its source
for the scheduled minute (the event's `time`), writes the raw CSV and publishes its event (`pipeline.ingest`).

`def <source>(event, context)` is the function whose template `Handler:` is `pipeline.handlers.ingest.<source>`;
its log lines carry the EventBridge event's id as the correlation id.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import clients
from pipeline.constants import SourceId
from pipeline.contracts import scheduled_minute
from pipeline.handlers import callable_outside_lambda
from pipeline.ingest import ingest

logger = Logger(service="ingest")


def ingest_scheduled_minute(source: SourceId, event: dict[str, Any]) -> dict[str, Any]:
    """Ingest `source` for the minute of a scheduled event; the result as the function returns it."""
    result = ingest(source, scheduled_minute(event), settings=clients.settings(), s3=clients.s3(), sns=clients.sns())
    logger.info("ingested", extra=result.as_dict())
    return result.as_dict()


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def yahoo_finance(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The ingest function of yahoo_finance (Handler: pipeline.handlers.ingest.yahoo_finance)."""
    return ingest_scheduled_minute("yahoo_finance", event)


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def coinmarketcap(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The ingest function of coinmarketcap (Handler: pipeline.handlers.ingest.coinmarketcap)."""
    return ingest_scheduled_minute("coinmarketcap", event)


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def openexchangerates(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The ingest function of openexchangerates (Handler: pipeline.handlers.ingest.openexchangerates)."""
    return ingest_scheduled_minute("openexchangerates", event)
