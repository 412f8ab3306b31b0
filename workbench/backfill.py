"""`python -m pipeline backfill SOURCE --from T --to T`: fill a past window through the pipeline's own path.

The history is fetched in pieces, each written as a raw object in the contract layout and published as an event,
so the process functions load it into the sinks with their MERGE, exactly as they load the live minutes:

- yahoo_finance: 1-minute bars starting in [from, to), as far back as Yahoo keeps them (30 days; at most 7 days a
  request, one request a symbol), within the live request budget (`yahoo_requests_per_minute` symbols a minute,
  live) and circuit breaker (`yahoo_breaker_429s` answers of HTTP 429 stop the backfill and start a cool-down in
  the state document the live ingest reads; no request is sent during a cool-down). One raw object per hour of
  bars, at the scheduled minute that ends the hour (`raw/yahoo_finance/.../HH00.csv`, or the session's close,
  or `--to`);
- openexchangerates: the end-of-day rates of each day in the window (historical/YYYY-MM-DD.json, one call a day
  counted in the quota state document), one raw object at the minute after the rates' timestamp;
- coinmarketcap: refused: its listings have no history without a paid API plan.

Idempotent with the live minutes: when a raw object already exists at a piece's key (a live minute), the piece is
merged into it (rows the object already has are kept as they are, rows it lacks are added), and nothing is written
or published when nothing was added; the sinks' MERGE keeps one row per natural key, so running a backfill twice
changes no count. Progress is kept in `state/backfill_<source>.json` (the window and the pieces done): an
interrupted backfill of the same window resumes after the last piece done; a finished one removes it.

The simulated twins serve history the same way (the local stack backfills too): the clean Yahoo twin draws the
bars without HTTP requests, the Open Exchange Rates twin answers historical days with the rates of their last
minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from pipeline import calendar, registry
from pipeline.constants import SourceId
from pipeline.contracts import STATUS_SUCCESS, Event, floor_minute, iso, raw_key, to_utc
from pipeline.errors import PipelineError
from pipeline.raw import read_raw, write_raw
from pipeline.settings import Settings

YAHOO_HISTORY: Final = timedelta(days=30)  # how far back Yahoo keeps 1-minute bars
YAHOO_REQUEST_SPAN: Final = timedelta(days=7)  # the most one 1-minute chart request may cover
PIECE: Final = timedelta(hours=1)  # bars per raw object
PROGRESS_PREFIX: Final = "backfill_"
NATURAL_KEYS: Final = {"yahoo_finance": ("symbol", "ts"), "openexchangerates": ("base", "currency", "rate_ts")}


class BackfillRefused(PipelineError):
    """A backfill that cannot be done as asked (no history, a window out of reach, a budget that does not allow it)."""


@dataclass
class Piece:
    key: str  # the raw object it goes to
    start: datetime  # what it covers: bar starts (Yahoo) or the day (rates) in [start, end)
    end: datetime


@dataclass
class BackfillReport:
    source: SourceId
    start: datetime
    end: datetime
    pieces: int = 0
    written: list[str] = field(default_factory=list)  # raw objects written (new or grown) and published
    unchanged: list[str] = field(default_factory=list)  # pieces whose rows the raw object already held
    resumed: int = 0  # pieces done by an earlier, interrupted run of this window
    rows_added: int = 0
    requests: int = 0
    stopped: str = ""  # why the backfill stopped before the end (progress kept)

    @property
    def ok(self) -> bool:
        return not self.stopped

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "from": iso(self.start), "to": iso(self.end), "pieces": self.pieces,
            "written": len(self.written), "unchanged": len(self.unchanged), "resumed": self.resumed,
            "rows_added": self.rows_added, "requests": self.requests, "stopped": self.stopped, "ok": self.ok,
        }  # fmt: skip


# --- the pieces -----------------------------------------------------------------------------------------------


def yahoo_pieces(first: datetime, last: datetime) -> list[Piece]:
    """One piece per hour of session bars in [first, last): its raw key is the minute its last bar closes by."""
    out = []
    for session in calendar.sessions(calendar.XNYS, first, last):
        start = max(session.open, first)
        stop = min(session.close, last)
        while start < stop:
            end = min(floor_minute(start) - timedelta(minutes=start.minute) + PIECE, stop)
            out.append(Piece(raw_key("yahoo_finance", end), start, end))
            start = end
    return out


def oxr_pieces(first: datetime, last: datetime, seed_time: Callable[[date], datetime]) -> list[Piece]:
    """One piece per UTC day whose end-of-day rates lie in [first, last)."""
    out = []
    day = first.date()
    while day <= last.date():
        stamp = seed_time(day)
        if first <= stamp < last:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            out.append(Piece(raw_key("openexchangerates", floor_minute(stamp) + timedelta(minutes=1)), start,
                             start + timedelta(days=1)))  # fmt: skip
        day += timedelta(days=1)
    return out


def _blocks(pieces: Sequence[Piece], span: timedelta) -> Iterator[list[Piece]]:
    """Consecutive pieces grouped so that each group's bars fit one request."""
    block: list[Piece] = []
    for piece in pieces:
        if block and piece.end - block[0].start > span:
            yield block
            block = []
        block.append(piece)
    if block:
        yield block


# --- merging into the raw layer ---------------------------------------------------------------------------------


def merge_rows(source: SourceId, existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> tuple[
    list[dict[str, Any]], int
]:  # fmt: skip
    """The rows of a raw object with a backfilled piece added: every success row it has, kept as it is, then the
    piece's success rows it lacks; error rows only for what has no success row. Returns (rows, success rows
    added)."""
    names = NATURAL_KEYS[source]

    def key(row: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(n) or "") for n in names)

    kept = [dict(r) for r in existing if r.get("status") == STATUS_SUCCESS]
    held = {key(r) for r in kept}
    added = [dict(r) for r in new if r.get("status") == STATUS_SUCCESS and key(r) not in held]
    rows = kept + added
    covered = {str(r.get(names[0])) for r in rows} if source == "yahoo_finance" else set()
    errors = [dict(r) for r in [*existing, *new] if r.get("status") != STATUS_SUCCESS]
    seen: set[tuple[str, str]] = set()
    for row in errors:
        ident = (str(row.get(names[0])), str(row.get("error")))
        if (source == "yahoo_finance" and ident[0] in covered) or ident in seen:
            continue
        seen.add(ident)
        rows.append(row)
    return rows, len(added)


# --- the backfill ---------------------------------------------------------------------------------------------


class Progress:
    """The state document of a backfill: its window and the pieces done."""

    def __init__(self, state: Any, source: SourceId, first: datetime, last: datetime) -> None:
        self.state, self.name = state, f"{PROGRESS_PREFIX}{source}"
        self.window = {"from": iso(first), "to": iso(last)}
        doc = state.get(self.name) or {}
        same = doc.get("from") == self.window["from"] and doc.get("to") == self.window["to"]
        self.done: set[str] = set(doc.get("done") or []) if same else set()

    def mark(self, key: str) -> None:
        self.done.add(key)
        self.state.put(self.name, {**self.window, "done": sorted(self.done)})

    def finish(self) -> None:
        self.state.s3.delete_object(Bucket=self.state.bucket, Key=self.state.key(self.name))


def backfill(
    source: SourceId,
    start: datetime | str,
    end: datetime | str,
    *,
    settings: Settings,
    s3: Any,
    sns: Any,
    after_publish: Callable[[datetime], None] | None = None,
    on_piece: Callable[[int, int, Piece], None] | None = None,
    now: Callable[[], datetime] | None = None,
    historical: Callable[[date], dict[str, Any]] | None = None,
) -> BackfillReport:
    """Fill [start, end) of `source` (see the module doc). `after_publish(minute)` runs after each event is
    published (the local stack processes it there); `on_piece(done, total, piece)` reports progress."""
    from pipeline.state import S3State

    first, last = floor_minute(to_utc(start)), floor_minute(to_utc(end))
    clock = now or (lambda: datetime.now(UTC))
    if source == "coinmarketcap":
        raise BackfillRefused(
            "coinmarketcap: no history to backfill: the home page shows only the current listing, and historical "
            "listings need a paid CoinMarketCap API plan"
        )
    if source not in NATURAL_KEYS:
        raise BackfillRefused(f"{source}: no backfill for this source")
    if last <= first:
        raise BackfillRefused(f"--to ({iso(last)}) must be after --from ({iso(first)})")
    if last > clock() + timedelta(minutes=1) and settings.mode == "live":
        raise BackfillRefused(f"--to ({iso(last)}) is in the future: backfill fills the past")
    state = S3State(s3, settings.bucket)
    report = BackfillReport(source, first, last)
    if source == "yahoo_finance":
        if settings.mode == "live" and first < clock() - YAHOO_HISTORY:
            raise BackfillRefused(
                f"yahoo_finance keeps 1-minute bars for 30 days: --from must be after {iso(clock() - YAHOO_HISTORY)}"
            )
        pieces = yahoo_pieces(first, last)
        fill: Callable[..., None] = _fill_yahoo
    else:
        from pipeline.sources.openexchangerates import rates_time, simulate_historical

        ask = historical or _historical(settings)
        pieces = oxr_pieces(first, last, lambda day: _oxr_stamp(settings, day, ask, rates_time, simulate_historical))
        fill = _fill_oxr
    progress = Progress(state, source, first, last)
    report.pieces = len(pieces)
    todo = [p for p in pieces if p.key not in progress.done]
    report.resumed = len(pieces) - len(todo)
    fill(report, todo, settings=settings, s3=s3, sns=sns, state=state, progress=progress, clock=clock,
         after_publish=after_publish, on_piece=on_piece, historical=historical)  # fmt: skip
    if not report.stopped:
        progress.finish()
    return report


def _oxr_stamp(
    settings: Settings, day: date, ask: Callable[[date], dict[str, Any]], rates_time: Any, simulated: Any
) -> datetime:
    """When a day's end-of-day rates are stamped (the twin: its last minute; live: 23:59:59, asked later)."""
    if settings.mode == "simulated":
        return rates_time(simulated(settings.seed, day))  # type: ignore[no-any-return]
    return datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)


def _historical(settings: Settings) -> Callable[[date], dict[str, Any]]:
    from pipeline.sources import openexchangerates as oxr

    if settings.mode == "simulated":
        return lambda day: oxr.simulate_historical(settings.seed, day)
    app_id = settings.secret(settings.oxr_app_id, settings.oxr_app_id_secret_arn)
    if not app_id:
        raise BackfillRefused("openexchangerates: no app id: set PIPELINE_OXR_APP_ID or PIPELINE_OXR_APP_ID_SECRET_ARN")
    return lambda day: oxr.call_historical(app_id, day)


def _write(
    source: SourceId,
    piece: Piece,
    rows: Sequence[Mapping[str, Any]],
    report: BackfillReport,
    *,
    settings: Settings,
    s3: Any,
    sns: Any,
    after_publish: Callable[[datetime], None] | None,
) -> None:
    """Merge a piece's rows into the raw object at its key; write and publish it if rows were added."""
    from pipeline.aws import is_not_found
    from pipeline.contracts import parse_raw_key
    from pipeline.events import publish

    try:
        existing = read_raw(s3, settings.bucket, piece.key, source)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        existing = []
    merged, added = merge_rows(source, existing, rows)
    if not added:
        report.unchanged.append(piece.key)
        return
    # columns the stored object holds beyond the declared ones (an older release wrote them): the rewrite keeps them
    declared = set(registry.get(source).raw_columns)
    carried = [c for c in dict.fromkeys(k for r in existing for k in r) if isinstance(c, str) and c not in declared]
    raw = write_raw(s3, settings.bucket, piece.key, source, merged, carried=carried)
    minute = parse_raw_key(piece.key)[1]
    event = Event(bucket=raw.bucket, key=raw.key, source=source, scheduled_at=iso(minute), rows=raw.success_rows)
    publish(sns, settings.topic_arn, event, raw.etag)
    report.written.append(piece.key)
    report.rows_added += added
    if after_publish is not None:
        after_publish(minute)


def _fill_oxr(report: BackfillReport, todo: Sequence[Piece], **kw: Any) -> None:
    from pipeline.sources.openexchangerates import parse_body

    settings: Settings = kw["settings"]
    ask = kw["historical"] or _historical(settings)
    _spend_oxr(kw["state"], settings, len(todo), kw["clock"]())
    for i, piece in enumerate(todo):
        body = ask(piece.start.date())
        report.requests += 1
        minute = _minute_of(piece.key)
        rows = parse_body(body, scheduled_at=minute, ingested_at=max(kw["clock"](), minute))
        _write("openexchangerates", piece, rows, report, settings=settings, s3=kw["s3"], sns=kw["sns"],
               after_publish=kw["after_publish"])  # fmt: skip
        kw["progress"].mark(piece.key)
        if kw["on_piece"]:
            kw["on_piece"](i + 1, len(todo), piece)


def _spend_oxr(state: Any, settings: Settings, calls: int, now: datetime) -> None:
    """Count the historical calls in the quota state document, refusing a backfill the month's quota cannot pay."""
    from pipeline.sources.openexchangerates import QUOTA_STATE, calls_this_month

    if not calls:
        return
    current = state.read(QUOTA_STATE)
    doc = dict(current.doc or {})
    month_now = now if settings.mode == "live" else _month_clock(doc, now)
    used = calls_this_month(doc, month_now)
    quota = settings.oxr_monthly_quota
    if quota and used + calls > quota:
        raise BackfillRefused(
            f"openexchangerates: {calls} historical call(s) needed, {max(0, quota - used)} left of this month's "
            f"{quota}: backfill a shorter window or wait for the next month"
        )
    doc.update(month=f"{month_now:%Y-%m}", calls=used + calls)
    state.put_if(QUOTA_STATE, doc, current.version)


def _month_clock(doc: Mapping[str, Any], now: datetime) -> datetime:
    """The month the quota document counts in: the simulated world's (its last call), else `now`'s."""
    last_call = doc.get("last_call")
    return to_utc(last_call) if last_call else now


def _minute_of(key: str) -> datetime:
    from pipeline.contracts import parse_raw_key

    return parse_raw_key(key)[1]


def _fill_yahoo(report: BackfillReport, todo: Sequence[Piece], **kw: Any) -> None:
    from pipeline.sources.yahoo_finance.universe import universe

    settings: Settings = kw["settings"]
    symbols = universe(settings.universe_limit)
    done = 0
    for block in _blocks(todo, YAHOO_REQUEST_SPAN):
        payload, stopped = _fetch_yahoo(symbols, block[0].start, block[-1].end, settings, kw["state"], kw["clock"],
                                        report)  # fmt: skip
        if payload is not None:
            for piece in block:
                _write_yahoo_piece(piece, payload, symbols, report, **kw)
                done += 1
                if kw["on_piece"]:
                    kw["on_piece"](done, len(todo), piece)
        if stopped:
            report.stopped = stopped
            return


def _write_yahoo_piece(piece: Piece, payload: Any, symbols: Sequence[str], report: BackfillReport, **kw: Any) -> None:
    from pipeline.sources.yahoo_finance import YahooPayload, parse_payload

    minute = _minute_of(piece.key)
    bars = payload.bars
    part = YahooPayload(piece.start, piece.end, tuple(symbols), bars, dict(payload.errors),
                        payload.fetched_at, dict(payload.price_hints))  # fmt: skip
    rows = parse_payload(part, scheduled_at=minute, ingested_at=max(kw["clock"](), minute))
    _write("yahoo_finance", piece, rows, report, settings=kw["settings"], s3=kw["s3"], sns=kw["sns"],
           after_publish=kw["after_publish"])  # fmt: skip
    kw["progress"].mark(piece.key)


def _fetch_yahoo(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    settings: Settings,
    state: Any,
    clock: Callable[[], datetime],
    report: BackfillReport,
) -> tuple[Any, str]:
    """The bars of [start, end) for every symbol (one request a symbol, paced by the live budget), and why the
    backfill must stop ("" to go on). Nothing is sent during a cool-down; 429s trip the breaker into one."""
    from pipeline.sources import yahoo_finance as yf
    from pipeline.sources.yahoo_finance.budget import Meter, YahooState
    from pipeline.sources.yahoo_finance.simulated import _twin

    doc = YahooState.load(state)
    at = floor_minute(clock())
    if (until := doc.cooling_down(at)) is not None and settings.mode == "live":
        return None, f"Yahoo cool-down after HTTP 429 until {iso(until)}: run the same backfill again after it"
    twin = _twin(settings, tuple(symbols)) if settings.mode == "simulated" else None
    fetched_at = end + yf.SIMULATED_FETCH_DELAY if settings.mode == "simulated" else clock()
    if settings.mode == "simulated" and twin is None:
        payload = yf.simulate(settings.seed, symbols, start, end, population=symbols)
        payload.fetched_at = fetched_at
        return payload, ""
    frames, errors, hints = [], {}, {}
    per_minute = max(1, settings.yahoo_requests_per_minute)
    meter = Meter(settings.yahoo_breaker_429s)
    if twin is not None:
        twin.clock = lambda: fetched_at
    for i in range(0, len(symbols), per_minute):
        began = time.monotonic()
        batch = symbols[i : i + per_minute]
        session = twin.session() if twin is not None else None
        part = yf.download(batch, start, end, session=session, clock=lambda: fetched_at, meter=meter)
        frames.append(part.bars)
        errors.update(part.errors)
        hints.update(part.price_hints)
        if meter.tripped:
            _trip(state, settings, at, meter)
            report.requests += meter.requests
            return None, (f"Yahoo answered HTTP 429 {meter.rate_limited} time(s): the breaker opened a cool-down; "
                          "progress is kept: run the same backfill again after it")  # fmt: skip
        if settings.mode == "live" and i + per_minute < len(symbols):
            time.sleep(max(0.0, 60 - (time.monotonic() - began)))  # the live budget: per_minute symbols a minute
    report.requests += meter.requests
    _tally(state, at, meter)
    import pandas as pd

    payload = yf.YahooPayload(start, end, tuple(symbols), pd.concat(frames, ignore_index=True), errors,
                              fetched_at, hints)  # fmt: skip
    return payload, ""


def _tally(state: Any, at: datetime, meter: Any, trip: Settings | None = None) -> None:
    """Add the backfill's requests to the month's tally in the Yahoo state document (and open the breaker)."""
    from pipeline.sources.yahoo_finance.budget import YahooState

    for _ in range(3):
        doc = YahooState.load(state)
        if trip is not None:
            doc.trip(at, trip.yahoo_cooldown_minutes, trip.yahoo_cooldown_max_minutes)
        doc.tally(at, meter.requests, meter.rate_limited, trip is not None)
        if doc.save(state):
            return


def _trip(state: Any, settings: Settings, at: datetime, meter: Any) -> None:
    _tally(state, at, meter, trip=settings)
