"""CoinMarketCap as a `Source`: simulated, the API with a key, or the home page."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import floor_minute, to_utc
from pipeline.settings import Settings
from pipeline.sources.base import PayloadError, RawRow, fetch_time, read_json
from pipeline.sources.coinmarketcap.budget import guarded_call
from pipeline.sources.coinmarketcap.fetch import api_key, fetch_api, fetch_page, key_info
from pipeline.sources.coinmarketcap.parse import parse_api, parse_page
from pipeline.sources.coinmarketcap.rows import CmcPayload, to_raw
from pipeline.sources.coinmarketcap.simulated import SimulatedApi, simulate
from pipeline.state import MemoryState, StateStore

_PROCESS_STATE = MemoryState()  # when no StateStore is handed in: the guard holds within one warm process


def wall_clock() -> datetime:
    return datetime.now(UTC)


class CoinMarketCap:
    id: SourceId = "coinmarketcap"

    def __init__(self, clock: Callable[[], datetime] = wall_clock) -> None:
        self.clock = clock  # the wall clock of the API's credit decisions (tests set their own)

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> CmcPayload:
        minute = floor_minute(scheduled_at)
        key = api_key(settings)
        simulated = settings.mode == "simulated"
        if simulated and not key and settings.cmc_simulated_fault not in ("exhausted", "daily_exhausted"):
            return simulate(settings.seed, minute, settings.cmc_top_n, settings.cmc_simulated_fault)
        if not key and not simulated:
            return fetch_page(settings.cmc_top_n)
        store = state if state is not None else _PROCESS_STATE
        if simulated:  # the simulated API: the scheduled minute is the simulated world's clock
            twin = SimulatedApi(settings.seed, minute, settings.cmc_top_n, settings.cmc_simulated_fault, store)
            listing, info, now = twin.listing, twin.key_info, minute
        else:
            assert key is not None

            def listing() -> CmcPayload:
                return fetch_api(key, settings.cmc_top_n)

            def info() -> dict[str, Any]:
                return key_info(key)

            now = to_utc(self.clock())
        return guarded_call(
            store, minute, now, monthly_credits=settings.cmc_monthly_credits,
            min_interval=settings.cmc_min_interval_seconds, listing=listing, key_info=info,
        )  # fmt: skip

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, CmcPayload):
            raise PayloadError(f"coinmarketcap: expected a CmcPayload, got {type(payload).__name__}")
        fetched = fetch_time(scheduled_at, ingested_at)
        rows = (
            parse_api(payload.body, payload.top_n, fetched)
            if payload.kind == "api"
            else parse_page(payload.body, payload.top_n)
        )
        return to_raw(rows, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def load_payload(self, path: Path) -> CmcPayload:
        """A saved home page (HTML) or API body (JSON); which one is told by the content."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{path}: cannot read the saved page ({type(exc).__name__})") from exc
        stripped = text.lstrip()
        if stripped.startswith("{"):
            try:
                document = read_json(stripped)
            except json.JSONDecodeError as exc:
                raise PayloadError(f"{path}: starts like JSON but is not ({exc.msg} at {exc.pos})") from exc
            if not isinstance(document, dict) or not ({"data", "status"} & document.keys()):
                raise PayloadError(f"{path}: JSON without 'data' or 'status': not a CoinMarketCap API body")
            return CmcPayload("api", text)
        return CmcPayload("html", text)


SOURCE = CoinMarketCap()
