"""`verify`: raw objects' success rows reconciled against every sink, minute by minute.

GIVEN raw objects in S3 and the sinks loaded from them, WHEN a row goes missing or an extra one appears,
THEN the report says which minute of which source, and `ok` is False.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console

from pipeline.contracts import iso, raw_key
from pipeline.raw import read_raw, success_rows, write_raw
from pipeline.schemas import validate_rows
from pipeline.settings import Settings
from tests.sinks.conftest import FakesnowServer, MotoServer, s3_client
from tests.sinks.harness import T0, ParquetHarness, SnowflakeHarness, SqlServerHarness
from workbench.verify import verify

MINUTES = 3


def raw_rows(source: str, minute: int) -> list[dict[str, Any]]:
    at = T0 + timedelta(minutes=minute)
    tail = {"status": "success", "error": "", "scheduled_at": iso(at), "ingested_at": iso(at)}
    if source == "yahoo_finance":  # a 2-minute look-back: each bar arrives in two files
        return [
            {"symbol": s, "ts": iso(at - timedelta(minutes=back)), "open": 10, "high": 11, "low": 9, "close": 10,
             "volume": 5, **tail}
            for s in ("AAPL", "BRK-B") for back in (1, 2)
        ] + [{"symbol": "ZZZ", "ts": "", "open": "", "high": "", "low": "", "close": "", "volume": "",
              **tail, "status": "error", "error": "no data"}]  # fmt: skip
    if source == "coinmarketcap":
        return [
            {"rank": i + 1, "name": n, "symbol": n[:3].upper(), "price_usd": 100.0 + minute, "change_1h_pct": "",
             "change_24h_pct": 1.0, "change_7d_pct": "", "market_cap_usd": 1e9, "volume_24h_usd": 1e8,
             "circulating_supply": 1e6, **tail}
            for i, n in enumerate(("bitcoin", "ethereum"))
        ]  # fmt: skip
    # the quota guard serves the same hourly payload every minute: the same rate_ts in every file
    return [
        {"base": "USD", "currency": c, "rate": r, "rate_ts": iso(T0.replace(minute=0)), **tail}
        for c, r in (("EUR", 0.92), ("JPY", 150.1), ("GBP", 0.79))
    ]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    fakesnow = FakesnowServer(log=tmp_path_factory.mktemp("verify-fakesnow") / "fakesnow.log")
    moto = MotoServer()
    fakesnow.start()
    moto.start()
    try:
        yield fakesnow, moto
    finally:
        moto.stop()
        fakesnow.stop()


@pytest.fixture
def pipeline_world(servers, tmp_path: Path):
    """A bucket of raw objects for MINUTES minutes of each source, and the three sinks loaded from them."""
    fakesnow_server, moto_server = servers
    parquet = ParquetHarness(moto_server)
    snowflake, sqlserver = SnowflakeHarness(fakesnow_server, tmp_path), SqlServerHarness(tmp_path)
    s3: Any = s3_client(moto_server.url)
    sinks = {"yahoo_finance": snowflake.sink, "coinmarketcap": parquet.sink, "openexchangerates": sqlserver.sink}
    for source, sink in sinks.items():
        for minute in range(MINUTES):
            key = raw_key(source, T0 + timedelta(minutes=minute))
            write_raw(s3, parquet.bucket, key, source, raw_rows(source, minute))
            typed = validate_rows(source, success_rows(read_raw(s3, parquet.bucket, key, source)))
            sink.load(typed, key)
    settings = Settings(bucket=parquet.bucket, aws_endpoint_url=moto_server.url)
    yield settings, s3, sinks, sqlserver
    for sink in sinks.values():
        sink.close()


def run(world, **kwargs):
    settings, s3, sinks, _ = world
    return verify(settings, T0, T0 + timedelta(minutes=MINUTES - 1), s3=s3, sinks=sinks, **kwargs)


def test_a_complete_load_reconciles(pipeline_world):
    report = run(pipeline_world)

    assert report.ok, report.as_dict()
    by_source = {s.source: s for s in report.sources}
    assert [len(by_source[s].minutes) for s in by_source] == [MINUTES] * 3
    assert by_source["yahoo_finance"].total("raw_rows") == MINUTES * 4
    assert by_source["openexchangerates"].total("sink_rows") == MINUTES * 3  # found in every minute
    text = render(report)
    assert "Snowflake bars" in text and "missing" in text


def test_replaying_every_file_changes_nothing(pipeline_world):
    settings, s3, sinks, _ = pipeline_world
    before = run(pipeline_world).as_dict()
    for source, sink in sinks.items():
        for minute in range(MINUTES):
            key = raw_key(source, T0 + timedelta(minutes=minute))
            sink.load(validate_rows(source, success_rows(read_raw(s3, settings.bucket, key, source))), key)

    assert run(pipeline_world).as_dict() == before


def test_a_missing_row_is_reported_for_its_minute(pipeline_world):
    *_, sqlserver = pipeline_world
    with sqlserver.sink.engine.begin() as connection:
        connection.execute(sa.delete(sqlserver.sink.table).where(sqlserver.sink.table.c.currency == "JPY"))

    report = run(pipeline_world)

    assert not report.ok
    rates = next(s for s in report.sources if s.source == "openexchangerates")
    assert [m.missing for m in rates.minutes] == [1] * MINUTES  # every minute carried JPY
    assert "missing" in render(report)


def test_an_extra_row_and_a_missing_object_are_reported(pipeline_world):
    settings, s3, _, sqlserver = pipeline_world
    sqlserver.sink.load(sqlserver.rows(1, first="CHF"), raw_key("openexchangerates", T0))
    s3.delete_object(Bucket=settings.bucket, Key="processed/coinmarketcap/" + f"{T0:%Y/%m/%d/%H%M}.parquet")

    report = run(pipeline_world)

    by_source = {s.source: s for s in report.sources}
    assert by_source["openexchangerates"].total("extra") == 1
    assert by_source["coinmarketcap"].minutes[0].missing == 2
    assert by_source["yahoo_finance"].ok
    assert not report.ok


def test_a_sink_that_cannot_be_reached_is_an_error_not_a_pass(pipeline_world):
    settings, s3, sinks, _ = pipeline_world
    report = verify(
        settings.model_copy(update={"sqlserver": settings.sqlserver.model_copy(update={"url": None})}),
        T0,
        s3=s3,
        sinks={k: v for k, v in sinks.items() if k != "openexchangerates"},
    )
    rates = next(s for s in report.sources if s.source == "openexchangerates")
    assert "PIPELINE_SQLSERVER_URL" in rates.error and not report.ok


def render(report) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(report.table())
    return console.export_text()


def test_a_window_starting_within_a_minute_checks_the_minutes_after_it(pipeline_world):
    settings, s3, sinks, _ = pipeline_world
    report = verify(settings, T0 + timedelta(seconds=30), T0 + timedelta(minutes=MINUTES - 1), s3=s3, sinks=sinks)

    assert report.ok, report.as_dict()
    assert all(len(s.minutes) == MINUTES - 1 for s in report.sources)
