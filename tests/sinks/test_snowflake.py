"""The Snowflake sink: constant statements per file, credentials that refuse to be incomplete, secrets by ARN."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import snowflake.connector.connection
from moto import mock_aws

from pipeline.settings import Settings
from pipeline.sinks.snowflake.configuration import ConfigurationError, SnowflakeCredentials
from tests.sinks.harness import SnowflakeHarness


def test_statements_per_file_do_not_grow_with_its_rows(fakesnow_server, tmp_path: Path, monkeypatch):
    harness = SnowflakeHarness(fakesnow_server, tmp_path)
    sent: list[str] = []
    real = snowflake.connector.connection.SnowflakeConnection.cmd_query

    def counting(self, sql, *args, **kwargs):
        sent.append(sql)
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(snowflake.connector.connection.SnowflakeConnection, "cmd_query", counting)
    harness.sink.load(harness.rows(1), harness.raw_key(0))  # first use creates the table

    per_file = {}
    for minute, n in enumerate((10, 400), start=1):
        sent.clear()
        harness.sink.load(harness.rows(n), harness.raw_key(minute))
        per_file[n] = len(sent)

    assert per_file[10] == per_file[400] == 1
    assert [s.split()[0] for s in sent] == ["MERGE"]
    assert "PARSE_JSON(?)" in sent[0] and "S0399" not in sent[0]  # the rows are bound, not written into the SQL
    assert harness.count() == 400


def settings(**values) -> Settings:
    return Settings(**{"snowflake_account": None, "snowflake_user": None, "snowflake_password": None, **values})


def test_credentials_refuse_to_be_built_without_account_user_password():
    with pytest.raises(ConfigurationError) as failure:
        SnowflakeCredentials.from_settings(settings(snowflake_account="acme-xy12345"))
    assert str(failure.value) == (
        "snowflake sink: no user, password: set PIPELINE_SNOWFLAKE_USER, PIPELINE_SNOWFLAKE_PASSWORD, "
        "or PIPELINE_SNOWFLAKE_SECRET_ARN to a secret holding a JSON object with them"
    )


def test_a_table_name_that_is_not_a_plain_identifier_is_refused():
    with pytest.raises(ConfigurationError, match="PIPELINE_SNOWFLAKE_TABLE"):
        SnowflakeCredentials.from_settings(
            settings(snowflake_account="a", snowflake_user="u", snowflake_password="p", snowflake_table="t; DROP")
        )


def test_credentials_come_from_a_secret_by_arn(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = {"account": "acme-xy12345", "user": "LOADER", "password": "s3cret!", "warehouse": "LOAD_WH",
                "role": "LOADER_ROLE", "database": "MARKETS", "schema": "RAW"}  # fmt: skip
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="pipeline/snowflake-test-secret", SecretString=json.dumps(document)
        )["ARN"]
        credentials = SnowflakeCredentials.from_settings(settings(snowflake_secret_arn=arn))

    args = credentials.connect_args()
    assert (args["account"], args["user"], args["password"], args["warehouse"], args["role"]) == (
        "acme-xy12345", "LOADER", "s3cret!", "LOAD_WH", "LOADER_ROLE",
    )  # fmt: skip
    assert credentials.qualified_table == "MARKETS.RAW.BARS_1M"
    assert args["paramstyle"] == "qmark" and "host" not in args  # the real account's own host
    assert "s3cret!" not in repr(credentials) and "s3cret!" not in credentials.where


def test_a_secret_that_is_not_json_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="pipeline/snowflake-not-json", SecretString="account=acme"
        )["ARN"]
        with pytest.raises(ConfigurationError, match="is not a JSON object"):
            SnowflakeCredentials.from_settings(settings(snowflake_secret_arn=arn))
