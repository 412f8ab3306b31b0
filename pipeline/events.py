"""Publishing the event of a raw object to the SNS FIFO topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.constants import SOURCE_ATTRIBUTE
from pipeline.contracts import Event

if TYPE_CHECKING:
    from types_boto3_sns.client import SNSClient


def publish(sns: SNSClient, topic_arn: str, event: Event, etag: str) -> str:
    """Publish `event`; returns the SNS message id.

    The message group is the source (FIFO order per source), the deduplication id a hash of bucket, key and ETag
    (a re-ingest with new content is a new event, a duplicate publish is not), and the `source` message attribute
    is what each queue's subscription filters on.
    """
    if not topic_arn:
        raise ValueError("no topic ARN configured: set PIPELINE_TOPIC_ARN (or run `python -m pipeline local up`)")
    response = sns.publish(
        TopicArn=topic_arn,
        Message=event.model_dump_json(),
        MessageGroupId=event.source,
        MessageDeduplicationId=event.deduplication_id(etag),
        MessageAttributes={SOURCE_ATTRIBUTE: {"DataType": "String", "StringValue": event.source}},
    )
    return str(response["MessageId"])
