"""A cell a spreadsheet would execute is data: the raw layer keeps it as it came, `pipeline parse` (CSV for
people) prints it with a leading apostrophe, and numbers (negative changes) stay numbers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from pipeline.raw import csv_to_rows, rows_to_csv, spreadsheet_cell
from workbench.cli import app

FORMULAS = ["=1+1", "=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
            "-inf", "-", "+", "=", "＝1+1", "-cmd|' /C calc'!A0"]  # fmt: skip
KEPT = ["-0.5", "-1e-05", "+3", "-.5", "1.5E+2", "0", "BRK-B", "Bitcoin", "", "a=b", "x@y", "'=1", " =1"]


@pytest.mark.parametrize("cell", FORMULAS, ids=repr)
def test_a_cell_that_would_start_a_formula_gets_an_apostrophe(cell):
    assert spreadsheet_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", KEPT, ids=repr)
def test_numbers_and_plain_text_are_left_alone(cell):
    assert spreadsheet_cell(cell) == cell


def api_body(names: dict[int, str]) -> dict[str, object]:
    data = [
        {"cmc_rank": rank, "id": rank, "name": names.get(rank, f"Coin {rank}"), "symbol": f"C{rank}",
         "circulating_supply": 1000.0, "last_updated": "2026-11-17T14:59:00.000Z",
         "quote": {"USD": {"price": 10.0 + rank, "volume_24h": 5.0, "market_cap": 1e4, "percent_change_1h": -0.5,
                           "percent_change_24h": 1.25, "percent_change_7d": -12.0}}}
        for rank in range(1, 11)
    ]  # fmt: skip
    return {"status": {"error_code": 0}, "data": data}


def test_parse_prints_a_formula_as_text_and_the_raw_layer_keeps_it(tmp_path):
    attack = "=cmd|' /C calc'!A0"
    body = api_body({1: attack, 2: "@SUM(1+1)"})
    path = tmp_path / "listings.json"
    path.write_text(json.dumps(body))

    result = CliRunner().invoke(app, ["parse", "coinmarketcap", str(path), "--at", "2026-11-17T15:00:00Z"])

    assert result.exit_code == 0, result.output
    printed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in printed[:3]] == ["'" + attack, "'@SUM(1+1)", "Coin 3"]
    assert all(float(r["change_1h_pct"]) == -0.5 for r in printed)  # negative numbers stay numbers
    assert all(float(r["change_7d_pct"]) == -12.0 for r in printed)

    from pipeline.sources import parse_file

    raw_rows = parse_file("coinmarketcap", path)
    stored = csv_to_rows("coinmarketcap", rows_to_csv("coinmarketcap", raw_rows))
    assert [r["name"] for r in stored[:2]] == [attack, "@SUM(1+1)"]  # raw is data, never altered
