"""Process functions, one per source, fed by an SQS FIFO event source mapping with ReportBatchItemFailures.

Powertools' `SqsFifoPartialProcessor` stops at the first failed record of a batch and reports it and every
record after it as failed, so the queue redelivers them in order: per-group FIFO order survives a failure.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoCircuitBreakerError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.constants import SourceId
from pipeline.handlers import Handler, clients, entry_point
from pipeline.process import parse_event, process_event

logger = Logger(service="process")
processor = SqsFifoPartialProcessor()


def _record_handler(source: SourceId) -> Any:
    def handle(record: SQSRecord) -> int:
        event = parse_event(record.body, expected_source=source)
        rows = process_event(event, s3=clients.s3(), sink=clients.sink(source))
        logger.info("processed", extra={"key": event.key, "rows": rows, "message_id": record.message_id})
        return rows

    return handle


def _handle(source: SourceId, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The batch response; if every record fails, Powertools raises and Lambda retries the whole batch."""
    try:
        return dict(
            process_partial_response(
                event=event, record_handler=_record_handler(source), processor=processor, context=context
            )
        )
    finally:
        for _, exc, _ in processor.exceptions:
            if not isinstance(exc, SQSFifoCircuitBreakerError):
                logger.error("record failed", extra={"source": source, "error": str(exc)})


def __getattr__(name: str) -> Handler:
    """`pipeline.handlers.process.<source>`: the entry point of every source declared in `pipeline.registry`."""
    return entry_point(name, _handle)
