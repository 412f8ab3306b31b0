"""Process functions, one per source, fed by an SQS FIFO event source mapping with ReportBatchItemFailures.

An event is an instruction to read one object this pipeline wrote (`pipeline.process.accept_event`): the
configured bucket, a key under `raw/<own source>/` in the contract layout, `scheduled_at` its key's minute. Any other
message is a poison message, quarantined with its reason before anything is read; its record is filed under a key
derived from the message, never as a raw object's record. The rows counted are the rows loaded, never the event's
`rows`.

Two kinds of failure, two answers (`pipeline.errors.kind_of`):

- terminal (a poison body, an object that is gone, rows that can never validate, rows the sink refuses for what
  they are): the record is quarantined under `quarantine/` in the bucket (`pipeline.quarantine`) and reported as
  done, so it never blocks its FIFO message group; the good rows of the same raw object are loaded;
- transient (a sink or S3 that is down): Powertools' `SqsFifoPartialProcessor` stops at the record and reports it
  and every record after it as failed, so the queue redelivers them in order; before returning, the function
  extends their visibility with exponential back-off on their `ApproximateReceiveCount`
  (`ChangeMessageVisibilityBatch`), so a long outage costs few receives (none of them dead-letters before
  `backoff_budget_seconds(maxReceiveCount)` has passed) and the sink is not hammered.

`def <source>(event, context)` is the function whose template `Handler:` is `pipeline.handlers.process.<source>`.
Its log lines carry a correlation id from the event: the first record's `MessageDeduplicationId` for the batch,
and each record's own while that record is handled (the ingest derives it from the raw object's bucket, key and
ETag, so every delivery of one raw object's event logs the same id; a redriven message's is `redrive-<its id>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError, SQSFifoCircuitBreakerError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import clients, quarantine
from pipeline.constants import SourceId
from pipeline.errors import kind_of, one_line
from pipeline.handlers import SQS_DEDUPLICATION_ID, callable_outside_lambda
from pipeline.process import accept_event, process_event

logger = Logger(service="process")
processor = SqsFifoPartialProcessor()

BACKOFF_BASE_SECONDS: Final = 60
BACKOFF_MAX_SECONDS: Final = 3600  # at most an hour between two tries of a sink that is down
SQS_MAX_VISIBILITY_SECONDS: Final = 43_200


def backoff_seconds(receive_count: int) -> int:
    """The visibility timeout after the `receive_count`-th failed receive: 60 s, 120 s, 240 s... capped at 1 h."""
    return int(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, receive_count - 1)))


def backoff_budget_seconds(max_receive_count: int) -> int:
    """How long a sink may stay down before a message that meets it every try reaches the dead-letter queue."""
    return sum(backoff_seconds(n) for n in range(1, max_receive_count + 1))


def _quarantine(source: SourceId, record: SQSRecord, entry: quarantine.Record) -> None:
    key = quarantine.put(clients.s3(), clients.settings().bucket, entry)
    logger.warning(
        "quarantined",
        extra={"source": source, "message_id": record.message_id, "quarantine_key": key, "reason": entry.reason},
    )


def _record_handler(source: SourceId) -> Callable[[SQSRecord], int]:
    def handle(record: SQSRecord) -> int:
        logger.set_correlation_id(record.attributes.message_deduplication_id or record.message_id)
        try:  # an event is trusted only for what this pipeline wrote: anything else is quarantined unread
            event = accept_event(record.body, source=source, bucket=clients.settings().bucket)
        except Exception as exc:
            if kind_of(exc) != "terminal":
                raise
            _quarantine(source, record, quarantine.record(source, "message", one_line(exc), record.message_id,
                                                          message=record.body))  # fmt: skip
            return 0
        try:
            result = process_event(event, s3=clients.s3(), sink=clients.sink(source))
        except Exception as exc:
            if kind_of(exc) != "terminal":
                raise  # transient: the batch reports it failed, and backs off
            entry = quarantine.record(
                source, "object", one_line(exc), record.message_id, raw_key=event.key, message=record.body
            )
            _quarantine(source, record, entry)
            return 0
        if result.rejected:
            reason = f"{len(result.rejected)} success row(s) do not validate; first: line {result.rejected[0].line}: "
            entry = quarantine.record(
                source, "rows", reason + result.rejected[0].reason, record.message_id, raw_key=event.key,
                message=record.body, rows=result.rejected,
            )  # fmt: skip
            _quarantine(source, record, entry)
        logger.info("processed", extra={"key": event.key, "rows": result.loaded, "message_id": record.message_id})
        return result.loaded

    return handle


def _back_off(source: SourceId, event: dict[str, Any], failed: set[str]) -> None:
    """Hide the failed records for the back-off of the most-received one (they stay in order behind it)."""
    records = [r for r in event.get("Records", []) if r.get("messageId") in failed]
    if not records:
        return
    count = max(int(r.get("attributes", {}).get("ApproximateReceiveCount", "1")) for r in records)
    timeout = min(SQS_MAX_VISIBILITY_SECONDS, backoff_seconds(count))
    arn = str(records[0].get("eventSourceARN", ""))
    try:
        sqs = clients.sqs()
        _, _, _, _, account, name = arn.split(":", 5)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": timeout}
                for i, r in enumerate(records)
            ],
        )
    except Exception as exc:  # the queue's own visibility timeout applies instead: slower, never lost
        logger.warning("back-off not applied", extra={"source": source, "error": one_line(exc)})
        return
    logger.warning(
        "backing off", extra={"source": source, "records": len(records), "receive_count": count, "seconds": timeout}
    )


def process_batch(source: SourceId, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The batch response: failed records (a transient error and every record behind it) backed off and listed."""
    try:
        response: dict[str, Any] = dict(
            process_partial_response(
                event=event, record_handler=_record_handler(source), processor=processor, context=context
            )
        )
    except BatchProcessingError:  # every record failed: report them all, after the back-off below
        response = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])]}
    finally:
        for _, exc, _ in processor.exceptions:
            if exc is not None and not isinstance(exc, SQSFifoCircuitBreakerError):
                logger.error("record failed", extra={"source": source, "error": one_line(exc)})
    failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
    _back_off(source, event, failed)
    return response


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=SQS_DEDUPLICATION_ID)
def yahoo_finance(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The process function of yahoo_finance (Handler: pipeline.handlers.process.yahoo_finance)."""
    return process_batch("yahoo_finance", event, context)


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=SQS_DEDUPLICATION_ID)
def coinmarketcap(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The process function of coinmarketcap (Handler: pipeline.handlers.process.coinmarketcap)."""
    return process_batch("coinmarketcap", event, context)


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=SQS_DEDUPLICATION_ID)
def openexchangerates(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The process function of openexchangerates (Handler: pipeline.handlers.process.openexchangerates)."""
    return process_batch("openexchangerates", event, context)
