"""The compaction function, scheduled (`CompactionSchedule` in the template, rate(1 hour)): every finished UTC day
of the processed CoinMarketCap area that still holds per-minute objects is merged into one
`processed/coinmarketcap/YYYY/MM/DD/compacted.parquet`, then those objects are deleted
(`pipeline.sinks.s3parquet.dataset`). A day is finished an hour after it ends, on the scheduled time of the
invocation (the EventBridge event's `time`), never the wall clock. A run with nothing to merge writes nothing.

Handler string: `pipeline.handlers.compact.coinmarketcap` (the one source whose sink is the processed area).
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger

from pipeline import clients
from pipeline.contracts import scheduled_minute
from pipeline.handlers import Handler, _entry_point

logger = Logger(service="compact")

COMPACTED_SOURCES: Final = ("coinmarketcap",)  # the sources whose sink is the processed Parquet area


def _handle(source: str, event: dict[str, Any], context: Any) -> dict[str, Any]:
    from pipeline.sinks.s3parquet.dataset import ProcessedDataset

    now = scheduled_minute(event)
    results = ProcessedDataset(clients.s3(), clients.settings().bucket).compact(now)
    summary = {"source": source, "days": [r.as_dict() for r in results if r.deleted or r.rows]}
    if summary["days"]:
        logger.info("compacted", extra=summary)
    return summary


def __getattr__(name: str) -> Handler:
    """`pipeline.handlers.compact.coinmarketcap`; any other name is not a handler of this module."""
    if name not in COMPACTED_SOURCES:
        raise AttributeError(f"no handler {name!r}: the compaction serves {', '.join(COMPACTED_SOURCES)}")
    return _entry_point(name, _handle)
