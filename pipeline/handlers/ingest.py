"""Ingest functions, one per source, triggered every minute by an EventBridge schedule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import clients
from pipeline.constants import SourceId
from pipeline.contracts import scheduled_minute
from pipeline.handlers import Handler, entry_point
from pipeline.ingest import ingest

logger = Logger(service="ingest")


def _handle(source: SourceId, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    result = ingest(source, scheduled_minute(event), settings=clients.settings(), s3=clients.s3(), sns=clients.sns())
    logger.info("ingested", extra=result.as_dict())
    return result.as_dict()


def __getattr__(name: str) -> Handler:
    """`pipeline.handlers.ingest.<source>`: the entry point of every source declared in `pipeline.registry`."""
    return entry_point(name, _handle)
