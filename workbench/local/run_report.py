"""What a run of the local runtime reports (`workbench.local.runtime.LocalRuntime.run`): per source, the raw objects
written, the events delivered, retries, back-offs, dead letters and latency; as a table, JSON and advice."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import iso


@dataclass
class SourceStats:
    raw_keys: set[str] = field(default_factory=set)
    skipped: int = 0
    ingest_retries: int = 0  # failed ingest invocations that Lambda's asynchronous retries tried again
    ingest_errors: list[str] = field(default_factory=list)
    events: set[str] = field(default_factory=set)
    delivered_keys: set[str] = field(default_factory=set)  # the raw keys whose events reached the process function
    rows_processed: int = 0
    failed_deliveries: int = 0
    process_errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    dead_letters: int = 0
    backoffs: int = 0  # records whose visibility a handler extended
    redriven: int = 0  # events the scheduled redrive sent back from the dead-letter queue

    @property
    def undelivered(self) -> set[str]:
        """Raw objects this run wrote whose events never reached the process function (a message of the queue held
        in flight elsewhere blocks its FIFO group)."""
        return self.raw_keys - self.delivered_keys

    def latency(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class RunReport:
    start: datetime
    minutes: int
    wall_seconds: float = 0.0
    sources: dict[SourceId, SourceStats] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(not s.ingest_errors and not s.dead_letters and not s.undelivered for s in self.sources.values())

    def advice(self) -> list[str]:
        """One line per source whose events did not all arrive: why, and what to do."""
        return [
            f"{source}: {len(s.undelivered)} of {len(s.raw_keys)} raw object(s) written in this run had no event "
            f"delivered: a message of its queue is in flight elsewhere (received by another run or a script, so its "
            f"FIFO group waits); run again once it is visible (within the queue's visibility timeout), then "
            f"`python -m pipeline verify`"
            for source, s in self.sources.items()
            if s.undelivered
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "minutes": self.minutes,
            "wall_seconds": round(self.wall_seconds, 2),
            "sources": {
                source: {
                    "raw_objects": len(s.raw_keys),
                    "skipped_minutes": s.skipped,
                    "ingest_errors": len(s.ingest_errors),
                    "events_delivered": len(s.events),
                    "undelivered": len(s.undelivered),
                    "rows_processed": s.rows_processed,
                    "failed_deliveries": s.failed_deliveries,
                    "dead_letters": s.dead_letters,
                    "backoffs": s.backoffs,
                    "redriven": s.redriven,
                    "latency_p50_ms": _round(s.latency(0.50)),
                    "latency_p95_ms": _round(s.latency(0.95)),
                }
                for source, s in self.sources.items()
            },
        }

    def table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"{self.minutes} scheduled minutes from {iso(self.start)} ({self.wall_seconds:.1f} s)")
        # Headers on two lines: the table is under 100 characters wide, so it fits a notebook's column.
        for name in ("source", "raw\nobjects", "skipped", "events\ndelivered", "rows\nprocessed", "retries",
                     "dead\nletters", "p50\nms", "p95\nms"):  # fmt: skip
            table.add_column(name, justify="left" if name == "source" else "right")
        for source, row in self.as_dict()["sources"].items():
            table.add_row(
                source,
                str(row["raw_objects"]),
                str(row["skipped_minutes"]),
                str(row["events_delivered"]),
                str(row["rows_processed"]),
                str(row["failed_deliveries"]),
                str(row["dead_letters"]),
                _fmt(row["latency_p50_ms"]),
                _fmt(row["latency_p95_ms"]),
            )
        return table


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
