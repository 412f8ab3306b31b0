"""The SQL Server sink: the T-SQL it sends parses as one MERGE with bound values; a real server when one is given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot
from sqlalchemy.dialects import mssql
from sqlglot import exp

from pipeline.schemas import Rate
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError
from pipeline.sinks.sqlserver.configuration import ConfigurationError, SqlServerConfig
from pipeline.sinks.sqlserver.loader import MSSQL_ROWS_PER_MERGE, mssql_merge, rate_params, rates_table
from tests.sinks.harness import T0, SqlServerHarness


def test_the_tsql_merge_parses_as_one_merge_with_holdlock_and_only_placeholders():
    table = rates_table("fx_rates")
    statement = mssql_merge(table, 3)

    sql = str(statement.compile(dialect=mssql.dialect(paramstyle="qmark")))
    parsed = sqlglot.parse(sql, read="tsql")

    assert len([p for p in parsed if p is not None]) == 1
    merge = parsed[0]
    assert isinstance(merge, exp.Merge)
    assert "WITH (HOLDLOCK)" in sql.upper()
    assert len(list(merge.find_all(exp.Placeholder))) == 3 * 6
    assert not list(merge.find_all(exp.Literal))  # no value is written into the SQL


def test_an_injection_attempt_travels_as_a_bound_parameter():
    table = rates_table("fx_rates")
    # the row model refuses such a currency; the statement must not depend on it
    row = Rate.model_construct(base="USD", currency="x');--", rate=1.5, rate_ts=T0)
    compiled = mssql_merge(table, 1).compile(dialect=mssql.pymssql.dialect())

    assert "x');--" not in str(compiled)
    assert rate_params(row, "raw/openexchangerates/2026/03/02/1530.csv", T0)["currency"] == "x');--"
    assert set(compiled.params) >= {"currency_0", "base_0", "rate_ts_0"}


def test_a_batch_fits_sql_servers_parameter_limit():
    assert MSSQL_ROWS_PER_MERGE * 6 <= 2100


def test_the_url_is_required_and_named():
    with pytest.raises(ConfigurationError, match="PIPELINE_SQLSERVER_URL"):
        SqlServerConfig.from_settings(Settings(sqlserver_url=None, sqlserver_url_secret_arn=None))


def test_the_password_never_shows_in_messages():
    config = SqlServerConfig.from_settings(Settings(sqlserver_url="mssql+pymssql://loader:s3cret@db.example:1433/md"))
    assert "s3cret" not in config.where and "s3cret" not in repr(config)


def test_a_sqlite_file_that_cannot_be_opened_is_a_sink_error(tmp_path: Path):
    harness = SqlServerHarness(tmp_path)
    harness.stop()
    try:
        with pytest.raises(SinkError, match="unable to open database file"):
            harness.sink.load(harness.rows(2), harness.raw_key())
    finally:
        harness.start()


@pytest.mark.skipif(not os.environ.get("SQLSERVER_TEST_URL"), reason="set SQLSERVER_TEST_URL to a SQL Server")
def test_against_a_real_sql_server(tmp_path: Path):
    harness = SqlServerHarness(tmp_path, url=os.environ["SQLSERVER_TEST_URL"])
    try:
        rows = harness.rows(400)  # two MERGE statements in one transaction
        harness.sink.load(rows, harness.raw_key(0))
        harness.sink.load(rows, harness.raw_key(1))
        harness.sink.load(harness.rows(400, price=1.0), harness.raw_key(0))  # an older replay changes nothing
        stored = harness.stored()
        assert len(stored) == 400
        assert {v["raw_key"] for v in stored.values()} == {harness.raw_key(1)}
    finally:
        with harness.sink.engine.begin() as connection:
            harness.sink.table.drop(connection, checkfirst=True)
        harness.sink.close()
