"""The processed CoinMarketCap area as one dataset: read any window in one call, and compact finished days.

Layout, one directory a UTC day (`processed/coinmarketcap/YYYY/MM/DD/`):

- `HHMM.parquet`: one object per scheduled minute, written by the sink (its key derived 1:1 from the raw key: the
  minute's object is the idempotency unit);
- `compacted.parquet`: every minute of the day merged into one file by the scheduled compaction, which then deletes
  the minute objects it merged.

The rule every reader applies (this module, and the Athena view of docs/analysis.md): the rows of a raw key are
those of its latest write, the largest `loaded_at` among the rows carrying that `raw_key`. All rows of one write
share one `loaded_at`, and the compaction keeps each row's own. So while a compacted file and the minute objects
it merged both exist (between its PUT and the deletes), each minute is read once; a minute processed again after
its day was compacted (a replay, a redrive) supersedes the compacted copy until the next compaction folds it in;
and a minute is never read zero times, because the minute objects are deleted only after the compacted file that
holds them is written (one PUT: S3 replaces an object atomically), and a reader that lists a minute object the
compaction deletes before the GET reads that day's compacted file again.

Pruning: S3 lists keys in order, so a window is listed from its first minute's key to the end of its last day's
directory and no further; a compacted file is read with a filter on `raw_key`, which Parquet's statistics use to
skip row groups.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws import is_not_found, list_objects
from pipeline.constants import PROCESSED_PREFIX
from pipeline.contracts import parse_raw_key, processed_key
from pipeline.errors import one_line
from pipeline.sinks.base import SinkError

SOURCE: Final = "coinmarketcap"
COMPACTED_NAME: Final = "compacted.parquet"
AREA: Final = f"{PROCESSED_PREFIX}/{SOURCE}/"
# A day is finished for the compaction this long after it ends: late retries and redrives of its minutes land first
# (one landing later still is read over the compacted copy and folded in by the next run).
DEFAULT_GRACE: Final = timedelta(hours=1)
READ_WORKERS: Final = 16
ROW_GROUP_ROWS: Final = 64 * 1024
DELETE_BATCH: Final = 1000


def day_prefix(day: date) -> str:
    return f"{AREA}{day:%Y/%m/%d}/"


def compacted_key(day: date) -> str:
    """`processed/coinmarketcap/YYYY/MM/DD/compacted.parquet`: it sorts after the day's minute objects."""
    return day_prefix(day) + COMPACTED_NAME


def _day_of(key: str) -> date | None:
    """The day directory of a key of the area, or None for a key outside the layout."""
    parts = key[len(AREA) :].split("/")
    if not key.startswith(AREA) or len(parts) != 4:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def _raw_key_of(key: str) -> str:
    """The raw key a minute object was derived from (the inverse of `processed_key`)."""
    return "raw" + key[len(PROCESSED_PREFIX) : -len(".parquet")] + ".csv"


@dataclass
class Listing:
    """The objects of a window: minute objects by key (with their ETags) and compacted files by day."""

    minutes: dict[str, str] = field(default_factory=dict)
    compacted: dict[date, str] = field(default_factory=dict)

    @property
    def objects(self) -> int:
        return len(self.minutes) + len(self.compacted)


class ProcessedDataset:
    """The processed area of one bucket: listing, reading and compacting it."""

    def __init__(self, s3: Any, bucket: str, *, workers: int = READ_WORKERS) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.workers = workers

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- listing -----------------------------------------------------------------------------------------------
    def listing(self, first_raw_key: str, last_raw_key: str) -> Listing:
        """The minute objects of raw keys in [first, last] and the compacted files of their days."""
        first, last = processed_key(first_raw_key), processed_key(last_raw_key)
        first_day, last_day = parse_raw_key(first_raw_key)[1].date(), parse_raw_key(last_raw_key)[1].date()
        end = compacted_key(last_day)  # the last key of the window's last directory
        listing = Listing()
        try:
            for item in list_objects(self.s3, self.bucket, AREA, first):
                key = item["Key"]
                if key > end:  # listed in key order: nothing after this is in the window
                    break
                day = _day_of(key)
                if day is None:
                    continue
                if key.endswith("/" + COMPACTED_NAME):
                    if first_day <= day <= last_day:
                        listing.compacted[day] = key
                elif first <= key <= last:
                    listing.minutes[key] = str(item.get("ETag", ""))
        except (BotoCoreError, ClientError) as exc:
            raise SinkError(f"{self.where(AREA)}: could not list: {one_line(exc)}") from None
        return listing

    # -- reading -----------------------------------------------------------------------------------------------
    def _get(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise SinkError(f"{self.where(key)}: could not read the object: {one_line(exc)}") from None
        except BotoCoreError as exc:
            raise SinkError(f"{self.where(key)}: could not read the object: {one_line(exc)}") from None

    def _table(self, key: str, body: bytes, filters: Any = None, columns: Sequence[str] | None = None) -> pa.Table:
        try:
            return pq.read_table(io.BytesIO(body), filters=filters, columns=list(columns) if columns else None)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SinkError(f"{self.where(key)}: not a readable Parquet object: {one_line(exc)}") from None

    def read(self, first_raw_key: str, last_raw_key: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """Every row of the raw keys in [first, last], each minute once (its latest write), or None if none."""
        wanted = None if columns is None else list(dict.fromkeys([*columns, "raw_key", "loaded_at"]))
        listing = self.listing(first_raw_key, last_raw_key)
        window = [("raw_key", ">=", first_raw_key), ("raw_key", "<=", last_raw_key)]
        tables: dict[str, pa.Table] = {}
        vanished: set[date] = set()

        def fetch(key: str) -> tuple[str, pa.Table | None]:
            body = self._get(key)
            if body is None:
                return key, None
            compacted = key.endswith("/" + COMPACTED_NAME)
            return key, _ranked(self._table(key, body, window if compacted else None, wanted), not compacted)

        keys = [*listing.compacted.values(), *listing.minutes]
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys)))) as pool:
            for key, table in pool.map(fetch, keys):
                if table is not None:
                    tables[key] = table
                elif (day := _day_of(key)) is not None:  # merged and deleted since the listing
                    vanished.add(day)
        for day in sorted(vanished):  # the compaction wrote the day's file before it deleted anything
            body = self._get(compacted_key(day))
            if body is not None:  # replaces a copy read before the compaction wrote it again
                tables[compacted_key(day)] = _ranked(self._table(compacted_key(day), body, window, wanted), False)
        if not tables:
            return None
        return latest_writes(pa.concat_tables(list(tables.values()), promote_options="default"))

    # -- compaction --------------------------------------------------------------------------------------------
    def compact_day(self, day: date) -> CompactionResult:
        """Merge the day's minute objects (and its compacted file, if any) into one compacted file, then delete
        the minute objects merged. Nothing to merge: nothing written (compacting twice changes nothing)."""
        first = f"raw/{SOURCE}/{day:%Y/%m/%d}/0000.csv"
        last = f"raw/{SOURCE}/{day:%Y/%m/%d}/2359.csv"
        listing = self.listing(first, last)
        result = CompactionResult(day)
        if not listing.minutes:
            return result
        table = self.read(first, last)
        if table is None:  # every minute object vanished since the listing: another run compacted the day
            return result
        table = table.sort_by([("raw_key", "ascending"), ("rank", "ascending")])
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        key = compacted_key(day)
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=buffer.getvalue(), ContentType="application/vnd.apache.parquet"
            )
        except (BotoCoreError, ClientError) as exc:
            raise SinkError(f"{self.where(key)}: could not write the compacted file: {one_line(exc)}") from None
        result.rows = int(table.num_rows)
        result.minutes = len(set(table.column("raw_key").to_pylist()))
        result.deleted = self._delete_merged(listing.minutes, first, last)
        return result

    def _delete_merged(self, merged: dict[str, str], first: str, last: str) -> int:
        """Delete the minute objects merged, each only if it is still the version read (same ETag): one written
        again meanwhile stays, and is read over the compacted copy."""
        current = self.listing(first, last).minutes
        doomed = [key for key, etag in merged.items() if current.get(key) == etag]
        deleted = 0
        for start in range(0, len(doomed), DELETE_BATCH):
            batch = doomed[start : start + DELETE_BATCH]
            try:
                answer = self.s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except (BotoCoreError, ClientError) as exc:
                raise SinkError(f"{self.where(AREA)}: could not delete merged objects: {one_line(exc)}") from None
            errors = answer.get("Errors", [])
            if errors:
                raise SinkError(
                    f"{self.where(errors[0].get('Key', AREA))}: could not delete a merged object: "
                    f"{errors[0].get('Code', '')} {errors[0].get('Message', '')}".strip()
                )
            deleted += len(batch)
        return deleted

    def days_to_compact(self, now: datetime, grace: timedelta = DEFAULT_GRACE) -> list[date]:
        """Finished days (ended at least `grace` before `now`) that still hold minute objects, oldest first."""
        finished = (now - grace).astimezone(UTC).date()  # days before this one have ended at least `grace` ago
        days: set[date] = set()
        try:
            for item in list_objects(self.s3, self.bucket, AREA):
                key = item["Key"]
                day = _day_of(key)
                if day is None or day >= finished:
                    continue
                if not key.endswith("/" + COMPACTED_NAME):
                    days.add(day)
        except (BotoCoreError, ClientError) as exc:
            raise SinkError(f"{self.where(AREA)}: could not list: {one_line(exc)}") from None
        return sorted(days)

    def compact(
        self, now: datetime, grace: timedelta = DEFAULT_GRACE, days: Iterable[date] | None = None
    ) -> list[CompactionResult]:
        """Compact every finished day that still holds minute objects (or the given days)."""
        return [self.compact_day(day) for day in (self.days_to_compact(now, grace) if days is None else days)]


@dataclass
class CompactionResult:
    day: date
    minutes: int = 0  # distinct minutes in the compacted file
    rows: int = 0
    deleted: int = 0  # minute objects merged and deleted

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "minutes": self.minutes, "rows": self.rows, "deleted": self.deleted}


_RANK: Final = "__write_rank"


def _ranked(table: pa.Table, minute_object: bool) -> pa.Table:
    """The table with the rank of its write: `loaded_at` in microseconds, doubled, plus one for a minute object
    (the same write read from its minute object and from a compacted file: the minute object's copy wins)."""
    micros = pc.cast(pc.cast(table.column("loaded_at"), pa.timestamp("us", tz="UTC")), pa.int64())
    return table.append_column(_RANK, pc.add(pc.multiply(micros, 2), 1 if minute_object else 0))


def latest_writes(table: pa.Table) -> pa.Table:
    """Per raw key, only the rows of its latest write (see `_ranked`); the rank column dropped."""
    if table.num_rows == 0:
        return table.drop_columns([_RANK])
    latest = table.group_by("raw_key").aggregate([(_RANK, "max")])
    keep = pc.equal(
        table.column(_RANK), _lookup(table.column("raw_key"), latest.column("raw_key"), latest.column(f"{_RANK}_max"))
    )
    return table.filter(keep).drop_columns([_RANK])


def _lookup(keys: pa.ChunkedArray, index: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> Any:
    positions = pc.index_in(keys, value_set=pa.chunked_array(index).combine_chunks())
    return pc.take(pa.chunked_array(values).combine_chunks(), positions)
