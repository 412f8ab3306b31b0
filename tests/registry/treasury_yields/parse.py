"""The parser: one raw row per tenor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.contracts import iso
from pipeline.sources.base import PayloadError


def parse_yields(payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or "yields" not in payload:
        raise PayloadError("not a yields payload: no 'yields'")
    tail = {"scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)}
    return [
        {"tenor": tenor, "yield_pct": value, "quote_ts": payload["as_of"], "status": "success", "error": "", **tail}
        for tenor, value in payload["yields"].items()
    ]
