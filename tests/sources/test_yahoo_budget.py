"""yahoo_finance within what Yahoo tolerates: rotation, request budget, circuit breaker, 404s, one run at a time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, UpstreamError
from pipeline.sources import yahoo_finance as yahoo
from pipeline.sources.yahoo_finance.budget import STATE_NAME, YahooState
from pipeline.sources.yahoo_finance.simulated import Faults, SimulatedYahoo
from pipeline.sources.yahoo_finance.universe import universe
from pipeline.state import MemoryState

T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


def test_by_default_every_symbol_is_fetched_every_k_minutes_within_2_requests_a_second():
    settings = Settings(mode="simulated")
    k = settings.yahoo_rotation_minutes
    assert -(-len(universe()) // k) <= settings.yahoo_requests_per_minute <= 120  # <= 2 requests a second
    assert settings.yahoo_lookback_minutes >= k + 2  # the rotation plus bars a minute late
    state = MemoryState()
    asked: list[str] = []
    for i in range(k):
        at = T0 + timedelta(minutes=i)
        payload = yahoo.SOURCE.fetch(settings, at, state)
        assert len(payload.symbols) <= settings.yahoo_requests_per_minute
        assert payload.start <= at - timedelta(minutes=settings.yahoo_lookback_minutes)
        asked += payload.symbols
    assert sorted(asked) == sorted(universe())  # each once in K minutes


class Twin:
    """The simulated Yahoo behind the live path, on a clock the test moves (each minute fetched 10 s after T)."""

    def __init__(self, faults: Faults, limit: int = 20) -> None:
        self.now = T0
        self.symbols = universe(limit)
        self.yahoo = SimulatedYahoo(7, self.symbols, faults, lambda: self.now)
        self.session = self.yahoo.session()
        self.source = yahoo.YahooFinance(session=self.session, clock=lambda: self.now)
        self.state = MemoryState()
        self.settings = Settings(mode="live", universe_limit=limit, yahoo_rotation_minutes=1,
                                 yahoo_lookback_minutes=3)  # fmt: skip

    def fetch(self, minute: int) -> yahoo.YahooPayload:
        at = T0 + timedelta(minutes=minute)
        self.now = at + timedelta(seconds=10)
        return self.source.fetch(self.settings, at, self.state)

    @property
    def doc(self) -> dict:
        return self.state.docs[STATE_NAME]


def test_after_a_few_429s_the_minute_stops_and_nothing_is_sent_during_the_cool_down():
    twin = Twin(Faults(rate_limit=5))  # 429 past 5 requests a minute; 20 symbols a minute asked
    payload = twin.fetch(0)
    # the breaker opened on the third 429 (requests already under way in other threads may add a few): the
    # symbols not asked yet wait for the next minute
    assert 3 <= payload.stats["rate_limited"] <= 3 + yahoo.WORKERS and payload.stats["breaker_tripped"]
    assert payload.unfetched and payload.stats["cooldown_until"] == "2025-03-04T15:02:00Z"
    assert twin.doc["cooldown_until"] == "2025-03-04T15:02:00Z" and twin.doc["cooldown_level"] == 1

    sent = len(twin.session.seen)
    with pytest.raises(NothingToIngest, match=r"cooling down after HTTP 429 .* until 2025-03-04T15:02:00Z"):
        twin.fetch(1)
    assert len(twin.session.seen) == sent  # not one request during the cool-down

    # the cool-down over, the symbols that missed their turn come first; tripping again doubles the cool-down
    missed = {*payload.unfetched, *(s for s, e in payload.errors.items() if "429" in e)}
    again = twin.fetch(2)
    assert again.symbols[0] in missed
    assert twin.doc["cooldown_level"] == 2 and twin.doc["cooldown_until"] == "2025-03-04T15:06:00Z"
    sent = len(twin.session.seen)
    for minute in (3, 4, 5):
        with pytest.raises(NothingToIngest, match="cooling down"):
            twin.fetch(minute)
    assert len(twin.session.seen) == sent


def test_a_cool_down_holds_back_recent_minutes_but_not_a_replay_of_another_day():
    """A retry of the minute before the trip waits like the next one; a backfill of last week (or the local demo's
    day, run after the soak's) is not refused because of a cool-down that began a week after it."""
    doc = YahooState()
    tripped = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    until = doc.trip(tripped, first_minutes=2, max_minutes=30)
    assert doc.cooling_down(tripped + timedelta(minutes=1)) == until
    assert doc.cooling_down(tripped - timedelta(minutes=1)) == until  # an async retry of the minute before
    assert doc.cooling_down(tripped - timedelta(days=15)) is None  # a replay of 2 November
    assert doc.cooling_down(until) is None
    assert YahooState(cooldown_until=until.isoformat()).cooling_down(tripped - timedelta(days=15)) == until


def test_a_calm_minute_resets_the_cool_down_and_catches_up_on_what_was_missed():
    twin = Twin(Faults(rate_limit=12), limit=20)
    first = twin.fetch(0)
    assert first.stats["breaker_tripped"] and first.unfetched
    twin.yahoo.faults = Faults()  # Yahoo calms down
    later = twin.fetch(2)
    assert not later.stats["breaker_tripped"] and twin.doc["cooldown_level"] == 0
    missed = set(first.unfetched)
    # their windows reach back to where they left off, so no bar of the cool-down is lost
    assert all(later.bars.loc[later.bars["symbol"] == s, "ts"].min() <= T0 - timedelta(minutes=2) for s in missed)


def test_a_symbol_answering_404_is_skipped_for_the_rest_of_the_day():
    twin = Twin(Faults(not_found=frozenset({"MMM"})), limit=5)
    rows = twin.source.parse(twin.fetch(0), scheduled_at=T0, ingested_at=twin.now)
    (gone,) = [r for r in rows if r["symbol"] == "MMM"]
    assert gone["status"] == "error" and "404" in gone["error"]
    assert twin.doc["not_found"] == {"MMM": "2025-03-04"}
    charts = len(twin.session.chart_requests("MMM"))

    payload = twin.fetch(1)
    assert "MMM" not in payload.symbols and len(twin.session.chart_requests("MMM")) == charts
    assert payload.stats["not_found_skipped"] == 1
    # the next day it is asked again
    twin.now = T0 + timedelta(days=1)
    twin.source.fetch(twin.settings, T0 + timedelta(days=1), twin.state)
    assert len(twin.session.chart_requests("MMM")) > charts


def test_a_minute_whose_every_symbol_fails_raises_instead_of_writing_error_rows():
    twin = Twin(Faults(rate_limit=1), limit=5)
    twin.now = T0 + timedelta(seconds=5)
    twin.session.get("https://query2.finance.yahoo.com/v8/finance/chart/MMM")  # the minute's one request, spent
    with pytest.raises(UpstreamError, match=r"every one of the \d+ symbol\(s\) asked failed, nothing written"):
        twin.fetch(0)
    assert twin.doc["cooldown_until"] == "2025-03-04T15:02:00Z" and twin.doc["lease"] is None


def test_a_minute_whose_every_symbol_is_delisted_raises_too():
    twin = Twin(Faults(not_found=frozenset(universe(3))), limit=3)
    with pytest.raises(UpstreamError, match="HTTP 404"):
        twin.fetch(0)
    assert set(twin.doc["not_found"]) == set(universe(3)) and twin.doc["cooldown_until"] is None


def test_another_run_holding_the_lease_makes_this_one_fetch_nothing():
    twin = Twin(Faults(), limit=3)
    expires = datetime.now(UTC) + timedelta(seconds=60)
    twin.state.put(STATE_NAME, {"lease": {"owner": "other", "expires": expires.isoformat(), "scheduled_at": "x"}})
    with pytest.raises(NothingToIngest, match="another ingest run"):
        twin.fetch(0)
    assert twin.session.seen == []
    # an expired lease (a run that died) does not block
    twin.state.put(STATE_NAME, {"lease": {"owner": "other", "expires": "2020-01-01T00:00:00Z", "scheduled_at": "x"}})
    assert twin.fetch(0).symbols and twin.doc["lease"] is None


def test_of_two_runs_that_read_the_state_at_once_only_one_takes_the_lease():
    from pipeline.sources.yahoo_finance.budget import YahooState

    store = MemoryState()
    first, second = YahooState.load(store), YahooState.load(store)
    now, hold = datetime.now(UTC), timedelta(seconds=70)
    first.acquire(store, T0, now, hold)
    with pytest.raises(NothingToIngest, match="took the lease at the same time"):
        second.acquire(store, T0, now, hold)
    assert store.get(STATE_NAME)["lease"] == first.lease


def test_no_request_starts_after_the_time_budget_and_the_rest_waits_for_the_next_minute():
    twin = Twin(Faults(), limit=10)
    twin.settings = twin.settings.model_copy(update={"yahoo_time_budget_seconds": 1e-9})
    with pytest.raises(UpstreamError, match="10 left for the next minute"):
        twin.fetch(0)
    assert not [u for u in twin.session.seen if "/v8/finance/chart/" in u]
    twin.settings = twin.settings.model_copy(update={"yahoo_time_budget_seconds": 40})
    assert set(twin.fetch(1).symbols) == set(twin.symbols)


def test_no_timezone_lookup_request_goes_out():
    twin = Twin(Faults(), limit=5)
    twin.fetch(0)
    charts = [u for u in twin.session.seen if "/v8/finance/chart/" in u]
    assert len(charts) == 5 and not any("range=" in u for u in charts)  # yfinance's lookup asks range=1d


def test_metrics_report_requests_429s_cool_down_and_error_share(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MarketDataPipeline/market-data")  # as the template sets it
    twin = Twin(Faults(rate_limit=8, bad=0.3), limit=10)
    payload = twin.fetch(0)
    rows = twin.source.parse(payload, scheduled_at=T0, ingested_at=twin.now)
    (emf,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MarketDataPipeline/market-data"
    line = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in emf.items()}
    assert line["YahooRequests"] == payload.stats["requests"] > 0
    assert line["YahooRateLimited"] >= 3 and line["YahooCoolingDown"] == 1
    errors = sum(r["status"] == "error" for r in rows)
    assert 0 < line["YahooErrorRowShare"] == pytest.approx(100 * errors / len(rows))


def test_metrics_stay_quiet_outside_lambda(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    twin = Twin(Faults(), limit=3)
    twin.source.parse(twin.fetch(0), scheduled_at=T0, ingested_at=twin.now)
    assert '"_aws"' not in capsys.readouterr().out
