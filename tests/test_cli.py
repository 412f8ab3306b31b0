"""The command line as a person uses it: `python -m pipeline ...`, one-line errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "sources" / "fixtures" / "coinmarketcap"


def pipeline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_parse_a_page_with_a_listing_table_prints_ten_rows_with_signed_changes():
    result = pipeline("parse", "coinmarketcap", str(FIXTURES / "home_listing_table.html"))

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 10
    assert {r["status"] for r in rows} == {"success"}
    changes = [float(r["change_24h_pct"]) for r in rows]
    assert any(c < 0 for c in changes) and any(c > 0 for c in changes)


def test_parse_a_challenge_page_fails_with_one_line_naming_the_challenge():
    result = pipeline("parse", "coinmarketcap", str(FIXTURES / "home_neither.html"))  # "Just a moment..."

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "coinmarketcap.com challenged" in lines[0] and "not a layout change" in lines[0]


@pytest.mark.parametrize(
    ("listing", "says"),
    [
        ({"listingLatest": [{"cmcRank": 1, "name": "Bitcoin", "symbol": "BTC", "quote": {"BTC": {"price": 1.0}}}]},
         "is quoted in BTC, not US dollars"),
        ({"trending": [{"cmcRank": r, "name": s, "symbol": s, "quote": {"USD": {"price": 2.0}}}
                       for r, s in ((7, "TRX"), (19, "LINK"), (42, "PEPE"))]},
         "ranks 7, 19, 42) is not a top-10 listing"),
    ],
)  # fmt: skip
def test_parse_refuses_a_non_dollar_listing_and_a_trending_widget_with_one_line(tmp_path, listing, says):
    page = tmp_path / "home.html"
    page.write_text(f'<html><body><script id="__NEXT_DATA__">{json.dumps({"props": listing})}</script></body></html>')
    result = pipeline("parse", "coinmarketcap", str(page))

    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0]


def test_parse_a_page_with_neither_way_in_fails_with_one_line(tmp_path):
    page = tmp_path / "home.html"
    page.write_text("<html><head><title>CoinMarketCap</title></head><body><main></main></body></html>")
    result = pipeline("parse", "coinmarketcap", str(page))

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: coinmarketcap page: no listing found")
    assert "layout changed" in lines[0]


def test_an_unknown_source_is_one_line_naming_the_known_ones(tmp_path):
    page = tmp_path / "x.html"
    page.write_text("<html></html>")
    result = pipeline("parse", "bloomberg", str(page))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: unknown source 'bloomberg': expected one of yahoo_finance, coinmarketcap, openexchangerates"
    )


def test_run_without_a_local_stack_says_how_to_start_one(tmp_path):
    result = pipeline("run", "--minutes", "1", env={"PIPELINE_LOCAL_DIR": str(tmp_path)})

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: the local stack is not running: start it with `python -m pipeline local up`"
    )


@pytest.mark.parametrize("command", ["local", "layer", "deploy", "run", "ingest", "parse", "verify", "replay", "demo"])
def test_every_documented_command_has_help(command):
    result = pipeline(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
