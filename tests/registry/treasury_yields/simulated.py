"""The simulated twin: the same JSON form a live endpoint would return, deterministic from the minute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.contracts import iso

TENORS = {"2Y": 4.12, "10Y": 4.31, "30Y": 4.55}


def simulate(scheduled_at: datetime) -> dict[str, Any]:
    step = scheduled_at.minute / 1000
    return {"as_of": iso(scheduled_at), "yields": {t: round(y + step, 4) for t, y in TENORS.items()}}
