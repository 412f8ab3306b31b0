"""`pipeline universe refresh`: the universe file follows the index, in Yahoo's spelling, showing what changed."""

from __future__ import annotations

import csv

import pytest
import responses
from typer.testing import CliRunner

from pipeline.sources import PayloadError
from pipeline.sources.yahoo_finance import universe as u
from workbench.cli import app


def _index(tmp_path, drop: str, add: tuple[str, str, str]) -> tuple[list[u.Listing], object]:
    """The shipped list with one symbol dropped and one added, as Wikipedia spells them (BRK.B, BF.B)."""
    listings = [x for x in u.sp500() if x.symbol != drop] + [u.Listing(*add)]
    path = tmp_path / "constituents.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Symbol", "Security", "GICS Sector", "GICS Sub-Industry", "Date added"])
        for x in listings:
            writer.writerow([x.symbol.replace("BRK-B", "BRK.B").replace("BF-B", "BF.B"), x.name, x.sector, "", ""])
    return listings, path


def test_refresh_from_a_csv_shows_additions_and_removals_and_keeps_yahoo_spelling(tmp_path):
    out = tmp_path / "sp500.csv"
    out.write_bytes(u.universe_file().read_bytes())
    _, source = _index(tmp_path, drop="MMM", add=("NEWC", "New Company Inc.", "Information Technology"))

    result = CliRunner().invoke(app, ["universe", "refresh", "--from-csv", str(source), "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "added" in result.stdout and "NEWC" in result.stdout
    assert "removed" in result.stdout and "MMM" in result.stdout
    assert "1 added, 1 removed, 0 changed" in result.stdout
    written = [row["symbol"] for row in csv.DictReader(out.open(encoding="utf-8"))]
    assert "NEWC" in written and "MMM" not in written and len(written) == 503
    assert {"BRK-B", "BF-B"} <= set(written) and not any("." in s for s in written)


def test_a_dry_run_writes_nothing_and_an_unchanged_list_says_so(tmp_path):
    out = tmp_path / "sp500.csv"
    out.write_bytes(u.universe_file().read_bytes())
    _, source = _index(tmp_path, drop="MMM", add=("NEWC", "New Company Inc.", "Information Technology"))
    dry = CliRunner().invoke(app, ["universe", "refresh", "--from-csv", str(source), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and "nothing written" in dry.stdout
    assert out.read_bytes() == u.universe_file().read_bytes()

    same = tmp_path / "same.csv"
    same.write_bytes(u.universe_file().read_bytes())
    again = CliRunner().invoke(app, ["universe", "refresh", "--from-csv", str(same), "--out", str(out)])
    assert again.exit_code == 0 and "up to date (503 constituents)" in again.stdout


@responses.activate
def test_the_live_source_is_wikipedias_constituents_table():
    rows = "".join(
        f"<tr><td><a>{x.symbol.replace('-', '.')}</a></td><td>{x.name}</td><td>{x.sector}</td><td>x</td></tr>"
        for x in u.sp500()
    )
    page = (
        "<html><body><table id='constituents'><tr><th>Symbol</th><th>Security</th><th>GICS Sector</th>"
        f"<th>GICS Sub-Industry</th></tr>{rows}</table></body></html>"
    )
    responses.get(u.WIKIPEDIA_URL, body=page)
    listings = u.fetch_constituents()
    assert listings == list(u.sp500())
    assert "market-data-pipeline" in responses.calls[0].request.headers["User-Agent"]


def test_a_page_without_the_table_or_a_short_list_is_one_line(tmp_path):
    with pytest.raises(PayloadError, match="no table with id 'constituents'"):
        u.parse_constituents_html("<html><table id='other'></table></html>")
    short = tmp_path / "short.csv"
    short.write_text("Symbol,Security,GICS Sector\nAAPL,Apple Inc.,Information Technology\n")
    with pytest.raises(PayloadError, match="1 constituents, expected 450-560"):
        u.read_constituents_csv(short)
