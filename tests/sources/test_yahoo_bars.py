"""yahoo_finance: only real, closed bars are success rows; every other bar is an error row that names why."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.sources import parse_file
from pipeline.sources import yahoo_finance as yahoo
from pipeline.sources.yahoo_finance.replay import Recorded, ReplaySession
from workbench.cli import app

T0 = datetime(2024, 10, 2, 14, 0, tzinfo=UTC)  # Wednesday, 10:00 New York


def _quote(body: dict[str, Any]) -> dict[str, list[Any]]:
    return body["chart"]["result"][0]["indicators"]["quote"][0]  # type: ignore[no-any-return]


def _saved_after_the_close(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["chart"]["result"][0]["meta"]
    meta["regularMarketTime"] = meta["currentTradingPeriod"]["regular"]["end"]
    return body


def _bad_bars_chart(chart: Any) -> dict[str, Any]:
    """Ten bars from 14:00; 14:03 has every price 0 (volume kept), 14:06 has its high below its low."""
    body = _saved_after_the_close(copy.deepcopy(chart("AAPL", T0, [226.1 + i / 10 for i in range(10)])))
    quote = _quote(body)
    for name in ("open", "high", "low", "close"):
        quote[name][3] = 0.0
    quote["high"][6], quote["low"][6] = quote["low"][6], quote["high"][6]
    return body


def _cli_rows(path: Path) -> list[dict[str, str]]:
    result = CliRunner().invoke(app, ["parse", "yahoo_finance", str(path)])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_parse_makes_a_zero_price_bar_and_an_inverted_bar_error_rows_and_keeps_the_others(chart, tmp_path):
    path = tmp_path / "chart_AAPL_bad.json"
    path.write_text(json.dumps(_bad_bars_chart(chart)))

    rows = _cli_rows(path)

    by_ts = {r["ts"]: r for r in rows}
    assert len(rows) == 10
    zero, inverted = by_ts["2024-10-02T14:03:00Z"], by_ts["2024-10-02T14:06:00Z"]
    assert zero["status"] == "error" and "price of 0 or less" in zero["error"]
    assert inverted["status"] == "error" and "inconsistent" in inverted["error"]
    good = [r for r in rows if r["status"] == "success"]
    assert [r["ts"] for r in good] == [f"2024-10-02T14:0{m}:00Z" for m in (0, 1, 2, 4, 5, 7, 8, 9)]
    for r in good:
        o, h, lo, c = (float(r[k]) for k in ("open", "high", "low", "close"))
        assert 0 < lo <= min(o, c) <= max(o, c) <= h and int(r["volume"]) >= 0 and r["error"] == ""


def _live_chart(chart: Any, *, tail_second: int) -> dict[str, Any]:
    """Ten closed bars from 14:00 and the live minute 14:10, stamped at 14:10:<tail_second> as Yahoo does,
    saved while the session was open (regularMarketTime is that last trade)."""
    body = copy.deepcopy(chart("AAPL", T0, [226.1 + i / 10 for i in range(11)]))
    result = body["chart"]["result"][0]
    tail = int((T0 + timedelta(minutes=10, seconds=tail_second)).timestamp())
    result["timestamp"][-1] = tail
    result["meta"]["regularMarketTime"] = tail
    return body


@pytest.mark.parametrize("tail_second", [47, 0])
def test_the_live_unfinished_minute_is_never_a_success_row(chart, tmp_path, tail_second):
    # 14:10:47: off the minute; 14:10:00 with the last trade at 14:10:00: on the minute but not closed
    path = tmp_path / "chart_AAPL_live.json"
    path.write_text(json.dumps(_live_chart(chart, tail_second=tail_second)))

    rows = _cli_rows(path)

    good = [r["ts"] for r in rows if r["status"] == "success"]
    assert good == [f"2024-10-02T14:0{m}:00Z" for m in range(10)]
    (live,) = [r for r in rows if r["status"] == "error"]
    assert live["ts"] == f"2024-10-02T14:10:{tail_second:02d}Z"
    assert ("not on a minute boundary" if tail_second else "had not closed") in live["error"]


def test_a_bar_is_closed_only_a_few_seconds_after_its_minute_ends(chart):
    session = ReplaySession({"AAPL": Recorded(chart("AAPL", T0, [226.1, 226.2, 226.3]))})
    # fetched 2 s after 14:03: the 14:02 bar ended too recently to be final
    fetched = T0 + timedelta(minutes=3, seconds=2)
    payload = yahoo.download(["AAPL"], T0, T0 + timedelta(minutes=3), session=session, clock=lambda: fetched)
    rows = yahoo.parse_payload(payload, scheduled_at=T0 + timedelta(minutes=3), ingested_at=fetched)
    assert [(r["ts"][11:16], r["status"]) for r in rows] == [("14:00", "success"), ("14:01", "success"),
                                                              ("14:02", "error")]  # fmt: skip
    assert "had not closed" in rows[2]["error"]


@pytest.mark.parametrize("hint", [2, 4])
def test_prices_are_rounded_to_the_charts_price_hint(chart, tmp_path, hint):
    body = _saved_after_the_close(chart("AAPL", T0, [225.7, 225.94]))
    body["chart"]["result"][0]["meta"]["priceHint"] = hint
    quote = _quote(body)
    quote["close"] = [225.6999969482422, 225.94000244140625]
    quote["open"][0] = 225.88999938964844
    quote["high"] = [226.11000061035156, 226.0]
    quote["low"] = [225.4199981689453, 225.5500030517578]
    path = tmp_path / "chart_AAPL_noise.json"
    path.write_text(json.dumps(body))

    rows = parse_file("yahoo_finance", path)

    assert [r["status"] for r in rows] == ["success", "success"]
    first = rows[0]
    expected = {"open": 225.88999938964844, "high": 226.11000061035156, "low": 225.4199981689453,
                "close": 225.6999969482422}  # fmt: skip
    assert {k: first[k] for k in expected} == {k: round(v, hint) for k, v in expected.items()}


def test_the_recorded_chart_parses_into_closed_rounded_bars(shared):
    path = shared / "yahoo" / "chart_AAPL_1m_2024-10-02.json"
    if not path.exists():
        pytest.skip("no recorded AAPL chart")
    rows = parse_file("yahoo_finance", path)
    good = [r for r in rows if r["status"] == "success"]
    assert len(good) >= 380
    assert good[0]["ts"] == "2024-10-02T13:30:00Z" and good[0]["close"] == 225.7
    assert all(len(str(r["close"]).partition(".")[2]) <= 2 for r in good)


# -- a minute named twice: one bar when the copies agree, one error row naming them when they do not ---------------


def _chart_with_a_minute_twice(chart: Any, *, same: bool) -> dict[str, Any]:
    """Four bars from 14:00 whose third is stamped 14:01 like the second (the same values, or its own)."""
    body = _saved_after_the_close(copy.deepcopy(chart("AAPL", T0, [226.1, 226.2, 226.3, 226.4])))
    result = body["chart"]["result"][0]
    result["timestamp"][2] = result["timestamp"][1]
    if same:
        for values in _quote(body).values():
            values[2] = values[1]
    return body


def test_a_minute_a_chart_names_twice_with_different_bars_is_one_error_row_naming_both(chart, tmp_path):
    """yfinance keeps the first of two bars under one timestamp (`df.index.duplicated(keep='first')`) and says
    nothing: neither copy is stored; the minute is an error row naming the symbol, the minute and both bars."""
    path = tmp_path / "chart_AAPL_twice.json"
    path.write_text(json.dumps(_chart_with_a_minute_twice(chart, same=False)))

    rows = _cli_rows(path)

    assert [(r["ts"][11:16], r["status"]) for r in rows] == [("14:00", "success"), ("14:01", "error"),
                                                              ("14:03", "success")]  # fmt: skip
    twice = rows[1]
    assert [twice[k] for k in ("open", "high", "low", "close", "volume")] == [""] * 5
    assert twice["error"] == (
        "bar 14:01Z: AAPL has 2 different bars for this minute "
        "(open 226.1, high 226.25, low 226.05, close 226.2, volume 1210; "
        "open 226.2, high 226.35, low 226.15, close 226.3, volume 1220): which one is meant cannot be told"
    )


def test_a_minute_a_chart_names_twice_with_the_same_bar_is_one_bar(chart, tmp_path):
    path = tmp_path / "chart_AAPL_twice.json"
    path.write_text(json.dumps(_chart_with_a_minute_twice(chart, same=True)))

    rows = _cli_rows(path)

    assert [(r["ts"][11:16], r["status"], r["close"]) for r in rows] == [
        ("14:00", "success", "226.1"), ("14:01", "success", "226.2"), ("14:03", "success", "226.4"),
    ]  # fmt: skip


def _frame_payload(closes: list[float], volumes: list[float], minutes: list[int]) -> yahoo.YahooPayload:
    import pandas as pd

    stamps = pd.DatetimeIndex([T0 + timedelta(minutes=m) for m in minutes])
    bars = pd.DataFrame({"symbol": "MSFT", "ts": stamps, "open": closes, "high": [c + 0.5 for c in closes],
                         "low": [c - 0.5 for c in closes], "close": closes, "volume": volumes})  # fmt: skip
    return yahoo.YahooPayload(T0, T0 + timedelta(minutes=3), ("MSFT",), bars)


@pytest.mark.parametrize(
    ("change", "second"),
    [
        ({}, ("success", 411.0, "")),
        ({"close": 411.5}, ("error", None, "close 411.5, volume 200)")),
        ({"volume": 201.0}, ("error", None, "close 411, volume 201)")),
        ({"close": float("nan")}, ("error", None, "close missing, volume 200)")),
    ],
)
def test_a_frame_with_a_minute_twice_gives_one_row_for_it(change, second):
    """Whatever hands the parser its frame: one row per (symbol, minute), never two rows under one natural key;
    copies that differ in a value (or where one lacks it) are one error row naming both."""
    payload = _frame_payload([410.0, 411.0, 411.0, 412.0], [100.0, 200.0, 200.0, 300.0], [0, 1, 1, 2])
    for column, value in change.items():
        payload.bars.loc[2, column] = value
    fetched = T0 + timedelta(minutes=3, seconds=10)

    rows = yahoo.parse_payload(payload, scheduled_at=T0 + timedelta(minutes=3), ingested_at=fetched)

    assert [r["ts"][11:16] for r in rows] == ["14:00", "14:01", "14:02"]
    status, close, error = second
    assert (rows[1]["status"], rows[1]["close"]) == (status, close) and error in rows[1]["error"]
    if status == "error":
        assert rows[1]["error"].startswith("bar 14:01Z: MSFT has 2 different bars for this minute (open 411, ")
        assert rows[1]["volume"] is None and rows[1]["open"] is None
    assert {rows[0]["status"], rows[2]["status"]} == {"success"}


def test_parse_without_at_takes_the_minute_after_the_charts_last_bar(chart, tmp_path):
    """`pipeline parse yahoo_finance FILE` with no `--at`: the scheduled minute is the one the chart is of (the
    minute after its last bar, as the ingest of that minute would have asked for it), not today's."""
    path = tmp_path / "chart_AAPL_closed.json"
    path.write_text(json.dumps(_saved_after_the_close(chart("AAPL", T0, [226.1, 226.2, 226.3]))))

    rows = _cli_rows(path)

    assert {r["scheduled_at"] for r in rows} == {"2024-10-02T14:03:00Z"}
    assert [r["status"] for r in rows] == ["success"] * 3
