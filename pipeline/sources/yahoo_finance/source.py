"""The `Source` the registry names: this minute's share of the universe (`budget`), live (`fetch`) or from the
twin (`simulated`), parsed by `parse`; saved charts read by `saved`; the minute's figures by `metrics`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import calendar
from pipeline.constants import SourceId
from pipeline.contracts import floor_minute, iso, to_utc
from pipeline.settings import Settings
from pipeline.sources.base import (
    NothingToIngest,
    PayloadError,
    RawRow,
    UpstreamError,
)
from pipeline.sources.yahoo_finance.budget import LEASE_MARGIN, Meter, Plan, YahooState, not_found_symbols, plan
from pipeline.sources.yahoo_finance.fetch import NOT_FOUND, _now, download
from pipeline.sources.yahoo_finance.metrics import emit, emit_cooldown
from pipeline.sources.yahoo_finance.parse import parse_payload
from pipeline.sources.yahoo_finance.payload import CLOSED_GRACE, YahooPayload, window
from pipeline.sources.yahoo_finance.saved import load_chart
from pipeline.sources.yahoo_finance.simulated import SIMULATED_FETCH_DELAY, _twin, simulate
from pipeline.sources.yahoo_finance.universe import universe
from pipeline.state import StateStore


def _account(doc: YahooState, chosen: Plan, payload: YahooPayload, meter: Meter | None, settings: Settings) -> None:
    """Record in the state what the minute did: who is fetched through when, today's 404s, the breaker."""
    at, end = chosen.at, chosen.end
    limited = {s for s, e in payload.errors.items() if "HTTP 429" in e}
    for symbol in payload.symbols:
        if symbol not in limited:
            doc.through[symbol] = iso(end)
    for symbol in (*payload.unfetched, *chosen.deferred, *limited):
        lookback = timedelta(minutes=settings.yahoo_lookback_minutes)
        doc.through.setdefault(symbol, iso(chosen.starts.get(symbol, end - lookback)))
    missing = [s for s, e in payload.errors.items() if NOT_FOUND in e]
    if meter is not None:
        missing = sorted({*missing, *not_found_symbols(meter.chart_status)} & set(payload.errors))
    doc.mark_missing(missing, at)
    until = None
    if meter is not None and meter.tripped and meter.rate_limited:
        until = doc.trip(at, settings.yahoo_cooldown_minutes, settings.yahoo_cooldown_max_minutes)
    elif not limited:
        doc.calm()
    payload.stats.update(
        {
            "scheduled_at": iso(at), "share": chosen.share, "planned": len(chosen.symbols),
            "asked": len(payload.symbols), "unfetched": len(payload.unfetched), "deferred": len(chosen.deferred),
            "not_found_skipped": len(chosen.skipped_not_found), "newly_not_found": len(missing),
            "cooldown": until is not None, "cooldown_until": iso(until) if until else None,
            "cooldown_level": doc.cooldown_level,
        }
    )  # fmt: skip
    doc.last = dict(payload.stats)
    doc.tally(
        at, int(payload.stats.get("requests") or 0), int(payload.stats.get("rate_limited") or 0), until is not None
    )


def _fail_if_nothing_came(payload: YahooPayload, doc: YahooState) -> None:
    """A minute whose every asked symbol failed is no success: raise (the state is saved, no raw object written)."""
    asked = payload.symbols
    if asked and not all(s in payload.errors for s in asked):
        return
    if not asked and not payload.unfetched:
        return
    cooling = f"; cooling down until {doc.cooldown_until}" if payload.stats.get("cooldown") else ""
    first = next(iter(payload.errors.values()), "the circuit breaker opened before any symbol was asked")
    emit(payload, rows=None)
    raise UpstreamError(
        f"yahoo_finance {payload.stats.get('scheduled_at')}: every one of the {len(asked)} symbol(s) asked failed, "
        f"nothing written ({len(payload.unfetched)} left for the next minute){cooling}: {first}"
    )


class YahooFinance:
    """The source. `session` (live mode) is handed to yfinance: None for its own curl_cffi session; tests and the
    benchmark give a replay session."""

    id: SourceId = "yahoo_finance"

    def __init__(
        self,
        session: Any = None,
        clock: Callable[[], datetime] | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.session = session
        self.clock = clock  # the time of a fetch (default: the wall clock live, T + 10 s simulated)
        self.symbols = tuple(symbols) if symbols is not None else None  # default: the universe file

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> YahooPayload:
        """This minute's share of the universe (`budget`), live or from the twin; nothing when the market
        is closed, during a cool-down or while another run holds the lease (NothingToIngest, no request sent)."""
        at = floor_minute(scheduled_at)
        start, end = window(at, settings.yahoo_lookback_minutes)
        closed = calendar.closed_reason(calendar.XNYS, start, end)
        if closed is not None:
            raise NothingToIngest(
                f"yahoo_finance: the US stock market is closed for bars starting in [{iso(start)}, {iso(end)}): "
                f"{closed}"
            )
        doc = YahooState.load(state)
        until = doc.cooling_down(at)
        if until is not None:
            emit_cooldown(until, doc.cooldown_level)
            raise NothingToIngest(
                f"yahoo_finance: cooling down after HTTP 429 from Yahoo until {iso(until)} "
                f"(trip {doc.cooldown_level} in a row): no request sent"
            )
        hold = timedelta(seconds=settings.yahoo_time_budget_seconds) + LEASE_MARGIN
        owner = doc.acquire(state, at, datetime.now(UTC), hold) if state is not None else None
        try:
            return self._fetch_share(settings, at, end, doc)
        finally:
            if owner is not None:
                doc.release(owner)
                doc.save(state)

    def _clock(self, settings: Settings, at: datetime) -> Callable[[], datetime]:
        if self.clock is not None:
            return self.clock
        if settings.mode == "simulated":  # the twin is asked as a scheduled invocation would ask it, just after T
            return lambda: at + SIMULATED_FETCH_DELAY
        return _now

    def _fetch_share(self, settings: Settings, at: datetime, end: datetime, doc: YahooState) -> YahooPayload:
        symbols = self.symbols or universe(settings.universe_limit)
        clock = self._clock(settings, at)
        # ask only for bars that have closed by now (a run starting late in its minute asks for one bar less)
        end = min(end, floor_minute(clock() - CLOSED_GRACE))
        chosen = plan(
            symbols, at, end, doc, rotation=settings.yahoo_rotation_minutes,
            lookback=settings.yahoo_lookback_minutes, per_minute=settings.yahoo_requests_per_minute,
        )  # fmt: skip
        if not chosen.symbols:
            raise NothingToIngest(
                f"yahoo_finance: every symbol of share {chosen.share} answered 404 earlier today: nothing to fetch"
            )
        twin = _twin(settings, symbols) if settings.mode == "simulated" else None
        if settings.mode == "simulated" and twin is None:
            payload = simulate(
                settings.seed, chosen.symbols, chosen.start, end, starts=chosen.starts, population=symbols
            )
            payload.fetched_at = clock()
            payload.stats.update({"requests": 0, "rate_limited": 0, "breaker_tripped": False})
            meter = None
        else:
            budget = settings.yahoo_time_budget_seconds
            meter = Meter(settings.yahoo_breaker_429s, time.monotonic() + budget, time.monotonic)
            if twin is not None:
                twin.clock = clock
            session = twin.session() if twin is not None else self.session
            payload = download(
                chosen.symbols, chosen.start, end, session=session, clock=clock, starts=chosen.starts, meter=meter
            )
        _account(doc, chosen, payload, meter, settings)
        _fail_if_nothing_came(payload, doc)
        return payload

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        if not isinstance(payload, YahooPayload):
            raise PayloadError(f"yahoo_finance: expected a YahooPayload, got {type(payload).__name__}")
        rows = parse_payload(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)
        if payload.stats:  # a fetched minute (not a saved chart): its figures go to CloudWatch
            emit(payload, rows)
        return rows

    def load_payload(self, path: Path) -> YahooPayload:
        return load_chart(path)

    def saved_at(self, payload: Any) -> datetime | None:
        """A saved chart is of the minute after its last bar (the window's end)."""
        return to_utc(payload.end) if isinstance(payload, YahooPayload) else None


SOURCE = YahooFinance()
