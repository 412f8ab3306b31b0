"""The compaction function, scheduled (`CompactionSchedule` in the template, rate(1 hour)): every finished UTC day
of the processed CoinMarketCap area that still holds per-minute objects is merged into one
`processed/coinmarketcap/YYYY/MM/DD/compacted.parquet`, then those objects are deleted
(`pipeline.sinks.s3parquet.dataset`). A day is finished an hour after it ends, on the scheduled time of the
invocation (the EventBridge event's `time`), never the wall clock. A run with nothing to merge writes nothing.

`def coinmarketcap(event, context)` is the function whose template `Handler:` is
`pipeline.handlers.compact.coinmarketcap` (the one source whose sink is the processed area:
`pipeline.handlers.COMPACTED_SOURCES`); its log lines carry the EventBridge event's id as the correlation id.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import clients
from pipeline.contracts import scheduled_minute
from pipeline.handlers import COMPACTED_SOURCES, callable_outside_lambda

__all__ = ["COMPACTED_SOURCES", "coinmarketcap", "compact_finished_days"]

logger = Logger(service="compact")


def compact_finished_days(source: str, event: dict[str, Any]) -> dict[str, Any]:
    """Compact the finished days of the processed area at the event's scheduled time; the days touched."""
    from pipeline.sinks.s3parquet.dataset import ProcessedDataset

    now = scheduled_minute(event)
    results = ProcessedDataset(clients.s3(), clients.settings().bucket).compact(now)
    summary = {"source": source, "days": [r.as_dict() for r in results if r.deleted or r.rows]}
    if summary["days"]:
        logger.info("compacted", extra=summary)
    return summary


@callable_outside_lambda
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def coinmarketcap(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The compaction function of coinmarketcap (Handler: pipeline.handlers.compact.coinmarketcap)."""
    return compact_finished_days("coinmarketcap", event)
