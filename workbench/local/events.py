"""The events Lambda hands the functions, as AWS shapes them: EventBridge's scheduled event (the ingest, redrive and
compaction functions) and the batch of an SQS event source mapping (the process functions). The local runtime,
the artifacts run, the tests and the notebooks build their invocations with them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import iso


def scheduled_event(source: SourceId, at: datetime, region: str = "us-east-1") -> dict[str, Any]:
    """An EventBridge scheduled event, as the rule for `source` delivers it at minute `at`."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{iso(at)}")),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": iso(at),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/ingest-{source}"],
        "detail": {},
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event an SQS event source mapping hands to Lambda for a batch of received messages."""
    records = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}
