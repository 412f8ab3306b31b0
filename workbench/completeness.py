"""Completeness and freshness against the market: of what existed, how much reached the sinks, and how late.

`verify` proves that raw objects reached their sinks; this measures the sinks against the market itself, so a
minute that was never fetched (a challenge page, a spent quota, a 429 cool-down) counts as missing too.

What existed, per source (what the simulated twins produce, and what the live services publish):

- yahoo_finance, bars: one 1-minute bar per symbol of the universe (`PIPELINE_UNIVERSE_LIMIT`) per session
  minute of the NYSE calendar, for bars starting in [first, last) (closed by `last`);
- coinmarketcap, snapshots: one listing per scheduled minute of [first, last];
- openexchangerates, rate sets: one set of rates per refresh period (`oxr_refresh_seconds`) starting in
  [first, last].

A unit *reached* the sink when the sink holds it (a bar by (symbol, ts); a snapshot by its processed object; a
rate set by any rate whose `rate_ts` lies in its period). Every unit that did not is listed in a *gap* with its
cause, the first that applies:

1. `still within the rotation` (a Yahoo bar whose delivery window, rotation + look-back, reaches past `last`) or
   `within the refresh period` (the last rate set);
2. `in a raw object, not in the sink` (what `verify` reports as missing or quarantined);
3. an incident the caller knows of (the soak's injected faults: `challenge`, `quota`, `cool-down`, ...) or the
   Yahoo state document's last cool-down, when its time covers the unit's delivery window;
4. the error rows that raw objects wrote for it (Yahoo: `HTTP 429`, `not found`, ...);
5. `not fetched` (no raw object carries it and nothing above explains why).

Days the market did not open are listed as gaps of no units (`market closed: ...`): nothing was due.

Freshness is, per unit that reached the sink, the time from when it existed (a bar's close, a snapshot's minute,
the rates' `timestamp`) to when it reached the sink: the time its first raw object was loaded when the caller
recorded load times (the soak, on its virtual clock), else the scheduled minute of the first raw object that
carried it (the fetch; processing time not included). The report names which basis it used.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rich.table import Table

from pipeline import calendar, registry
from pipeline.constants import SourceId
from pipeline.contracts import STATUS_SUCCESS, floor_minute, iso, raw_key, to_utc
from pipeline.errors import one_line
from pipeline.raw import read_raw
from pipeline.settings import Settings
from workbench.replay import raw_objects
from workbench.verify import sink_for

MAX_GAPS: Final = 40  # gaps listed per source (the rest are counted)
CATCH_UP: Final = timedelta(hours=8)  # raw objects after the window still count as deliveries (Yahoo's catch-up)
BAR: Final = timedelta(minutes=1)

UNIT_NAMES: Final = {"yahoo_finance": "bars", "coinmarketcap": "snapshots", "openexchangerates": "rate sets"}


@dataclass(frozen=True)
class Incident:
    """Something known to have kept units from the sink: [start, end) on the scheduled clock."""

    source: str
    start: datetime
    end: datetime
    cause: str


@dataclass
class Gap:
    cause: str
    start: datetime
    end: datetime
    units: int

    def as_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "from": iso(self.start), "to": iso(self.end), "units": self.units}


@dataclass
class SourceMarket:
    source: SourceId
    unit: str
    expected: int = 0
    reached: int = 0
    gaps: list[Gap] = field(default_factory=list)
    more_gaps: int = 0
    freshness_minutes: list[float] = field(default_factory=list)
    freshness_basis: str = ""
    error: str = ""

    @property
    def completeness(self) -> float | None:
        return round(self.reached / self.expected, 6) if self.expected else None

    def freshness(self) -> dict[str, Any]:
        return {
            "p50_minutes": _quantile(self.freshness_minutes, 0.50),
            "p95_minutes": _quantile(self.freshness_minutes, 0.95),
            "max_minutes": round(max(self.freshness_minutes), 2) if self.freshness_minutes else None,
            "units": len(self.freshness_minutes),
            "basis": self.freshness_basis,
        }

    def missing_by_cause(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for gap in self.gaps:
            if gap.units:
                out[gap.cause] += gap.units
        return dict(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "expected": self.expected,
            "reached": self.reached,
            "completeness": self.completeness,
            "missing_by_cause": self.missing_by_cause(),
            "gaps": [g.as_dict() for g in self.gaps],
            "more_gaps": self.more_gaps,
            "freshness": self.freshness(),
            "error": self.error,
        }


@dataclass
class MarketReport:
    start: datetime
    end: datetime
    sources: list[SourceMarket]

    def as_dict(self) -> dict[str, Any]:
        return {"from": iso(self.start), "to": iso(self.end), "sources": {s.source: s.as_dict() for s in self.sources}}

    def table(self) -> Table:
        table = Table(title=f"Against the market, {iso(self.start)} to {iso(self.end)}")
        for name in ("source", "existed", "reached", "complete", "fresh p50", "fresh p95", "missing by cause"):
            table.add_column(name, justify="left" if name in ("source", "missing by cause") else "right")
        for s in self.sources:
            share = s.completeness
            f = s.freshness()
            table.add_row(
                s.source, f"{s.expected:,} {s.unit}", f"{s.reached:,}", "-" if share is None else f"{share:.2%}",
                _min(f["p50_minutes"]), _min(f["p95_minutes"]),
                s.error or "; ".join(f"{c}: {n:,}" for c, n in s.missing_by_cause().items()) or "-",
            )  # fmt: skip
        bases = {s.freshness_basis for s in self.sources if s.freshness_basis}
        table.caption = "freshness: " + "; ".join(sorted(bases)) if bases else None
        return table


def _min(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} min"


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 2)


# --- what existed ----------------------------------------------------------------------------------------------


def expected_units(source: SourceId, settings: Settings, first: datetime, last: datetime) -> dict[Hashable, datetime]:
    """Every unit that existed in [first, last], with the time it came to exist (see the module doc)."""
    if source == "yahoo_finance":
        from pipeline.sources.yahoo_finance.universe import universe

        symbols = universe(settings.universe_limit)
        out: dict[Hashable, datetime] = {}
        for session in calendar.sessions(calendar.XNYS, first, last):
            minute = max(session.open, first)
            while minute < min(session.close, last):
                for symbol in symbols:
                    out[(symbol, minute)] = minute + BAR
                minute += BAR
        return out
    if source == "openexchangerates":
        period = timedelta(seconds=settings.oxr_refresh_seconds)
        start = _period_start(first, period)
        start = start if start >= first else start + period
        periods = {}
        while start <= last:
            periods[start] = start
            start += period
        return periods  # type: ignore[return-value]
    minutes = int((last - first).total_seconds() // 60) + 1
    return {first + timedelta(minutes=i): first + timedelta(minutes=i) for i in range(max(0, minutes))}


def _period_start(at: datetime, period: timedelta) -> datetime:
    seconds = int(period.total_seconds())
    return datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, UTC)


def _unit_of(source: SourceId, settings: Settings, row: Mapping[str, str], minute: datetime) -> Hashable | None:
    """The unit a raw success row delivers (None when it cannot be read: verify reports those)."""
    try:
        if source == "yahoo_finance":
            return (row["symbol"], to_utc(row["ts"]))
        if source == "openexchangerates":
            return _period_start(to_utc(row["rate_ts"]), timedelta(seconds=settings.oxr_refresh_seconds))
    except (KeyError, ValueError):
        return None
    return minute


# --- what reached the sink ----------------------------------------------------------------------------------------


def reached_units(source: SourceId, settings: Settings, sink: Any, first: datetime, last: datetime) -> set[Hashable]:
    """The units of [first, last] the sink holds."""
    if hasattr(sink, "processed_keys"):
        keys = sink.processed_keys(raw_key(source, first), raw_key(source, last))
        return {_processed_minute(k) for k in keys}
    if source == "openexchangerates":
        period = timedelta(seconds=settings.oxr_refresh_seconds)
        rows = sink.stored_rows(raw_key(source, first), raw_key(source, last), first, last + period)
        return {_period_start(r.key[2], period) for r in rows}
    rows = sink.stored_rows(raw_key(source, first), raw_key(source, last + CATCH_UP), first, last)
    return {(r.key[0], r.key[1]) for r in rows if first <= r.key[1] < last}


def _processed_minute(key: str) -> datetime:
    year, month, day, hhmm = key.rsplit(".", 1)[0].split("/")[-4:]
    return datetime(int(year), int(month), int(day), int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


# --- the report ------------------------------------------------------------------------------------------------


@dataclass
class _Deliveries:
    arrival: dict[Hashable, datetime] = field(default_factory=dict)  # unit -> first arrival
    errors: dict[str, list[tuple[datetime, str]]] = field(default_factory=lambda: defaultdict(list))  # symbol ->
    carried: set[Hashable] = field(default_factory=set)


def _deliveries(
    source: SourceId,
    settings: Settings,
    s3: Any,
    first: datetime,
    last: datetime,
    load_times: Mapping[str, datetime] | None,
) -> _Deliveries:
    """From the raw objects scheduled in [first, last + CATCH_UP]: the first arrival of each unit, and the
    error rows (by symbol, with their minute)."""
    out = _Deliveries()
    for key, minute in raw_objects(s3, settings.bucket, source, first, last + CATCH_UP):
        try:
            rows = read_raw(s3, settings.bucket, key, source)
        except Exception:  # noqa: S112 - unreadable objects are verify's to report; they deliver nothing here
            continue
        arrived = load_times.get(key) if load_times is not None else minute
        for row in rows:
            if row.get("status") != STATUS_SUCCESS:
                if row.get("symbol"):
                    out.errors[row["symbol"]].append((minute, row.get("error", "")))
                continue
            unit = _unit_of(source, settings, row, minute)
            if unit is None:
                continue
            out.carried.add(unit)
            if arrived is not None and (unit not in out.arrival or arrived < out.arrival[unit]):
                out.arrival[unit] = arrived
    return out


def _unit_time(unit: Hashable) -> datetime:
    return unit[1] if isinstance(unit, tuple) else unit  # type: ignore[return-value]


def _delivery_window(source: SourceId, settings: Settings) -> timedelta:
    """How long after a unit exists its regular delivery may take (Yahoo: the rotation and the look-back)."""
    if source == "yahoo_finance":
        return timedelta(minutes=settings.yahoo_rotation_minutes + settings.yahoo_lookback_minutes)
    if source == "openexchangerates":
        return timedelta(seconds=settings.oxr_refresh_seconds)
    return BAR


def _cause(
    source: SourceId,
    settings: Settings,
    unit: Hashable,
    available: datetime,
    last: datetime,
    deliveries: _Deliveries,
    incidents: Sequence[Incident],
) -> str:
    window = _delivery_window(source, settings)
    if available + window > last + BAR and source != "coinmarketcap":
        return "still within the rotation" if source == "yahoo_finance" else "within the refresh period"
    if unit in deliveries.carried:
        return "in a raw object, not in the sink"
    at = _unit_time(unit)
    for incident in incidents:
        if incident.source == source and incident.start < available + window and at < incident.end:
            return incident.cause
    if isinstance(unit, tuple):
        for minute, error in deliveries.errors.get(str(unit[0]), []):
            if available <= minute <= available + window:
                return _error_cause(error)
    return "not fetched"


def _error_cause(error: str) -> str:
    if "429" in error:
        return "rate limited (HTTP 429)"
    if "404" in error or "Not Found" in error:
        return "not found (HTTP 404)"
    return "error row: " + " ".join(error.split())[:60]


def _gaps(missing: Iterable[tuple[str, datetime]], step: timedelta) -> list[Gap]:
    """Missing units grouped by cause into runs of consecutive times."""
    by_cause: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for cause, at in missing:
        by_cause[cause][at] += 1
    gaps = []
    for cause, times in by_cause.items():
        run: Gap | None = None
        for at in sorted(times):
            if run is not None and at - run.end <= step:
                run.end, run.units = at, run.units + times[at]
                continue
            if run is not None:
                gaps.append(run)
            run = Gap(cause, at, at, times[at])
        if run is not None:
            gaps.append(run)
    return sorted(gaps, key=lambda g: (g.start, g.cause))


def _closed_days(source: SourceId, first: datetime, last: datetime) -> list[Gap]:
    """The exchange days of the window on which the market did not open (nothing was due)."""
    if registry.get(source).market != calendar.XNYS:
        return []
    out = []
    day = first.astimezone(calendar.NEW_YORK).date()
    while day <= last.astimezone(calendar.NEW_YORK).date():
        if calendar.session_of(day) is None:
            noon = datetime(day.year, day.month, day.day, 17, tzinfo=UTC)
            reason = calendar.closed_reason(calendar.XNYS, noon - BAR, noon) or "closed"
            out.append(Gap(f"market closed: {reason}", max(first, noon - timedelta(hours=12)),
                           min(last, noon + timedelta(hours=12)), 0))  # fmt: skip
        day += timedelta(days=1)
    return out


def measure(
    settings: Settings,
    start: datetime | str,
    end: datetime | str,
    *,
    s3: Any = None,
    sinks: Mapping[SourceId, Any] | None = None,
    sources: Sequence[SourceId] | None = None,
    load_times: Mapping[SourceId, Mapping[str, datetime]] | None = None,
    incidents: Sequence[Incident] = (),
) -> MarketReport:
    """Completeness and freshness of every source over the scheduled minutes [start, end] (see the module doc).

    `load_times` (source -> raw key -> when its sink took it) makes freshness end at the load; `incidents` name
    causes the caller knows of. Sinks built here are closed here.
    """
    from pipeline.sinks.base import SinkError

    first, last = floor_minute(to_utc(start)), floor_minute(to_utc(end))
    if s3 is None:
        from pipeline.aws import client

        s3 = client("s3", settings)
    known = list(incidents) + _yahoo_cooldown(settings, s3)
    reports = []
    for source in sources or registry.source_ids():
        report = SourceMarket(source, UNIT_NAMES.get(source, "units"))
        try:
            sink, own = sink_for(source, settings, s3, sinks)
            try:
                _measure_source(report, settings, s3, sink, first, last, (load_times or {}).get(source), known)
            finally:
                if own:
                    sink.close()
        except SinkError as exc:
            report.error = one_line(exc)
        reports.append(report)
    return MarketReport(first, last, reports)


def _measure_source(
    report: SourceMarket,
    settings: Settings,
    s3: Any,
    sink: Any,
    first: datetime,
    last: datetime,
    load_times: Mapping[str, datetime] | None,
    incidents: Sequence[Incident],
) -> None:
    source = report.source
    expected = expected_units(source, settings, first, last)
    reached = reached_units(source, settings, sink, first, last) & set(expected)
    deliveries = _deliveries(source, settings, s3, first, last, load_times)
    report.expected, report.reached = len(expected), len(reached)
    missing = [
        (_cause(source, settings, unit, available, last, deliveries, incidents), _unit_time(unit))
        for unit, available in expected.items()
        if unit not in reached
    ]
    step = timedelta(seconds=settings.oxr_refresh_seconds) if source == "openexchangerates" else BAR
    gaps = sorted(_gaps(missing, step) + _closed_days(source, first, last), key=lambda g: (g.start, g.cause))
    report.gaps, report.more_gaps = gaps[:MAX_GAPS], max(0, len(gaps) - MAX_GAPS)
    for unit in reached:
        arrived = deliveries.arrival.get(unit)
        if arrived is not None:
            report.freshness_minutes.append(max(0.0, (arrived - expected[unit]).total_seconds() / 60))
    report.freshness_basis = (
        "to the load of its first raw object (recorded load times)"
        if load_times is not None
        else "to the scheduled minute of its first raw object (the fetch; processing time not included)"
    )


def _yahoo_cooldown(settings: Settings, s3: Any) -> list[Incident]:
    """The Yahoo state document's last cool-down, as an incident."""
    from pipeline.sources.yahoo_finance.budget import YahooState
    from pipeline.state import S3State

    try:
        doc = YahooState.load(S3State(s3, settings.bucket))
    except Exception:  # no state document (or an unreadable one): no known cool-down
        return []
    if doc.cooldown_from and doc.cooldown_until:
        return [Incident("yahoo_finance", to_utc(doc.cooldown_from), to_utc(doc.cooldown_until), "cool-down")]
    return []
