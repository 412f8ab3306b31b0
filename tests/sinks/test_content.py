"""Content is terminal and costs only itself: a raw object whose rows hold values a sink's column types cannot
take is processed through `process_event` (read from S3, typed, checked, loaded) on each real sink.

GIVEN a raw object of good rows and one bad row, WHEN it is processed, THEN the bad row comes back rejected with
its line and reason (quarantined by the handler), every good row of the object is in the sink, and the sink (and
a new instance of it, as a new Lambda) still loads the next object. A sink that is down stays transient.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from pipeline import registry
from pipeline.contracts import Event
from pipeline.errors import kind_of
from pipeline.process import process_event
from pipeline.raw import rows_to_csv
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError
from pipeline.sinks.s3parquet.loader import ParquetSink
from pipeline.sinks.snowflake.loader import SnowflakeSink
from pipeline.sinks.sqlserver.loader import SqlServerSink
from tests.sinks.conftest import MotoServer, s3_client
from tests.sinks.harness import T0, Harness, ParquetHarness, SnowflakeHarness, SqlServerHarness
from workbench.local.processes import free_port

SCHEDULED = T0 + timedelta(minutes=1)
BIG = "X" * (200 * 1024)  # over the csv module's default field limit of 128 KiB


CURRENCIES = ("AUD", "CAD", "CHF", "EUR", "GBP", "JPY", "NOK", "SEK")


def good_rows(source: str, n: int) -> list[dict[str, Any]]:
    """`n` success rows of a raw object as the ingest writes them (symbols S0000...)."""
    common = {"status": "success", "error": "", "scheduled_at": SCHEDULED.isoformat(),
              "ingested_at": (SCHEDULED + timedelta(seconds=2)).isoformat()}  # fmt: skip
    if source == "yahoo_finance":
        return [{"symbol": f"S{i:04d}", "ts": T0.isoformat(), "open": 100.0, "high": 101.0, "low": 99.0,
                 "close": 100.5, "volume": 1000 + i, **common} for i in range(n)]  # fmt: skip
    if source == "coinmarketcap":
        return [{"rank": i + 1, "name": f"Coin {i}", "symbol": f"S{i:04d}", "price_usd": 10.0 + i,
                 "market_cap_usd": 1e9, "volume_24h_usd": 1e8, "circulating_supply": 1e7, **common}
                for i in range(n)]  # fmt: skip
    return [{"base": "USD", "currency": CURRENCIES[i], "rate": 1.5 + i, "rate_ts": T0.isoformat(), **common}
            for i in range(n)]  # fmt: skip


# (sink, column, value written in the raw CSV): each a value the sink's column type cannot hold (or that the row
# models already refuse); whichever refuses it, it costs its row only.
BAD = [
    ("snowflake", "volume", "1" + "0" * 40),  # 41 digits: over NUMBER(38, 0)
    ("snowflake", "volume", str(10**38)),  # 39 digits
    ("snowflake", "volume", str(2**63)),  # fits NUMBER(38, 0), but the bound JSON document would round it
    ("snowflake", "open", "inf"),
    ("snowflake", "open", "1e309"),
    ("snowflake", "close", "nan"),
    ("snowflake", "ts", "0001-01-01T00:00:00+00:00"),  # before the years Snowflake holds (1582..9999)
    ("snowflake", "symbol", "AB\x00C"),
    ("snowflake", "symbol", BIG),
    ("sqlserver", "rate", "inf"),
    ("sqlserver", "rate", "1e309"),
    ("sqlserver", "rate", "nan"),
    ("sqlserver", "currency", "E\x00R"),
    ("sqlserver", "currency", BIG),
    ("sqlserver", "rate", "5e-324"),  # a subnormal double: SQL Server's FLOAT refuses it
    ("parquet", "rank", str(2**31)),  # over Parquet's int32
    ("parquet", "price_usd", "inf"),
    ("parquet", "price_usd", "nan"),
    ("parquet", "market_cap_usd", "1e309"),
    ("parquet", "name", "Bit\x00coin"),
    ("parquet", "symbol", BIG),
]

# The same columns written in other ways that are right: loaded, never refused.
GOOD = [
    ("snowflake", "volume", str(2**63 - 1)),  # the largest volume the bound JSON document carries exactly
    ("snowflake", "volume", "0"),
    ("snowflake", "open", "1E+2"),
    ("snowflake", "ts", "2026-03-02T10:30:00-05:00"),  # the same minute at another offset
    ("snowflake", "symbol", "BRK-B"),
    ("snowflake", "symbol", "Ä" * 32),
    ("sqlserver", "rate", "1.7976931348623157e308"),  # the largest finite FLOAT(53)
    ("sqlserver", "rate", "2.2250738585072014e-308"),  # the smallest normal double
    ("sqlserver", "currency", "XAU"),
    ("parquet", "rank", str(2**31 - 1)),
    ("parquet", "market_cap_usd", "1.7976931348623157e308"),
    ("parquet", "name", "Ωmega " + "x" * 194),  # 200 characters, the longest name a row holds
]

SOURCE = {"snowflake": "yahoo_finance", "sqlserver": "openexchangerates", "parquet": "coinmarketcap"}


def make_harness(sink: str, request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if sink == "snowflake":
        made: Harness = SnowflakeHarness(request.getfixturevalue("fakesnow_server"), tmp_path)
    elif sink == "sqlserver":
        made = SqlServerHarness(tmp_path)
    else:
        made = ParquetHarness(request.getfixturevalue("moto_server"))
    request.addfinalizer(made.sink.close)
    return made


def put_raw(moto: MotoServer, source: str, rows: list[dict[str, Any]], minute: int) -> tuple[Any, Event]:
    """The rows as a raw object in a bucket of its own; the event that names it."""
    s3: Any = s3_client(moto.url)
    bucket = f"raw-{uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    at = T0 + timedelta(minutes=minute)
    key = f"raw/{source}/{at:%Y/%m/%d/%H%M}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=rows_to_csv(source, rows))
    event = Event(bucket=bucket, key=key, source=source, scheduled_at=at.isoformat(), rows=len(rows))
    return s3, event


def stored_names(harness: Harness) -> set[str]:
    """The symbols (currencies) the sink holds."""
    return {key[0] if harness.source == "yahoo_finance" else key[1] for key in harness.stored()}


def names_of(source: str, rows: list[dict[str, Any]]) -> set[str]:
    return {str(r["currency" if source == "openexchangerates" else "symbol"]) for r in rows}


@pytest.mark.parametrize(("sink", "column", "value"), BAD, ids=[f"{s}-{c}-{v[:12]!r}" for s, c, v in BAD])
def test_a_value_the_sink_cannot_hold_costs_only_its_row(sink, column, value, request, tmp_path, moto_server):
    harness = make_harness(sink, request, tmp_path)
    source = SOURCE[sink]
    rows = good_rows(source, 6)
    rows[3][column] = value  # CSV line 5 (the header is line 1)
    s3, event = put_raw(moto_server, source, rows, minute=1)

    processed = process_event(event, s3=s3, sink=harness.sink)

    assert [r.line for r in processed.rejected] == [5]
    assert column in processed.rejected[0].reason and "\n" not in processed.rejected[0].reason
    good = [r for i, r in enumerate(rows) if i != 3]
    assert processed.loaded == 5
    assert names_of(source, good) <= stored_names(harness)
    assert len(harness.stored()) == 5
    # the sink, and a new one (a new Lambda), load the next object
    later = good_rows(source, 2)
    for row in later:
        row["scheduled_at"] = (SCHEDULED + timedelta(minutes=1)).isoformat()
    s3, event = put_raw(moto_server, source, later, minute=2)
    assert process_event(event, s3=s3, sink=harness.sink).loaded == 2
    assert process_event(event, s3=s3, sink=harness.new_sink()).loaded == 2


@pytest.mark.parametrize(("sink", "column", "value"), GOOD, ids=[f"{s}-{c}-{v[:12]!r}" for s, c, v in GOOD])
def test_a_value_written_another_right_way_is_loaded(sink, column, value, request, tmp_path, moto_server):
    harness = make_harness(sink, request, tmp_path)
    source = SOURCE[sink]
    rows = good_rows(source, 3)
    rows[1][column] = value
    s3, event = put_raw(moto_server, source, rows, minute=1)

    processed = process_event(event, s3=s3, sink=harness.sink)

    assert (processed.loaded, processed.rejected) == (3, ())
    stored = harness.stored()
    assert len(stored) == 3
    if column == "volume":  # stored as the number it is, not a rounded one
        assert int(value) in {v["volume"] for v in stored.values()}


def test_a_41_digit_volume_loaded_directly_is_refused_and_never_wedges_the_local_snowflake(
    request, tmp_path, moto_server
):
    """The stand-in kept a refused statement's session attached: every later load failed as a held lock."""
    harness = make_harness("snowflake", request, tmp_path)
    bars = harness.rows(3)
    bad = bars[0].model_copy(update={"volume": 10**40})

    with pytest.raises(Exception) as refused:
        harness.sink.load([bad, *bars[1:]], harness.raw_key(0))
    assert kind_of(refused.value) == "terminal" and "VOLUME".lower() in str(refused.value).lower()

    assert harness.sink.load(bars, harness.raw_key(1)) == 3
    assert harness.new_sink().load(harness.rows(2, first="NEW"), harness.raw_key(2)) == 2
    assert len(harness.stored()) == 4


def _closed_port_sinks(tmp_path: Path) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    port = free_port()  # nothing listens there
    snowflake = SnowflakeSink.from_settings(Settings(
        snowflake_account="fakesnow", snowflake_user="fakesnow", snowflake_password="fakesnow",
        snowflake_host="127.0.0.1", snowflake_port=port, snowflake_protocol="http",
        snowflake_db_path=tmp_path, snowflake_login_timeout=2,
    ))  # fmt: skip
    sqlserver = SqlServerSink.from_settings(Settings(sqlserver_url=f"sqlite:///{tmp_path / 'missing' / 'rates.db'}"))
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )  # fmt: skip
    parquet = ParquetSink.from_settings(Settings(bucket="closed"), s3=s3)
    return {"snowflake": snowflake, "sqlserver": sqlserver, "parquet": parquet}


@pytest.mark.parametrize("sink", ["snowflake", "sqlserver", "parquet"])
def test_a_sink_that_is_down_is_transient(sink, tmp_path):
    target = _closed_port_sinks(tmp_path)[sink]
    source = SOURCE[sink]
    harness_rows = {
        "yahoo_finance": SnowflakeHarness.rows,
        "openexchangerates": SqlServerHarness.rows,
        "coinmarketcap": ParquetHarness.rows,
    }[source](None, 2)  # type: ignore[arg-type]
    key = f"raw/{source}/{T0:%Y/%m/%d/%H%M}.csv"
    try:
        with pytest.raises(SinkError) as failure:
            target.load(harness_rows, key)
    finally:
        target.close()
    assert kind_of(failure.value) == "transient" and "\n" not in str(failure.value)
    assert registry.get(source).id == source
