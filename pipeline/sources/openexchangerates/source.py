"""The `Source` the registry names: the guarded fetch (live or simulated), the parser, saved bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import floor_minute, to_utc
from pipeline.errors import PipelineError
from pipeline.settings import Settings
from pipeline.sources.base import (
    PayloadError,
    RawRow,
    UpstreamRefused,
    read_json,
)
from pipeline.sources.openexchangerates.budget import _PROCESS_STATE, guarded_fetch
from pipeline.sources.openexchangerates.fetch import LiveService, Service
from pipeline.sources.openexchangerates.parse import parse_body, rates_time
from pipeline.sources.openexchangerates.simulated import SimulatedService
from pipeline.state import StateStore


def wall_clock() -> datetime:
    return datetime.now(UTC)


class OpenExchangeRates:
    id: SourceId = "openexchangerates"

    def __init__(self, clock: Callable[[], datetime] = wall_clock) -> None:
        self.clock = clock  # the wall clock of live decisions (tests set their own)

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> dict[str, Any]:
        minute = floor_minute(scheduled_at)
        store = state if state is not None else _PROCESS_STATE
        service: Service
        if settings.mode == "simulated":  # the simulated world's clock is the scheduled minute
            now = minute
            service = SimulatedService(
                settings.seed, now, settings.oxr_simulated_fault, store, settings.oxr_monthly_quota
            )
        else:
            now = to_utc(self.clock())
            app_id = settings.secret(settings.oxr_app_id, settings.oxr_app_id_secret_arn)
            if not app_id:
                raise UpstreamRefused(
                    "openexchangerates: no app id: set PIPELINE_OXR_APP_ID or PIPELINE_OXR_APP_ID_SECRET_ARN"
                )
            service = LiveService(app_id)
        return guarded_fetch(
            store, minute, now=now, refresh_seconds=settings.oxr_refresh_seconds,
            monthly_quota=settings.oxr_monthly_quota, service=service,
        )  # fmt: skip

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        return parse_body(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def saved_at(self, payload: Any) -> datetime | None:
        """The minute of a saved body's own `timestamp` (None for a body without a usable one)."""
        try:
            return rates_time(payload)
        except (PipelineError, AttributeError):
            return None

    def load_payload(self, path: Path) -> dict[str, Any]:
        try:
            body = read_json(Path(path).read_text(encoding="utf-8"), mark_repeats=True)
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{path}: cannot read the saved body ({type(exc).__name__})") from exc
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(body, dict):
            raise PayloadError(f"{path}: not a JSON object: not an Open Exchange Rates body")
        return body


SOURCE = OpenExchangeRates()
