"""The Snowflake sink: one statement per file, credentials that refuse to be incomplete, secrets by ARN, sign-in by
key pair, token or password, a new session when the old one expired, the connector's caches under /tmp."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import boto3
import pytest
import snowflake.connector
import snowflake.connector.connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from pipeline.errors import SNOWFLAKE_SESSION_EXPIRED
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError
from pipeline.sinks.snowflake import cursor, end_fakesnow_session, query
from pipeline.sinks.snowflake.configuration import (
    PASSWORD_WARNING,
    ConfigurationError,
    SnowflakeCredentials,
    _warn_password_once,
)
from pipeline.sinks.snowflake.loader import CACHE_DIR_VARIABLES, SnowflakeSink
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


def test_a_file_of_many_rows_is_merged_in_statements_of_at_most_a_thousand(
    fakesnow_server, tmp_path: Path, monkeypatch
):
    # GIVEN a raw object as large as a backfilled hour of the universe would make it (here 2,500 bars)
    from pipeline.sinks.snowflake.loader import MERGE_ROWS

    harness = SnowflakeHarness(fakesnow_server, tmp_path)
    sent: list[str] = []
    real = snowflake.connector.connection.SnowflakeConnection.cmd_query

    def counting(self, sql, *args, **kwargs):
        sent.append(sql)
        return real(self, sql, *args, **kwargs)

    harness.sink.load(harness.rows(1), harness.raw_key(0))  # first use creates the table
    monkeypatch.setattr(snowflake.connector.connection.SnowflakeConnection, "cmd_query", counting)

    # WHEN it is loaded, THEN three MERGEs carry it (1,000 + 1,000 + 500) and every bar is stored once
    assert harness.sink.load(harness.rows(2_500), harness.raw_key(1)) == 2_500
    assert MERGE_ROWS == 1_000 and [s.split()[0] for s in sent] == ["MERGE"] * 3
    assert harness.count() == 2_500
    # AND loading it again (a retry) changes nothing
    harness.sink.load(harness.rows(2_500), harness.raw_key(1))
    assert harness.count() == 2_500


def settings(**values) -> Settings:
    empty = {
        "snowflake_account": None, "snowflake_user": None, "snowflake_password": None, "snowflake_token": None,
        "snowflake_private_key": None, "snowflake_private_key_file": None, "snowflake_private_key_passphrase": None,
    }  # fmt: skip
    return Settings(**{**empty, **values})


def test_credentials_refuse_to_be_built_without_account_and_user():
    with pytest.raises(ConfigurationError) as failure:
        SnowflakeCredentials.from_settings(settings(snowflake_account="acme-xy12345", snowflake_token="pat"))
    assert str(failure.value) == (
        "snowflake sink: no user: set PIPELINE_SNOWFLAKE_USER, "
        "or PIPELINE_SNOWFLAKE_SECRET_ARN to a secret holding a JSON object with them"
    )


def test_credentials_refuse_to_be_built_without_a_sign_in():
    with pytest.raises(ConfigurationError) as failure:
        SnowflakeCredentials.from_settings(settings(snowflake_account="acme-xy12345", snowflake_user="LOADER"))
    assert str(failure.value) == (
        "snowflake sink: no sign-in: set one of PIPELINE_SNOWFLAKE_PRIVATE_KEY, PIPELINE_SNOWFLAKE_TOKEN, "
        "PIPELINE_SNOWFLAKE_PASSWORD (or private_key, token or password in the secret PIPELINE_SNOWFLAKE_SECRET_ARN "
        "names)"
    )


def test_credentials_refuse_two_sign_ins_at_once():
    with pytest.raises(ConfigurationError) as failure:
        SnowflakeCredentials.from_settings(
            settings(snowflake_account="a", snowflake_user="u", snowflake_token="pat", snowflake_password="pw")
        )
    assert str(failure.value).startswith(
        "snowflake sink: set exactly one of PIPELINE_SNOWFLAKE_TOKEN, PIPELINE_SNOWFLAKE_PASSWORD"
    )
    assert "pat" not in str(failure.value) and "pw" not in str(failure.value)


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


# --- sign-in: key pair, programmatic access token, password ----------------------------------------------------


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def execute(self, sql: str, params: object = None) -> FakeCursor:
        if self.connection.fail_with is not None:
            raise self.connection.fail_with
        self.connection.sent.append(sql)
        return self


class FakeConnection:
    """What the sink needs of a connector connection; `fail_with` makes every execute raise it."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.sent: list[str] = []
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def connect(monkeypatch):
    """`snowflake.connector.connect` recording its keyword arguments and handing out the queued connections."""
    calls: list[dict] = []
    queued: list[FakeConnection] = []

    def fake_connect(**kwargs):
        calls.append(kwargs)
        return queued.pop(0) if queued else FakeConnection()

    monkeypatch.setattr(snowflake.connector, "connect", fake_connect)
    return calls, queued


def account(**values) -> Settings:
    return settings(snowflake_account="acme-xy12345", snowflake_user="LOADER", snowflake_warehouse="LOAD_WH", **values)


def bars(n: int) -> list:
    return SnowflakeHarness.rows(None, n)  # type: ignore[arg-type]


RAW_KEY = "raw/yahoo_finance/2026/03/02/1530.csv"


def test_a_key_pair_reaches_the_connector(connect):
    calls, _ = connect
    key = rsa_key()
    sink = SnowflakeSink.from_settings(account(snowflake_private_key=pem(key)))

    assert sink.load(bars(3), RAW_KEY) == 3
    (args,) = calls
    assert args["authenticator"] == "SNOWFLAKE_JWT"
    assert args["private_key"].private_numbers() == key.private_numbers()
    assert "password" not in args and "token" not in args
    assert args["account"] == "acme-xy12345" and args["user"] == "LOADER"


def test_a_passphrase_protected_key_is_opened_with_its_passphrase(tmp_path: Path):
    key = rsa_key()
    key_file = tmp_path / "rsa_key.p8"
    key_file.write_text(pem(key, b"correct horse"))
    credentials = SnowflakeCredentials.from_settings(
        account(snowflake_private_key_file=key_file, snowflake_private_key_passphrase="correct horse")
    )
    assert credentials.authentication == "key_pair"
    assert credentials.connect_args()["private_key"].private_numbers() == key.private_numbers()
    assert "correct horse" not in repr(credentials) and "PRIVATE KEY" not in repr(credentials)

    with pytest.raises(ConfigurationError) as wrong:
        SnowflakeCredentials.from_settings(
            account(snowflake_private_key=pem(key, b"correct horse"), snowflake_private_key_passphrase="wrong")
        )
    assert str(wrong.value) == (
        "snowflake sink: PIPELINE_SNOWFLAKE_PRIVATE_KEY: the private key is not a PEM private key "
        "or the passphrase is wrong"
    )
    with pytest.raises(ConfigurationError, match="encrypted: set PIPELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
        SnowflakeCredentials.from_settings(account(snowflake_private_key=pem(key, b"correct horse")))


def test_a_key_pair_comes_from_the_secret_and_wins_over_a_password_in_the_environment(monkeypatch, connect):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    key = rsa_key()
    document = {"account": "acme-xy12345", "user": "LOADER", "private_key": pem(key, b"pp"),
                "private_key_passphrase": "pp", "warehouse": "LOAD_WH"}  # fmt: skip
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="pipeline/snowflake-key-pair", SecretString=json.dumps(document)
        )["ARN"]
        credentials = SnowflakeCredentials.from_settings(
            settings(snowflake_secret_arn=arn, snowflake_password="left-over")
        )
    args = credentials.connect_args()
    assert args["authenticator"] == "SNOWFLAKE_JWT" and "password" not in args
    assert args["private_key"].private_numbers() == key.private_numbers()


def test_a_programmatic_access_token_signs_in_as_the_token_authenticator(connect):
    calls, _ = connect
    sink = SnowflakeSink.from_settings(account(snowflake_token="pat-secret-value"))
    sink.load(bars(2), RAW_KEY)
    (args,) = calls
    assert (args["authenticator"], args["token"]) == ("PROGRAMMATIC_ACCESS_TOKEN", "pat-secret-value")
    assert "password" not in args and "private_key" not in args
    assert "pat-secret-value" not in repr(sink.credentials)


def test_a_password_still_signs_in_with_a_warning_logged_once(connect, caplog):
    calls, _ = connect
    _warn_password_once.cache_clear()
    sink = SnowflakeSink.from_settings(account(snowflake_password="s3cret!"))
    with caplog.at_level(logging.WARNING, logger="pipeline.sinks.snowflake.configuration"):
        sink.load(bars(2), RAW_KEY)
        sink.close()
        sink.load(bars(2), "raw/yahoo_finance/2026/03/02/1531.csv")
    assert [args["password"] for args in calls] == ["s3cret!", "s3cret!"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [PASSWORD_WARNING]
    assert "Snowflake blocks password-only sign-in for service users" in PASSWORD_WARNING


def test_an_expired_session_signs_in_again_once_instead_of_failing_the_record(connect):
    calls, queued = connect
    expired = snowflake.connector.errors.ProgrammingError(
        msg="Your session has expired. Please login again.", errno=SNOWFLAKE_SESSION_EXPIRED
    )
    first, second = FakeConnection(fail_with=expired), FakeConnection()
    queued += [first, second]
    sink = SnowflakeSink.from_settings(account(snowflake_token="pat"))

    assert sink.load(bars(4), RAW_KEY) == 4
    assert len(calls) == 2 and first.closed
    assert [sql.split()[0] for sql in second.sent] == ["CREATE", "MERGE"]


def test_a_session_that_expires_again_fails_the_record_as_transient(connect):
    _, queued = connect
    expired = snowflake.connector.errors.ProgrammingError(msg="Your session has expired.", errno=390112)
    queued += [FakeConnection(fail_with=expired), FakeConnection(fail_with=expired)]
    sink = SnowflakeSink.from_settings(account(snowflake_token="pat"))
    with pytest.raises(SinkError) as failure:
        sink.load(bars(1), RAW_KEY)
    assert failure.value.transient and "session has expired" in str(failure.value)


def test_the_connector_caches_go_to_the_temporary_directory(monkeypatch, connect):
    for name in CACHE_DIR_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    sink = SnowflakeSink.from_settings(account(snowflake_token="pat"))
    sink.load(bars(1), RAW_KEY)
    from snowflake.connector.ocsp_snowflake import OCSPCache

    tmp = Path(tempfile.gettempdir())
    assert Path(os.environ["SF_OCSP_RESPONSE_CACHE_DIR"]).is_relative_to(tmp)
    assert Path(OCSPCache.CACHE_DIR).is_relative_to(tmp)
    assert Path(os.environ["SF_TEMPORARY_CREDENTIAL_CACHE_DIR"]).is_relative_to(tmp)
    assert sink.credentials.connect_args()["client_store_temporary_credential"] is False


# --- the local Snowflake for scripts ----------------------------------------------------------------------------


def test_the_query_helpers_end_their_session_so_the_next_load_succeeds(fakesnow_server, tmp_path: Path):
    harness = SnowflakeHarness(fakesnow_server, tmp_path)
    harness.sink.load(harness.rows(3), harness.raw_key(0))

    table = harness.sink.table
    assert query(f"SELECT COUNT(*) FROM {table} WHERE VOLUME >= ?", (1001,), settings=harness.settings) == [(2,)]
    with pytest.raises(RuntimeError), cursor(harness.settings) as cur:  # an error in the block ends it too
        cur.execute(f"SELECT MAX(TS) FROM {table}")
        raise RuntimeError("a script's own bug")

    harness.sink.load(harness.rows(5), harness.raw_key(1))
    assert harness.count() == 5


def test_a_session_left_open_is_named_in_the_sink_error(fakesnow_server, tmp_path: Path):
    harness = SnowflakeHarness(fakesnow_server, tmp_path)
    harness.sink.load(harness.rows(1), harness.raw_key(0))
    plain = snowflake.connector.connect(**harness.sink.credentials.connect_args())  # as a shell would, never closed
    try:
        with pytest.raises(SinkError) as failure:
            harness.sink.load(harness.rows(2), harness.raw_key(1))
        message = str(failure.value)
        assert "another session holds the lock on the local Snowflake's database file" in message
        assert str(harness.sink.credentials.db_path) in message and failure.value.transient
    finally:
        end_fakesnow_session(plain, harness.sink.credentials)
        plain.close()
    harness.sink.load(harness.rows(2), harness.raw_key(1))  # the lock is gone with the session
    assert harness.count() == 2


def test_a_statement_the_server_refuses_never_wedges_the_local_snowflake(fakesnow_server, tmp_path: Path):
    # GIVEN a MERGE the server refuses for a value (a volume past NUMBER(38,0), sent past the sink's own checks, as
    # a value they might miss would be): the failed statement's session is ended by the sink
    from datetime import UTC, datetime

    from pipeline.sinks.base import SinkRejected
    from pipeline.sinks.snowflake.loader import batch_window, merge_sql, rows_document

    harness = SnowflakeHarness(fakesnow_server, tmp_path)
    sink = harness.sink
    ts = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)
    bad = [("MSFT", ts, 1.0, 1.0, 1.0, 1.0, 10**41, harness.raw_key(0), ts)]

    def merge(cur):
        sink.ensure_table(cur)
        sink.execute(cur, merge_sql(sink.table, batch_window(bad)), (rows_document(bad),))

    with pytest.raises(SinkRejected, match="Failed to cast value to numerical"):
        sink.run("could not load", merge)

    # WHEN the next files load, on the same sink and on a new one (another Lambda), THEN both succeed: the
    # refused statement's DuckDB connection was released with its session
    sink.load(harness.rows(2), harness.raw_key(1))
    other = SnowflakeSink.from_settings(harness.settings)
    try:
        other.load(harness.rows(1, first="QQQ"), harness.raw_key(2))
    finally:
        other.close()
    assert harness.count() == 3


def test_a_session_a_killed_process_left_open_is_closed_once_idle_and_loads_go_on(tmp_path: Path):
    # GIVEN a local Snowflake that closes sessions idle for 5 s, and a connector session nobody will end (a
    # process killed mid-load, a notebook's connector never closed)
    from tests.sinks.conftest import FakesnowServer

    server = FakesnowServer(log=tmp_path / "fakesnow.log", idle_seconds=5.0)
    server.start()
    try:
        harness = SnowflakeHarness(server, tmp_path)
        harness.sink.load(harness.rows(1), harness.raw_key(0))
        orphan = snowflake.connector.connect(**harness.sink.credentials.connect_args())
        with pytest.raises(SinkError, match="another session holds the lock"):  # while it is fresh, it holds
            harness.sink.load(harness.rows(2), harness.raw_key(1))

        # WHEN it has been idle past the limit, THEN the next sign-in closes it and the load succeeds
        import time

        time.sleep(5.5)
        harness.sink.load(harness.rows(2), harness.raw_key(1))
        assert harness.count() == 2
        # AND the orphan's next statement is told to sign in again, not served from a closed database
        with pytest.raises(snowflake.connector.errors.Error):
            orphan.cursor().execute("SELECT 1")
    finally:
        server.stop()
