"""`make demo` in small: stack up (found running), minutes through the pipeline, verification, the budget line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from pipeline.constants import Env
from workbench.local.demo import demo

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_the_demo_runs_verifies_and_reports_the_plan_the_run_used(clean_stack, monkeypatch):
    # an emptied bucket: no quota state left by earlier tests; `up` finds the test session's stack running
    monkeypatch.setenv(Env.LOCAL_DIR, clean_stack.local_dir)
    console = Console(record=True, width=200)

    ok = demo(2, datetime(2026, 11, 5, 15, 0, tzinfo=UTC), console=console, render_report=False)

    text = console.export_text()
    assert ok, text
    assert "2 scheduled minutes from 2026-11-05T15:00:00Z" in text
    assert "Reconciliation" in text and "missing" in text
    # the simulated service publishes every minute and has no quota: the line says what the run did
    assert "Open Exchange Rates budget: 2 call(s) in 2026-11 of unlimited; at one call per 60 s" in text
    assert "CoinMarketCap budget: the home page is read (no API key), so no API credits are spent" in text
