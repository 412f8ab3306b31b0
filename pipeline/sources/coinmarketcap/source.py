"""CoinMarketCap as a `Source`: simulated, the API with a key, or the home page."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.constants import SourceId
from pipeline.settings import Settings
from pipeline.sources.base import PayloadError, RawRow
from pipeline.sources.coinmarketcap.api import api_key, fetch_api, parse_api
from pipeline.sources.coinmarketcap.page import fetch_page, parse_page
from pipeline.sources.coinmarketcap.rows import CmcPayload, to_raw
from pipeline.sources.coinmarketcap.simulated import simulate
from pipeline.state import StateStore


class CoinMarketCap:
    id: SourceId = "coinmarketcap"

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> CmcPayload:
        if settings.mode == "simulated":
            return simulate(settings.seed, scheduled_at, settings.cmc_top_n, settings.cmc_simulated_fault)
        key = api_key(settings)
        if key:
            return fetch_api(key, settings.cmc_top_n)
        return fetch_page(settings.cmc_top_n)

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, CmcPayload):
            raise PayloadError(f"coinmarketcap: expected a CmcPayload, got {type(payload).__name__}")
        rows = (
            parse_api(payload.body, payload.top_n) if payload.kind == "api" else parse_page(payload.body, payload.top_n)
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
                document = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise PayloadError(f"{path}: starts like JSON but is not ({exc.msg} at {exc.pos})") from exc
            if not isinstance(document, dict) or not ({"data", "status"} & document.keys()):
                raise PayloadError(f"{path}: JSON without 'data' or 'status': not a CoinMarketCap API body")
            return CmcPayload("api", text)
        return CmcPayload("html", text)


SOURCE = CoinMarketCap()
