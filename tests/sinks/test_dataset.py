"""The processed crypto area as a dataset: a window reads only its own days' objects, and the compaction merges a
finished day into one file without a reader ever seeing a minute twice or not at all."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.contracts import raw_key
from pipeline.schemas import Coin
from pipeline.sinks.base import SinkError
from pipeline.sinks.s3parquet.dataset import ProcessedDataset, compacted_key
from tests.sinks.conftest import s3_client
from tests.sinks.harness import ParquetHarness

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)
SYMBOLS = ("BTC", "ETH", "XRP")


def coins(at: datetime, price: float = 100.0, symbols: tuple[str, ...] = SYMBOLS) -> list[Coin]:
    return [
        Coin(rank=i + 1, name=f"Coin {s}", symbol=s, price_usd=price + i, market_cap_usd=1e9, scheduled_at=at)
        for i, s in enumerate(symbols)
    ]


def minutes_of(day: datetime, *offsets: int) -> list[datetime]:
    return [day + timedelta(minutes=m) for m in offsets]


# minutes spread over three days: the first and last minute of the day, one late at night
LOADED = [*minutes_of(DAY1, 0, 1439), *minutes_of(DAY2, 0, 1, 2, 600, 1439), *minutes_of(DAY3, 0, 5)]


@pytest.fixture
def harness(moto_server: Any) -> ParquetHarness:
    harness = ParquetHarness(moto_server)
    for minute in LOADED:
        harness.sink.load(coins(minute, price=minute.minute + 1.0), raw_key("coinmarketcap", minute))
    return harness


def dataset(harness: ParquetHarness, client: Any = None) -> ProcessedDataset:
    return ProcessedDataset(client or harness.sink.s3, harness.bucket)


def counting_client(harness: ParquetHarness) -> tuple[Any, list[str]]:
    """An S3 client of its own that records the key of every GetObject it sends."""
    client: Any = s3_client(harness.server.url)
    got: list[str] = []
    client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: got.append(params["Key"]))
    return client, got


def read(harness: ParquetHarness, first: datetime, last: datetime, client: Any = None) -> pa.Table:
    table = dataset(harness, client).read(raw_key("coinmarketcap", first), raw_key("coinmarketcap", last))
    assert table is not None
    return table


def rows_of(table: pa.Table) -> list[tuple[str, str, float]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in ("raw_key", "symbol", "price_usd")), strict=True))


def keys(harness: ParquetHarness) -> list[str]:
    s3: Any = s3_client(harness.server.url)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=harness.bucket).get("Contents", [])]


# -- pruning ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (DAY2, DAY2 + timedelta(minutes=1439), minutes_of(DAY2, 0, 1, 2, 600, 1439)),  # a whole day
        (DAY2 + timedelta(minutes=1), DAY2 + timedelta(minutes=2), minutes_of(DAY2, 1, 2)),  # two minutes
        (DAY1 + timedelta(minutes=1439), DAY2, [DAY1 + timedelta(minutes=1439), DAY2]),  # across midnight
        (DAY2 + timedelta(minutes=3), DAY2 + timedelta(minutes=599), []),  # a gap inside a day
    ],
)
def test_a_window_gets_only_the_objects_of_its_minutes(harness, first, last, expected):
    client, got = counting_client(harness)
    table = dataset(harness, client).read(raw_key("coinmarketcap", first), raw_key("coinmarketcap", last))

    assert sorted(got) == sorted(f"processed/coinmarketcap/{m:%Y/%m/%d/%H%M}.parquet" for m in expected)
    if expected:
        assert table is not None
        assert {r for r, _, _ in rows_of(table)} == {raw_key("coinmarketcap", m) for m in expected}
    else:
        assert table is None


def test_a_compacted_day_is_read_with_one_get_and_only_the_window_rows(harness):
    dataset(harness).compact_day(DAY2.date())
    client, got = counting_client(harness)

    table = read(harness, DAY2 + timedelta(minutes=1), DAY2 + timedelta(minutes=600), client)

    assert got == [compacted_key(DAY2.date())]
    assert {r for r, _, _ in rows_of(table)} == {raw_key("coinmarketcap", m) for m in minutes_of(DAY2, 1, 2, 600)}


# -- compaction --------------------------------------------------------------------------------------------------
def test_compaction_merges_a_day_into_one_file_and_readers_see_the_same_rows(harness):
    before = rows_of(read(harness, DAY1, DAY3 + timedelta(minutes=5)))

    result = dataset(harness).compact_day(DAY2.date())

    assert (result.minutes, result.rows, result.deleted) == (5, 15, 5)
    day2 = [k for k in keys(harness) if k.startswith("processed/coinmarketcap/2026/03/02/")]
    assert day2 == [compacted_key(DAY2.date())]
    assert rows_of(read(harness, DAY1, DAY3 + timedelta(minutes=5))) == before


def test_compacting_twice_changes_nothing(harness):
    dataset(harness).compact_day(DAY2.date())
    s3: Any = s3_client(harness.server.url)
    first = s3.get_object(Bucket=harness.bucket, Key=compacted_key(DAY2.date()))
    rows = rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439)))

    again = dataset(harness).compact_day(DAY2.date())

    assert (again.rows, again.deleted) == (0, 0)
    second = s3.get_object(Bucket=harness.bucket, Key=compacted_key(DAY2.date()))
    assert second["ETag"] == first["ETag"]
    assert rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439))) == rows


def test_between_the_compacted_put_and_the_deletes_each_minute_is_read_once(harness):
    before = rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439)))
    client: Any = s3_client(harness.server.url)

    def refuse(**_: Any) -> None:
        raise RuntimeError("the function stopped before its deletes")

    client.meta.events.register("before-call.s3.DeleteObjects", refuse)
    with pytest.raises(RuntimeError):
        ProcessedDataset(client, harness.bucket).compact_day(DAY2.date())

    listed = keys(harness)
    assert compacted_key(DAY2.date()) in listed
    assert "processed/coinmarketcap/2026/03/02/0001.parquet" in listed  # both copies are there
    assert rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439))) == before


def test_a_minute_deleted_by_a_compaction_after_the_listing_is_read_from_the_compacted_file(harness):
    before = rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439)))
    client: Any = s3_client(harness.server.url)
    compacted: list[bool] = []

    def compact_first(params: dict[str, Any], **_: Any) -> None:  # the reader has listed; now the day is compacted
        if not compacted:
            compacted.append(True)
            dataset(harness).compact_day(DAY2.date())

    client.meta.events.register("before-parameter-build.s3.GetObject", compact_first)
    reader = ProcessedDataset(client, harness.bucket, workers=1)

    table = reader.read(raw_key("coinmarketcap", DAY2), raw_key("coinmarketcap", DAY2 + timedelta(minutes=1439)))

    assert compacted
    assert table is not None
    assert rows_of(table) == before


def test_a_minute_processed_again_after_compaction_is_read_once_with_its_latest_rows(harness):
    dataset(harness).compact_day(DAY2.date())
    minute = DAY2 + timedelta(minutes=1)
    harness.sink.load(coins(minute, price=500.0, symbols=("BTC", "ETH")), raw_key("coinmarketcap", minute))

    table = read(harness, DAY2, DAY2 + timedelta(minutes=1439))

    of_minute = [r for r in rows_of(table) if r[0] == raw_key("coinmarketcap", minute)]
    assert of_minute == [
        (raw_key("coinmarketcap", minute), "BTC", 500.0),
        (raw_key("coinmarketcap", minute), "ETH", 501.0),
    ]
    assert table.num_rows == 4 * 3 + 2
    assert harness.sink.stored_rows(raw_key("coinmarketcap", DAY2), raw_key("coinmarketcap", DAY2 + timedelta(1)))

    again = dataset(harness).compact_day(DAY2.date())  # the next run folds it in
    assert (again.minutes, again.rows, again.deleted) == (5, 14, 1)
    assert rows_of(read(harness, DAY2, DAY2 + timedelta(minutes=1439))) == rows_of(table)


def test_a_minute_written_again_while_it_is_merged_is_not_deleted(harness):
    minute = DAY2 + timedelta(minutes=2)
    rewritten: list[bool] = []

    class RewriteAfterThePut:  # another process function writes the minute again right after the compacted PUT
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def put_object(self, **kwargs: Any) -> Any:
            answer = self.client.put_object(**kwargs)
            rewritten.append(True)
            harness.sink.load(coins(minute, price=900.0), raw_key("coinmarketcap", minute))
            return answer

    result = ProcessedDataset(RewriteAfterThePut(s3_client(harness.server.url)), harness.bucket).compact_day(
        DAY2.date()
    )

    assert rewritten
    assert result.deleted == 4
    assert "processed/coinmarketcap/2026/03/02/0002.parquet" in keys(harness)
    prices = {s: p for r, s, p in rows_of(read(harness, minute, minute)) if r == raw_key("coinmarketcap", minute)}
    assert prices == {"BTC": 900.0, "ETH": 901.0, "XRP": 902.0}


def test_only_finished_days_with_minute_objects_are_compacted(harness):
    ds = dataset(harness)
    # DAY3 has minute objects but is not finished an hour before 00:30 of the next day
    assert ds.days_to_compact(DAY3 + timedelta(days=1, minutes=30)) == [DAY1.date(), DAY2.date()]
    assert ds.days_to_compact(DAY3 + timedelta(days=1, hours=1)) == [DAY1.date(), DAY2.date(), DAY3.date()]
    ds.compact(DAY3 + timedelta(days=1, minutes=30))
    assert ds.days_to_compact(DAY3 + timedelta(days=1, minutes=30)) == []


def test_the_verify_rows_of_a_compacted_day_are_those_of_its_minute_objects(harness):
    first, last = raw_key("coinmarketcap", DAY1), raw_key("coinmarketcap", DAY3 + timedelta(minutes=5))
    before = sorted(harness.sink.stored_rows(first, last), key=lambda r: (r.raw_key, r.key))

    dataset(harness).compact(DAY3 + timedelta(days=2))

    assert sorted(harness.sink.stored_rows(first, last), key=lambda r: (r.raw_key, r.key)) == before
    assert len(before) == len(LOADED) * 3


# -- what is not the dataset's -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "processed/coinmarketcap/notes.txt",
        "processed/coinmarketcap/2026/13/02/0001.parquet",  # no such month
        "processed/coinmarketcap/2026/03/02/extra/0001.parquet",  # too deep
        "processed/yahoo_finance/2026/03/02/0001.parquet",  # another source's area
    ],
)
def test_objects_outside_the_layout_are_never_read(harness, key):
    s3: Any = s3_client(harness.server.url)
    s3.put_object(Bucket=harness.bucket, Key=key, Body=b"not parquet")
    client, got = counting_client(harness)

    table = read(harness, DAY1, DAY3 + timedelta(minutes=5), client)

    assert key not in got
    assert table.num_rows == len(LOADED) * 3


def test_an_unreadable_compacted_file_is_one_line_naming_it(harness):
    s3: Any = s3_client(harness.server.url)
    s3.put_object(Bucket=harness.bucket, Key=compacted_key(date(2026, 3, 2)), Body=b"PAR1 garbage")

    with pytest.raises(SinkError) as caught:
        read(harness, DAY2, DAY2 + timedelta(minutes=5))

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"s3://{harness.bucket}/{compacted_key(date(2026, 3, 2))}: not a readable Parquet")


def test_the_compacted_file_keeps_each_row_loaded_at_and_schema(harness):
    minute_body = (
        s3_client(harness.server.url)
        .get_object(  # type: ignore[attr-defined]
            Bucket=harness.bucket, Key="processed/coinmarketcap/2026/03/02/1000.parquet"
        )["Body"]
        .read()
    )
    minute = pq.read_table(io.BytesIO(minute_body))

    dataset(harness).compact_day(DAY2.date())

    body = (
        s3_client(harness.server.url)
        .get_object(  # type: ignore[attr-defined]
            Bucket=harness.bucket, Key=compacted_key(DAY2.date())
        )["Body"]
        .read()
    )
    compacted = pq.read_table(io.BytesIO(body))
    assert compacted.schema.equals(minute.schema, check_metadata=False)
    same = compacted.filter(pa.compute.equal(compacted.column("raw_key"), minute.column("raw_key")[0]))
    assert same.column("loaded_at").to_pylist() == minute.column("loaded_at").to_pylist()
