"""The command line as a person uses it: `python -m pipeline ...`, one-line errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
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


def test_an_unknown_source_is_a_usage_error_naming_the_known_ones(tmp_path):  # see also the table below
    page = tmp_path / "x.html"
    page.write_text("<html></html>")
    result = pipeline("parse", "bloomberg", str(page))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for 'source': unknown source 'bloomberg': expected one of yahoo_finance, coinmarketcap, "
        "openexchangerates"
    )


def test_run_without_a_local_stack_says_how_to_start_one(tmp_path):
    result = pipeline("run", "--minutes", "1", env={"PIPELINE_LOCAL_DIR": str(tmp_path)})

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: the local stack is not running: start it with `python -m pipeline local up`"
    )


@pytest.mark.parametrize(
    "command", ["local", "layer", "deploy", "run", "ingest", "parse", "verify", "replay", "demo", "status", "backfill"]
)
def test_every_documented_command_has_help(command):
    result = pipeline(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


# -- what a user can type wrong: Click's usage line and exit 2, or one line and exit 1; never a traceback ----------
PAGE = str(FIXTURES / "home_listing_table.html")
UNKNOWN = "unknown source 'bloomberg': expected one of yahoo_finance, coinmarketcap, openexchangerates"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["ingest", "yahoo_finance"], {}, "Error: Missing option '--at'."),
        (["run", "--minutes", "-1"], {}, "Error: Invalid value for '--minutes': Input should be greater than or equal"),
        (["run", "--minutes", "abc"], {}, "Error: Invalid value for '--minutes': Input should be a valid integer"),
        (["run", "--speed", "0"], {}, "Error: Invalid value for '--speed': Input should be greater than or equal"),
        (["run", "--speed", "-1"], {}, "Error: Invalid value for '--speed': Input should be greater than or equal"),
        (["parse", "coinmarketcap", "/"], {}, "Error: Invalid value for 'file': file '/' is a directory."),
        (["parse", "coinmarketcap", "/no/such/page.html"], {},
         "Error: Invalid value for 'file': file '/no/such/page.html' does not exist."),
        (["nosuch"], {}, "Error: No such command 'nosuch'."),
        (["local", "sideways"], {}, "Error: No such command 'sideways'."),
        (["run", "--frobnicate"], {}, "Error: No such option: --frobnicate"),
        (["backfill", "yahoo_finance", "--from", "2026-11-18T15:00Z"], {}, "Error: Missing option '--to'."),
        (["parse", "bloomberg", PAGE], {}, f"Error: Invalid value for 'source': {UNKNOWN}"),
        (["ingest", "bloomberg", "--at", "2026-11-02T15:00Z"], {}, f"Error: Invalid value for 'source': {UNKNOWN}"),
        (["redrive", "bloomberg"], {}, f"Error: Invalid value for 'source': {UNKNOWN}"),
        (["backfill", "bloomberg", "--from", "2026-11-18T15:00Z", "--to", "2026-11-18T16:00Z"], {},
         f"Error: Invalid value for 'source': {UNKNOWN}"),
        (["run", "--source", "bloomberg"], {}, f"Error: Invalid value for '--source': {UNKNOWN}"),
        (["run", "--source", "coinmarketcap", "--source", "Coinmarketcap"], {},
         "Error: Invalid value for '--source': unknown source 'Coinmarketcap'"),
        (["replay", "--source", "bloomberg"], {}, f"Error: Invalid value for '--source': {UNKNOWN}"),
        (["verify", "--source", ""], {}, "Error: Invalid value for '--source': unknown source ''"),
        (["status", "--source", "oxr"], {}, "Error: Invalid value for '--source': unknown source 'oxr'"),
        (["soak", "--source", "bloomberg"], {}, f"Error: Invalid value for '--source': {UNKNOWN}"),
        (["quarantine", "list", "--source", "bloomberg"], {}, f"Error: Invalid value for '--source': {UNKNOWN}"),
        # a reversed window is not an empty one
        (["verify", "--from", "2026-11-02T15:00Z", "--to", "2026-11-02T14:00Z"], {},
         "Error: Invalid value for '--from': 2026-11-02T15:00:00Z is after --to 2026-11-02T14:00:00Z"),
        (["verify", "--from", "2026-11-02T15:01+00:00", "--to", "2026-11-02T10:00-05:00"], {},
         "Error: Invalid value for '--from': 2026-11-02T15:01:00Z is after --to 2026-11-02T15:00:00Z"),
        (["replay", "--from", "2026-11-03T00:00Z", "--to", "2026-11-02T23:59Z"], {},
         "Error: Invalid value for '--from': 2026-11-03T00:00:00Z is after --to 2026-11-02T23:59:00Z"),
        # a directory given as the file to write
        (["soak", "--output", "/tmp"], {}, "Error: Invalid value for '--output': file '/tmp' is a directory."),
        # a price is a finite number above 0
        (["cost", "--credit-price", "nan", "--json"], {}, "Error: Invalid value for '--credit-price'"),
        (["cost", "--credit-price", "-5"], {}, "Error: Invalid value for '--credit-price'"),
        (["cost", "--credit-price", "0"], {}, "Error: Invalid value for '--credit-price'"),
        (["cost", "--credit-price", "inf"], {}, "Error: Invalid value for '--credit-price'"),
        (["cost", "--credit-price", "1e309"], {}, "Error: Invalid value for '--credit-price'"),
        (["cost"], {"PIPELINE_SNOWFLAKE_CREDIT_PRICE": "NaN"}, "Error: Invalid value for '--credit-price'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_clicks_usage_line_and_exit_2(args, env, says):
    result = pipeline(*args, env=env)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Usage: python -m pipeline")
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(says), result.stderr


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["verify"], {"PIPELINE_SNOWFLAKE_PORT": "abc"},
         "error: PIPELINE_SNOWFLAKE_PORT='abc': Input should be a valid integer, unable to parse string as an integer "
         "(fix the variable in the environment or .env)"),
        (["run"], {"PIPELINE_UNIVERSE_LIMIT": "0"},
         "error: PIPELINE_UNIVERSE_LIMIT='0': Input should be greater than or equal to 1 "
         "(fix the variable in the environment or .env)"),
        (["local", "status"], {"PIPELINE_MODE": "sideways"},
         "error: PIPELINE_MODE='sideways': Input should be 'live' or 'simulated' "
         "(fix the variable in the environment or .env)"),
        (["ingest", "yahoo_finance", "--at", "9999-12-31T00:00Z"], {},
         "error: --at: '9999-12-31T00:00Z' is outside the years 1970-2100"),
        (["ingest", "yahoo_finance", "--at", "0001-01-01T00:00Z"], {},
         "error: --at: '0001-01-01T00:00Z' is outside the years 1970-2100"),
        (["ingest", "yahoo_finance", "--at", "yesterday"], {},
         "error: --at: not an ISO-8601 time: 'yesterday' (write e.g. 2026-11-02T14:45Z)"),
        (["run", "--start", "garbage"], {},
         "error: --start: not an ISO-8601 time: 'garbage' (write e.g. 2026-11-02T14:45Z)"),
        (["verify", "--from", "2026-13-40"], {},
         "error: --from: not an ISO-8601 time: '2026-13-40' (write e.g. 2026-11-02T14:45Z)"),
        (["parse", "coinmarketcap", PAGE, "--at", "14:45 tomorrow"], {},
         "error: --at: not an ISO-8601 time: '14:45 tomorrow' (write e.g. 2026-11-02T14:45Z)"),
    ],
)  # fmt: skip
def test_a_bad_value_setting_or_time_is_one_line_naming_it_and_exit_1(tmp_path, args, env, line):
    result = pipeline(*args, env={"PIPELINE_LOCAL_DIR": str(tmp_path), **env})

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.strip().splitlines() == [line]


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S%z")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["ingest", "openexchangerates", "--at", "2099-02-01T15:00Z"], "--at"),
        (["ingest", "coinmarketcap", "--at", _later(hours=1)], "--at"),
        (["ingest", "yahoo_finance", "--at", _later(days=400)], "--at"),
        (["run", "--start", "2099-01-01T00:00Z"], "--start"),
        (["run", "--start", _later(minutes=30), "--minutes", "1"], "--start"),
        (["soak", "--start", _later(days=2)], "--start"),
        (["demo", "--start", _later(hours=2)], "--start"),
        (["verify", "--from", _later(days=1)], "--from"),
        (["replay", "--from", _later(days=1)], "--from"),
        (["backfill", "openexchangerates", "--from", _later(days=1), "--to", _later(days=2)], "--from"),
        (["backfill", "yahoo_finance", "--from", "2026-12-01T15:00Z", "--to", _later(hours=2)], "--to"),
        (["verify", "--market", "--from", "2026-12-01T15:00Z", "--to", _later(days=1)], "--to"),
        (["status", "--at", _later(days=30)], "--at"),
    ],
)
def test_a_minute_that_has_not_come_is_refused_in_one_line_before_anything_is_written(tmp_path, args, option):
    result = pipeline(*args, env={"PIPELINE_LOCAL_DIR": str(tmp_path)})

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {option}: ") and "is later than now" in line
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "openexchangerates", "--at", "2026-11-02T15:00Z"],
        ["ingest", "openexchangerates", "--at", _later(minutes=-1)],
        ["ingest", "coinmarketcap", "--at", _later(minutes=1)],  # within the clock skew
        ["run", "--start", "2026-11-02 09:45-05:00", "--minutes", "1"],
        ["verify", "--from", "2026-11-02T14:45Z", "--to", "2026-11-02T14:45Z"],  # one minute
        ["verify", "--from", "2026-11-02T15:45+01:00", "--to", "2026-11-02T14:45Z"],  # the same minute
        ["replay", "--from", "2026-11-02T14:00Z", "--to", _later(days=1)],  # a window up to now and beyond
        ["replay", "--source", "yahoo_finance", "--source", "openexchangerates"],
        ["run", "--source", "coinmarketcap", "--minutes", "1"],
    ],
)
def test_a_past_minute_a_window_in_order_and_a_known_source_get_to_the_stack(tmp_path, args):
    result = pipeline(*args, env={"PIPELINE_LOCAL_DIR": str(tmp_path)})

    # accepted as typed: the command goes on to the local stack, which is not running here
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the local stack is not running: start it with `python -m pipeline local up`"
    ]


@pytest.mark.parametrize("price", ["3", "2.5e0", "0.01", " 4.5"])
def test_a_credit_price_written_other_ways_is_billed(price):
    result = pipeline("cost", "--credit-price", price, "--json", "--assumed-durations")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{file}", "is a file, not a directory"),
        ("{file}/local", "cannot be created: {file} is a file"),
        ("{file}/a/b", "cannot be created: {file} is a file"),
    ],
)
@pytest.mark.parametrize("command", [["local", "status"], ["local", "up"], ["run", "--minutes", "1"], ["verify"]])
def test_a_local_dir_that_cannot_be_a_directory_is_one_line_naming_the_variable(tmp_path, command, value, why):
    file = tmp_path / "hostname"
    file.write_text("box\n")
    value, why = value.format(file=file), why.format(file=file)
    result = pipeline(*command, env={"PIPELINE_LOCAL_DIR": value})

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: PIPELINE_LOCAL_DIR={value!r} {why} (point it at a directory of your own, or unset it)"
    ]


@pytest.mark.parametrize("value", ["{tmp}", "{tmp}/", "{tmp}/new/deeper", "{tmp}/./x/../y"])
def test_a_local_dir_that_is_or_can_be_a_directory_is_used(tmp_path, value):
    result = pipeline("local", "status", env={"PIPELINE_LOCAL_DIR": value.format(tmp=tmp_path)})

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the local stack is not running: start it with `python -m pipeline local up`"
    ]


@pytest.mark.parametrize(
    "at",
    ["2026-11-02T14:45:00Z", "2026-11-02T14:45Z", "2026-11-02T14:45:00+00:00", "2026-11-02 14:45",
     "2026-11-02T15:45+01:00", "2026-11-02T09:45:00-05:00", " 2026-11-02T14:45:00Z "],
)  # fmt: skip
def test_a_time_written_other_ways_is_the_same_minute(at):
    result = pipeline("parse", "coinmarketcap", PAGE, "--at", at)

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["scheduled_at"] for r in rows} == {"2026-11-02T14:45:00Z"}
