"""The simulated twin: a service whose `timestamp` advances every minute (like a paid plan), with slowly moving
rates from `pipeline.sources.simulator`. `PIPELINE_OXR_SIMULATED_FAULT` makes it answer one of the documented
errors (`FAULTS`) through the live checks; its usage.json reports the calls the quota document counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pipeline.contracts import floor_minute
from pipeline.sources.budget import month_span
from pipeline.sources.openexchangerates.budget import QUOTA_STATE, calls_this_month
from pipeline.sources.openexchangerates.fetch import upstream_error
from pipeline.state import StateStore

DISCLAIMER = "Usage subject to terms: https://openexchangerates.org/terms"

LICENSE = "https://openexchangerates.org/license"

FAULTS: dict[str, tuple[int, str, str]] = {
    "missing_app_id": (401, "missing_app_id", "No App ID provided. Please sign up at https://openexchangerates.org."),
    "invalid_app_id": (401, "invalid_app_id", "Invalid App ID provided. Please sign up or check your App ID."),
    "not_allowed": (403, "not_allowed", "Changing the API `base` currency is not available on this plan."),
    "access_restricted": (403, "access_restricted", "Access restricted for repeated over-use (status: 429)."),
    "rate_limited": (429, "not_allowed", "Too many requests from this App ID; slow down."),
}


def simulate(seed: int, at: datetime) -> dict[str, Any]:
    """The simulated service's answer at a minute: its `timestamp` advances every minute, like a paid plan."""
    from pipeline.sources import simulator

    at = floor_minute(at)
    rates = simulator.fx_rates(seed, at)
    return {
        "disclaimer": DISCLAIMER, "license": LICENSE, "timestamp": int(at.timestamp()), "base": "USD",
        "rates": dict(sorted(rates.items())),
    }  # fmt: skip


def simulate_historical(seed: int, day: date) -> dict[str, Any]:
    """The simulated service's historical answer: the rates of the day's last minute (UTC)."""
    return simulate(seed, datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC))


@dataclass(frozen=True)
class SimulatedService:
    """The twin: rates of the minute `now`; a fault answers its documented error body through the same checks."""

    seed: int
    now: datetime
    fault: str = ""
    state: StateStore | None = None
    quota: int = 1000

    def _answer(self, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        if self.fault in FAULTS:
            status, message, description = FAULTS[self.fault]
            body = {"error": True, "status": status, "message": message, "description": description}
        error = upstream_error(body, status, alarm=True)
        if error is not None:
            raise error
        return body

    def latest(self) -> dict[str, Any]:
        return self._answer(simulate(self.seed, self.now))

    def usage(self) -> dict[str, Any]:
        doc = self.state.get(QUOTA_STATE) if self.state is not None else None
        used = calls_this_month(doc, self.now)
        start, end = month_span(self.now)
        elapsed = (self.now - start).days + 1
        usage = {
            "requests": used, "requests_quota": self.quota, "requests_remaining": max(0, self.quota - used),
            "days_elapsed": elapsed, "days_remaining": (end - self.now).days, "daily_average": used // elapsed,
        }  # fmt: skip
        plan = {"name": "Free", "quota": f"{self.quota} requests / month", "update_frequency": "3600s"}
        return self._answer({"status": 200, "data": {"app_id": "simulated", "status": "active", "plan": plan,
                                                     "usage": usage}})  # fmt: skip
