"""The contract every sink keeps, checked on each sink with its own dataset (database folder, table, bucket).

GIVEN typed rows of one raw object, WHEN the sink loads them (again, from another raw key, with a bad row, while
its server is down), THEN it holds exactly one row per natural key, all or nothing, and values stay data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.sinks.base import SinkError, SinkRejected
from tests.sinks.conftest import FakesnowServer, MotoServer
from tests.sinks.harness import INJECTION, Harness, ParquetHarness, SnowflakeHarness, SqlServerHarness, natural_key

SINKS = ["snowflake", "sqlserver", "parquet"]


@pytest.fixture(params=SINKS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "snowflake":
        made: Harness = SnowflakeHarness(request.getfixturevalue("fakesnow_server"), tmp_path)
    elif request.param == "sqlserver":
        made = SqlServerHarness(tmp_path)
    else:
        made = ParquetHarness(request.getfixturevalue("moto_server"))
    request.addfinalizer(made.sink.close)
    return made


@pytest.fixture(params=SINKS)
def harness_with_own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """Like `harness`, on servers this test may stop and start."""
    if request.param == "snowflake":
        server: FakesnowServer = request.getfixturevalue("own_fakesnow_server")
        made: Harness = SnowflakeHarness(server, tmp_path)
    elif request.param == "sqlserver":
        made = SqlServerHarness(tmp_path)
    else:
        moto: MotoServer = request.getfixturevalue("moto_server")
        made = ParquetHarness(moto)
    request.addfinalizer(made.sink.close)
    return made


def expected(harness: Harness, rows: list, raw_key: str) -> set[tuple]:
    return {natural_key(harness, row, raw_key) for row in rows}


def test_a_load_stores_every_row_once(harness: Harness):
    rows, key = harness.rows(25), harness.raw_key()

    written = harness.sink.load(rows, key)

    assert written == 25
    stored = harness.stored()
    assert set(stored) == expected(harness, rows, key)
    assert {v["raw_key"] for v in stored.values()} == {key}


def test_the_same_event_again_leaves_the_same_rows(harness: Harness):
    rows, key = harness.rows(25), harness.raw_key()
    harness.sink.load(rows, key)
    first = harness.stored()

    harness.sink.load(rows, key)

    assert harness.stored() == first


def test_two_raw_keys_for_the_same_natural_key_leave_one_row_per_key(harness: Harness):
    early, late = harness.raw_key(0), harness.raw_key(1)
    harness.sink.load(harness.rows(10, price=100.0), early)
    harness.sink.load(harness.rows(10, price=200.0), late)
    # a replay of the earlier file must not undo the later one
    harness.sink.load(harness.rows(10, price=100.0), early)

    stored = harness.stored()
    keys = expected(harness, harness.rows(10), early) | expected(harness, harness.rows(10), late)
    assert set(stored) == keys
    if harness.source != "coinmarketcap":  # a processed object is keyed by its raw key: two keys, two objects
        assert len(stored) == 10
        assert {v["raw_key"] for v in stored.values()} == {late}


def test_a_batch_with_a_bad_row_fails_clearly_and_writes_nothing(harness: Harness):
    harness.sink.load(harness.rows(5), harness.raw_key(0))
    before = harness.stored()
    batch = [*harness.rows(30, first="NEW", price=300.0)[1:], harness.bad_row()]

    with pytest.raises(SinkRejected) as failure:
        harness.sink.load(batch, harness.raw_key(1))

    message = str(failure.value)
    assert "\n" not in message and harness.raw_key(1) in message
    assert harness.stored() == before


def test_a_row_of_another_source_is_refused_by_name(harness: Harness):
    other = SqlServerHarness.rows if harness.source != "openexchangerates" else SnowflakeHarness.rows
    with pytest.raises(SinkRejected, match="row 1: a "):
        harness.sink.load(other(harness, 1), harness.raw_key())  # type: ignore[arg-type]


def test_a_value_that_looks_like_sql_is_stored_as_data(harness: Harness):
    if harness.source == "openexchangerates":  # a currency is three uppercase letters: the row model refuses it
        with pytest.raises(ValidationError, match="currency"):
            harness.rows(3, first="x');--")
        return
    attack = INJECTION
    rows, key = harness.rows(3, first=attack), harness.raw_key()

    harness.sink.load(rows, key)
    harness.sink.load(harness.rows(2, first="ZZZ"), harness.raw_key(1))  # and the table is still there

    stored = harness.stored()
    assert expected(harness, rows, key) <= set(stored)
    assert any(attack in key_ for key_ in stored)


@pytest.mark.slow
def test_a_sink_that_is_down_raises_sink_error_and_everything_lands_once_it_is_back(
    harness_with_own_server: Harness,
):
    harness = harness_with_own_server
    harness.sink.load(harness.rows(5), harness.raw_key(0))
    rows, key = harness.rows(20, first="LAT"), harness.raw_key(1)

    harness.stop()
    try:
        with pytest.raises(SinkError) as failure:
            harness.sink.load(rows, key)
    finally:
        harness.start()
    assert "\n" not in str(failure.value)

    # the message is retried, maybe twice, by the same sink instance and by a new one (a new Lambda)
    harness.sink.load(rows, key)
    harness.new_sink().load(rows, key)

    stored = harness.stored()
    assert set(stored) == expected(harness, harness.rows(5), harness.raw_key(0)) | expected(harness, rows, key)
