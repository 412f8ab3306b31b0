"""Prove that nothing was lost: the raw objects' success rows reconciled against every sink, minute by minute.

For each source, every raw object in the window is read (`raw/<source>/YYYY/MM/DD/HHMM.csv`), its success rows
typed, and their natural keys compared with what the sink holds:

| source | sink | natural key |
| --- | --- | --- |
| yahoo_finance | Snowflake bars | (symbol, ts) |
| coinmarketcap | processed Parquet objects | (processed object, symbol): objects are 1:1 with raw keys |
| openexchangerates | SQL Server rates | (base, currency, rate_ts) |

A key is *missing* when no sink row has it. A sink row is *extra* when its raw key is in the window but that raw
object has no such row (or no raw object exists), or when a natural key is held twice; an open end of the window
reaches every raw key, so with no window every row a sink holds is checked. Rows count as *quarantined* only by
their raw object's own quarantine record (`pipeline.quarantine.marks`). A raw object that cannot be read is
*unreadable*: one line with the reason, the rest of the report intact. A key that several raw
objects carry (overlapping Yahoo look-backs; the same hourly rates served again from the quota guard's cache) is
held once, attributed to the latest raw object that delivered it: it counts as found for every minute carrying it.
A scheduled minute of the window without a raw object is *skipped* only where the source skips by design
(`skips_minutes`: Open Exchange Rates' rates that cannot have changed; Yahoo's closed market, cool-downs and bars
that a later raw object's look-back carries, which `verify --market` measures); of a source that writes one every
minute (CoinMarketCap) it is *absent*: counted, and the report is not ok (`verify --market` names the causes).
A report that is not ok says what to type next (`advice`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.table import Table

from pipeline import quarantine, registry
from pipeline.constants import SourceId
from pipeline.contracts import STATUS_SUCCESS, floor_minute, iso, parse_raw_key, processed_key, raw_key, to_utc
from pipeline.errors import one_line
from pipeline.process import conflicting
from pipeline.raw import read_raw, row_problem
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError, StoredRow
from workbench.replay import raw_objects

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client


@dataclass
class MinuteCheck:
    """One raw object (one scheduled minute) of one source against its sink."""

    source: SourceId
    raw_key: str
    minute: datetime
    raw_rows: int = 0  # success rows in the raw object
    sink_rows: int = 0  # of its natural keys, those the sink holds
    missing: int = 0
    extra: int = 0
    quarantined: int = 0  # success rows set aside under quarantine/ with their reason: accounted for, not lost
    note: str = ""
    unreadable: str = ""  # why the raw object could not be read (its rows cannot be reconciled)
    set_aside: bool = False  # the object's own quarantine record says the whole object was refused

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.extra == 0 and (not self.unreadable or self.set_aside)

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        problems = [s for s, n in (("missing", self.missing), ("extra", self.extra)) if n]
        return " and ".join(problems + (["unreadable"] if self.unreadable and not self.set_aside else []))


@dataclass
class SourceReport:
    source: SourceId
    minutes: list[MinuteCheck] = field(default_factory=list)
    error: str = ""  # the sink or the bucket could not be read
    skipped: int = 0  # scheduled minutes of the window without a raw object (nothing new to ingest)
    closed_minutes: int = 0  # of those, the minutes its market was closed for (no raw object expected)
    absent: int = 0  # scheduled minutes without a raw object where the source writes one: not skipped, lost

    @property
    def ok(self) -> bool:
        return not self.error and not self.absent and all(m.ok for m in self.minutes)

    def total(self, name: str) -> int:
        return sum(getattr(m, name) for m in self.minutes)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        bad = sum(1 for m in self.minutes if not m.ok)
        skipped = f" ({self.skipped} minute(s) skipped" if self.skipped else ""
        if skipped and self.closed_minutes:
            skipped += f", {self.closed_minutes} of them market closed"
        problems = [f"{bad} minute(s) differ"] if bad else []
        if self.absent:
            problems.append(f"{self.absent} minute(s) absent: no raw object")
        return ("; ".join(problems) or "ok") + (skipped + ")" if skipped else "")


@dataclass
class Report:
    sources: list[SourceReport]
    start: datetime | None = None
    end: datetime | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    def advice(self) -> list[str]:
        """What to type next, one line per source that is not ok."""
        lines = []
        window = f" --from {iso(self.start)} --to {iso(self.end)}" if self.start and self.end else ""
        for s in self.sources:
            if s.error:
                continue
            missing = [m.minute for m in s.minutes if m.missing]
            if missing:
                replay = (
                    f"python -m pipeline replay --source {s.source} --from {iso(min(missing))} --to {iso(max(missing))}"
                )
                lines.append(
                    f"{s.source}: {s.total('missing')} row(s) missing: load them again with `{replay}`, then verify"
                )
            if s.absent:
                market = f"python -m pipeline verify --market --source {s.source}{window}"
                lines.append(
                    f"{s.source}: {s.absent} scheduled minute(s) have no raw object: the causes with `{market}`"
                )
        return lines

    def table(self, max_details: int = 10) -> Table:
        """Per source: minutes, raw rows, sink rows, missing, extra, status; then the minutes that differ."""
        window = f"{_fmt(self.start)} to {_fmt(self.end)}" if self.start or self.end else "every raw object"
        table = Table(title=f"Reconciliation, raw objects against sinks ({window})")
        for name in ("source", "sink", "minutes", "raw rows", "sink rows", "quarantined", "missing", "extra",
                     "status"):  # fmt: skip
            table.add_column(name, justify="left" if name in ("source", "sink", "status") else "right")
        for s in self.sources:
            colour = "green" if s.ok else "red"
            table.add_row(
                s.source, registry.get(s.source).sink_label, str(len(s.minutes)), str(s.total("raw_rows")),
                str(s.total("sink_rows")), str(s.total("quarantined")), str(s.total("missing")), str(s.total("extra")),
                f"[{colour}]{s.error or s.status}[/{colour}]",
            )  # fmt: skip
            bad = [m for m in s.minutes if not m.ok]
            for m in bad[:max_details]:
                table.add_row(
                    "", f"  {m.raw_key}", "", str(m.raw_rows), str(m.sink_rows), str(m.quarantined), str(m.missing),
                    str(m.extra),
                    f"[red]{m.status}[/red]{': ' + m.note if m.note else ''}",
                )  # fmt: skip
            if len(bad) > max_details:
                table.add_row("", f"  ... and {len(bad) - max_details} more minute(s)", "", "", "", "", "", "", "")
        return table

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "start": self.start,
            "end": self.end,
            "advice": self.advice(),
            "sources": [
                {
                    "source": s.source,
                    "sink": registry.get(s.source).sink_label,
                    "ok": s.ok,
                    "error": s.error,
                    "minutes": len(s.minutes),
                    "skipped": s.skipped,
                    "closed_minutes": s.closed_minutes,
                    "absent": s.absent,
                    **{n: s.total(n) for n in ("raw_rows", "sink_rows", "quarantined", "missing", "extra")},
                    "differences": [asdict(m) | {"status": m.status} for m in s.minutes if not m.ok],
                }
                for s in self.sources
            ],
        }


def verify(
    settings: Settings,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    *,
    s3: S3Client | None = None,
    sinks: Mapping[SourceId, Any] | None = None,
    sources: Sequence[SourceId] | None = None,
) -> Report:
    """Reconcile every source's raw objects scheduled in [start, end] (inclusive; open when None) with its sink.

    `s3` and `sinks` (source -> sink) default to clients and sinks built from `settings`; sinks built here are
    closed here.
    """
    first = to_utc(start) if start is not None else None
    last = to_utc(end) if end is not None else None
    if s3 is None:
        from pipeline.aws import client

        s3 = client("s3", settings)
    reports = []
    for source in registry.source_ids() if sources is None else sources:
        try:
            sink, own = sink_for(source, settings, s3, sinks)
        except SinkError as exc:
            reports.append(SourceReport(source, error=_for_verify(str(exc))))
            continue
        try:
            report = _verify_source(source, settings.bucket, s3, sink, _first_minute(first), last)
            _count_unwritten(report, _first_minute(first), last)
            reports.append(report)
        except SinkError as exc:
            reports.append(SourceReport(source, error=_for_verify(str(exc))))
        finally:
            if own:
                sink.close()
    return Report(reports, first, last)


def sink_for(source: SourceId, settings: Settings, s3: Any, sinks: Mapping[str, Any] | None) -> tuple[Any, bool]:
    """The sink a reconciliation reads for `source`: the one given in `sinks`, else a new one (own: True, the caller
    closes it)."""
    if sinks is not None and source in sinks:
        return sinks[source], False
    from pipeline.sinks import get_sink

    return get_sink(source, settings, s3=s3), True


def _for_verify(message: str) -> str:
    """A sink's error as verify reports it: verify carries no event to retry; what to do is try again."""
    return message.replace("the event will be retried", "then run verify again")


def _count_unwritten(report: SourceReport, first: datetime | None, last: datetime | None) -> None:
    """The scheduled minutes without a raw object: skipped where the source skips by design (its market closed,
    rates that cannot have changed, bars another raw object carries), else absent (a raw object was due)."""
    report.skipped = _skipped(report, first, last)
    report.closed_minutes = _closed_minutes(report.source, first, last)
    if not registry.get(report.source).skips_minutes:
        report.absent, report.skipped = report.skipped, 0


def _closed_minutes(source: SourceId, first: datetime | None, last: datetime | None) -> int:
    """Scheduled minutes in [first, last] whose bars (the minute before each) the source's market did not trade:
    the market calendar says no raw object is due for them (stocks: NYSE holidays, early closes, nights)."""
    market = registry.get(source).market
    if market == "24/7" or first is None or last is None or last < first or last - first > timedelta(days=31):
        return 0
    from pipeline.calendar import is_open

    count = int((last - first).total_seconds() // 60) + 1
    return sum(not is_open(market, first + timedelta(minutes=i - 1)) for i in range(count))


def _first_minute(start: datetime | None) -> datetime | None:
    """The first scheduled minute at or after `start`: its raw key opens the window (a start within a minute
    must not put that minute's sink rows in the window when its raw object is not)."""
    if start is None:
        return None
    minute = floor_minute(start)
    return minute if minute == start else minute + timedelta(minutes=1)


_ORPHAN = "not among the raw objects checked"
_EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)  # four-digit years: raw keys sort as their minutes do
_LATEST = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)


def _skipped(report: SourceReport, first: datetime | None, last: datetime | None) -> int:
    """Scheduled minutes in [first, last] with no raw object (0 for an open window)."""
    if first is None or last is None or last < first:
        return 0
    written = {m.minute for m in report.minutes if m.note != _ORPHAN}
    total = int((floor_minute(last) - first).total_seconds() // 60) + 1
    return max(0, total - len({m for m in written if first <= m <= last}))


def _verify_source(
    source: SourceId, bucket: str, s3: S3Client, sink: Any, first: datetime | None, last: datetime | None
) -> SourceReport:
    spec = registry.get(source)
    keys = [key for key, _ in raw_objects(s3, bucket, source, first, last)]
    set_aside = quarantine.marks(s3, bucket, source)
    checks: dict[str, MinuteCheck] = {}
    expected: dict[str, set[tuple[Any, ...]]] = {}
    times: list[datetime] = []
    for key in keys:
        checks[key], expected[key] = _read_minute(spec, s3, bucket, key, times, set_aside.get(key))

    # an open end reaches every raw key the sink can hold, not just the first and last raw objects still stored:
    # sink rows whose raw objects are gone are extra, never out of the window
    lo = raw_key(source, first if first is not None else _EARLIEST)
    hi = raw_key(source, last if last is not None else _LATEST)
    stored: list[StoredRow] = sink.stored_rows(lo, hi, min(times, default=None), max(times, default=None))
    _count_held(checks, expected, stored, set_aside)
    _count_extra(source, checks, expected, stored, lo, hi)
    return SourceReport(source, sorted(checks.values(), key=lambda c: c.raw_key))


def stored_key(spec: registry.SourceSpec, row: Any, raw_key: str) -> tuple[Any, ...]:
    """A typed row's natural key as its sink stores it (what `verify` compares): led by the processed object's key
    when the sink stores one object per raw object."""
    if spec.keyed_by_object:
        return (processed_key(raw_key), *spec.row_key(row))
    return spec.row_key(row)


def _read_minute(
    spec: registry.SourceSpec,
    s3: S3Client,
    bucket: str,
    key: str,
    times: list[datetime],
    mark: quarantine.Marks | None = None,
) -> tuple[MinuteCheck, set[tuple[Any, ...]]]:
    """One raw object: its check (success rows, those that do not validate, those set aside in quarantine) and the
    natural keys its sink should hold; the natural times of its rows are added to `times`."""
    model = spec.model()
    mark = mark or quarantine.Marks()
    check = MinuteCheck(spec.id, key, parse_raw_key(key)[1], set_aside=mark.whole)
    try:
        rows = read_raw(s3, bucket, key, spec.id)
    except Exception as exc:  # any object, whatever its bytes: one line for it, the rest of the report intact
        check.unreadable = one_line(exc)
        check.note = f"unreadable: {check.unreadable}"
        return check, set()
    # rows the pipeline must account for: success rows, and rows that are neither success nor error (quarantined)
    check.raw_rows = sum(1 for row in rows if row.get("status") == STATUS_SUCCESS or row_problem(row))
    found: set[tuple[Any, ...]] = set()
    invalid = 0
    typed_lines: list[tuple[int, Any]] = []
    for line, row in enumerate(rows, start=2):  # line numbers as the process function quarantines them
        problem = row_problem(row)
        if row.get("status") != STATUS_SUCCESS and not problem:
            continue
        if mark.covers(line):  # set aside by the process function (a value, its minute, or the sink refused it)
            check.quarantined += 1
            continue
        if problem:  # ragged, or a status that is neither word: the process function sets it aside
            invalid += 1
            continue
        try:
            typed_lines.append((line, model.model_validate(row)))
        except ValidationError:
            invalid += 1
    conflicts, _ = conflicting(spec, typed_lines)  # conflicting duplicates never load (unless quarantined above)
    invalid += len(conflicts)
    for line, typed in typed_lines:
        if line in conflicts:
            continue
        found.add(stored_key(spec, typed, key))
        if (t := spec.time_of(typed)) is not None:
            times.append(t)
    if invalid:
        check.missing += invalid
        check.note = f"{invalid} row(s) neither loadable nor quarantined (invalid, unknown status, ragged, conflicting)"
    return check, found


def _count_held(
    checks: Mapping[str, MinuteCheck],
    expected: Mapping[str, set[tuple[Any, ...]]],
    stored: Sequence[StoredRow],
    set_aside: Mapping[str, quarantine.Marks],
) -> None:
    """Per raw object: of the keys it delivered, how many the sink holds and how many it misses (or, for an object
    set aside whole in quarantine, how many are quarantined)."""
    held = {row.key for row in stored}
    for key, found in expected.items():
        check = checks[key]
        if check.unreadable:  # what its rows should be is unknown: the sink's rows of it are counted, not judged
            check.sink_rows = sum(1 for row in stored if row.raw_key == key)
            continue
        check.sink_rows = sum(1 for k in found if k in held)
        absent = sum(1 for k in found if k not in held)
        if key in set_aside and set_aside[key].whole:  # the whole object was refused and set aside
            check.quarantined += absent
        else:
            check.missing += absent


def _count_extra(
    source: SourceId,
    checks: dict[str, MinuteCheck],
    expected: Mapping[str, set[tuple[Any, ...]]],
    stored: Sequence[StoredRow],
    lo: str,
    hi: str,
) -> None:
    """Sink rows no raw object in the window delivered, or held twice: counted on their minute, or on a minute of
    their own when their raw object is not among those checked."""
    wanted = set().union(*expected.values()) if expected else set()
    orphans: dict[str, int] = defaultdict(int)
    seen: set[tuple[Any, ...]] = set()
    for held_row in stored:
        in_window = lo <= held_row.raw_key <= hi
        duplicate = held_row.key in seen
        seen.add(held_row.key)
        unreadable = held_row.raw_key in checks and checks[held_row.raw_key].unreadable
        unexpected = in_window and not unreadable and held_row.key not in expected.get(held_row.raw_key, ())
        if unexpected or (duplicate and (in_window or held_row.key in wanted)):
            if held_row.raw_key in checks:
                checks[held_row.raw_key].extra += 1
            else:
                orphans[held_row.raw_key] += 1
    for key, extra in orphans.items():
        try:
            minute = parse_raw_key(key)[1]
        except ValueError:
            minute = datetime.min
        checks[key] = MinuteCheck(source, key, minute, extra=extra, note=_ORPHAN)


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%MZ") if value else "..."
