"""The NYSE calendar (holidays, early closes) decides when stocks are fetched: the live path and the twin alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import calendar
from pipeline.settings import Settings
from pipeline.sources import NothingToIngest
from pipeline.sources import yahoo_finance as yahoo
from pipeline.sources.yahoo_finance.replay import ReplaySession

ONE = {"yahoo_rotation_minutes": 1, "yahoo_lookback_minutes": 1, "yahoo_requests_per_minute": 1000}
SIM = Settings(mode="simulated", seed=7, universe_limit=5, **ONE)
LIVE = Settings(mode="live", universe_limit=5, **ONE)

THANKSGIVING = datetime(2025, 11, 27, 16, 0, tzinfo=UTC)  # Thursday, 11:00 New York
CHRISTMAS = datetime(2025, 12, 25, 16, 0, tzinfo=UTC)
DAY_AFTER = datetime(2025, 11, 28, 18, 1, tzinfo=UTC)  # 13:01 New York: the bar of 13:00 is after the early close
LAST_BAR_OF_EARLY_CLOSE = datetime(2025, 11, 28, 18, 0, tzinfo=UTC)  # fetches the bar of 12:59


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (THANKSGIVING, "Thursday 2025-11-27 is an exchange holiday (Thanksgiving"),
        (CHRISTMAS, "Thursday 2025-12-25 is an exchange holiday (Christmas"),
        (DAY_AFTER, "after the early close (13:00 New York) of Friday 2025-11-28"),
    ],
)
def test_the_twin_has_no_bars_when_the_exchange_is_closed_and_says_why(at, reason):
    with pytest.raises(NothingToIngest) as caught:
        yahoo.SOURCE.fetch(SIM, at)
    assert reason in str(caught.value)


@pytest.mark.parametrize("at", [THANKSGIVING, CHRISTMAS, DAY_AFTER])
def test_the_live_path_sends_no_request_when_the_exchange_is_closed(at):
    session = ReplaySession({})
    with pytest.raises(NothingToIngest, match="closed"):
        yahoo.YahooFinance(session=session).fetch(LIVE, at)
    assert session.seen == []


def test_the_early_close_day_has_its_morning_bars():
    payload = yahoo.SOURCE.fetch(SIM, LAST_BAR_OF_EARLY_CLOSE)
    assert set(payload.bars["ts"]) == {datetime(2025, 11, 28, 17, 59, tzinfo=UTC)}
    sessions = calendar.sessions(calendar.XNYS, datetime(2025, 11, 26, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    assert [(s.day.isoformat(), s.minutes) for s in sessions] == [("2025-11-26", 390), ("2025-11-28", 210)]


def test_is_open_follows_the_exchange():
    assert calendar.is_open(calendar.XNYS, datetime(2025, 11, 28, 17, 59, tzinfo=UTC))
    assert not calendar.is_open(calendar.XNYS, datetime(2025, 11, 28, 18, 0, tzinfo=UTC))
    assert not calendar.is_open(calendar.XNYS, THANKSGIVING)
    assert calendar.is_open(calendar.ALWAYS, THANKSGIVING)
    with pytest.raises(calendar.CalendarError, match="unknown market"):
        calendar.is_open("XLON", THANKSGIVING)


@pytest.mark.stack
def test_ingest_at_a_closed_minute_reports_it_skipped_and_a_session_minute_fetches_bars(
    clean_stack, local_env, tmp_path
):
    """On an emptied bucket: Yahoo's state from another test (a cool-down the soak's 429 storm tripped, say) would
    decide this minute instead."""
    from typer.testing import CliRunner

    from workbench.cli import app

    closed = CliRunner().invoke(app, ["ingest", "yahoo_finance", "--at", THANKSGIVING.isoformat()])
    assert closed.exit_code == 0, closed.output
    result = json.loads(closed.stdout)
    assert result["key"] is None and "exchange holiday (Thanksgiving" in result["skipped"]

    session_minute = THANKSGIVING - timedelta(days=1)  # Wednesday 11:00 New York
    opened = CliRunner().invoke(app, ["ingest", "yahoo_finance", "--at", session_minute.isoformat()])
    assert opened.exit_code == 0, opened.output
    result = json.loads(opened.stdout)
    assert result["skipped"] is None and result["success_rows"] > 0
    assert result["key"] == "raw/yahoo_finance/2025/11/26/1600.csv"


def test_verify_counts_the_minutes_the_market_was_closed_for():
    from workbench.verify import _closed_minutes

    # 12:55-13:04 New York on the day after Thanksgiving: the minutes from 13:01 fetch bars after the close
    first = datetime(2025, 11, 28, 17, 55, tzinfo=UTC)
    assert _closed_minutes("yahoo_finance", first, first + timedelta(minutes=9)) == 4
    assert _closed_minutes("yahoo_finance", THANKSGIVING, THANKSGIVING + timedelta(minutes=9)) == 10
    assert _closed_minutes("coinmarketcap", THANKSGIVING, THANKSGIVING + timedelta(minutes=9)) == 0
