"""The Yahoo ingest's figures as CloudWatch metrics, through Powertools Metrics (embedded metric format).

Per fetched minute, in namespace `MarketDataPipeline/<stack name>` (the template sets POWERTOOLS_METRICS_NAMESPACE;
`MarketDataPipeline` without it), dimension `service=yahoo_finance`:

    YahooRequests       HTTP requests sent to Yahoo (charts, cookie and crumb)      Count
    YahooRateLimited    of those, answers of HTTP 429                               Count
    YahooCoolingDown    1 when the minute opened the circuit breaker or fell in a cool-down, else 0
    YahooErrorRowShare  error rows among the minute's raw rows                      Percent
    YahooBars           success rows (closed, valid bars)                           Count
    YahooUnfetched      symbols left for the next minute (breaker, time budget)     Count

Powertools writes each flush as one JSON line on stdout, which CloudWatch Logs turns into metrics; two alarms of the
template watch them (YahooCoolingDown every minute of 30, YahooErrorRowShare above 10% for 15 minutes). Outside Lambda
(tests, the demo, the benchmark) nothing is written unless POWERTOOLS_METRICS_DISABLED=false asks for it.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final, Protocol

from pipeline.contracts import STATUS_ERROR, iso


class YahooPayload(Protocol):
    """What the figures read of a fetch (`pipeline.sources.yahoo_finance.YahooPayload`)."""

    @property
    def stats(self) -> dict[str, Any]: ...
    @property
    def unfetched(self) -> tuple[str, ...]: ...


NAMESPACE: Final = "MarketDataPipeline"
SERVICE: Final = "yahoo_finance"


def enabled() -> bool:
    """In Lambda unless switched off; elsewhere only when POWERTOOLS_METRICS_DISABLED is set to false."""
    explicit = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    if explicit is not None:
        return explicit.strip().lower() in ("0", "false", "no", "off")
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _flush(values: dict[str, tuple[str, float]], metadata: dict[str, Any]) -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE, service=SERVICE)
    for name, (unit, value) in values.items():
        metrics.add_metric(name=name, unit=getattr(MetricUnit, unit), value=value)
    for key, value in metadata.items():
        metrics.add_metadata(key=key, value=value)
    metrics.flush_metrics()


def figures(payload: YahooPayload, rows: list[dict[str, Any]] | None) -> dict[str, tuple[str, float]]:
    stats = payload.stats
    values: dict[str, tuple[str, float]] = {
        "YahooRequests": ("Count", float(stats.get("requests", 0))),
        "YahooRateLimited": ("Count", float(stats.get("rate_limited", 0))),
        "YahooCoolingDown": ("Count", 1.0 if stats.get("cooldown") else 0.0),
        "YahooUnfetched": ("Count", float(len(payload.unfetched))),
    }
    if rows is not None:
        errors = sum(1 for r in rows if r["status"] == STATUS_ERROR)
        values["YahooErrorRowShare"] = ("Percent", 100.0 * errors / len(rows) if rows else 100.0)
        values["YahooBars"] = ("Count", float(len(rows) - errors))
    else:  # every symbol failed: nothing written
        values["YahooErrorRowShare"] = ("Percent", 100.0)
        values["YahooBars"] = ("Count", 0.0)
    return values


def emit(payload: YahooPayload, rows: list[dict[str, Any]] | None) -> None:
    """One minute's figures (rows None: the minute failed as a whole and wrote nothing)."""
    if enabled():
        _flush(figures(payload, rows), {"scheduled_at": payload.stats.get("scheduled_at")})


def emit_cooldown(until: datetime, level: int) -> None:
    """A minute skipped by the circuit breaker: no request, cooling down."""
    if enabled():
        _flush(
            {"YahooRequests": ("Count", 0.0), "YahooCoolingDown": ("Count", 1.0)},
            {"cooldown_until": iso(until), "cooldown_level": level},
        )
