"""The `Source` the registry names: here only the simulated twin (no live service to call), the parser and a
payload loader."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from pipeline.state import StateStore
from tests.registry.treasury_yields.parse import parse_yields
from tests.registry.treasury_yields.simulated import simulate


class TreasurySource:
    id = "treasury_yields"

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> dict[str, Any]:
        """The simulated twin, in either mode (a fake source: `fetch.fetch_live` has no service to call)."""
        return simulate(scheduled_at)

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[dict[str, Any]]:
        return parse_yields(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)

    def load_payload(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


SOURCE = TreasurySource()
