"""One settings class per sink, each read from its own prefix, and every variable name of `Env` still working."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.constants import Env
from pipeline.settings import Settings, SnowflakeSettings, SqlServerSettings

# A value per sink variable, as a string in the environment, and the value the field then holds.
SAMPLES = {
    "SECRET_ARN": ("arn:aws:secretsmanager:us-east-1:1:secret:sf", "arn:aws:secretsmanager:us-east-1:1:secret:sf"),
    "ACCOUNT": ("acme-xy12345", "acme-xy12345"), "USER": ("LOADER", "LOADER"), "DATABASE": ("MD", "MD"),
    "SCHEMA": ("RAW", "RAW"), "WAREHOUSE": ("LOAD_WH", "LOAD_WH"), "ROLE": ("LOADER_ROLE", "LOADER_ROLE"),
    "TABLE": ("BARS", "BARS"), "HOST": ("127.0.0.1", "127.0.0.1"), "PORT": ("8123", 8123),
    "PROTOCOL": ("http", "http"), "DB_PATH": ("/tmp/sf", Path("/tmp/sf")), "LOGIN_TIMEOUT": ("7", 7),
    "PRIVATE_KEY_FILE": ("/keys/rsa_key.p8", Path("/keys/rsa_key.p8")),
    "PRIVATE_KEY": ("-----BEGIN PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----"),
    "PRIVATE_KEY_PASSPHRASE": ("pp", "pp"), "TOKEN": ("pat", "pat"), "PASSWORD": ("pw", "pw"),
    "URL": ("sqlite:///x.db", "sqlite:///x.db"), "URL_SECRET_ARN": ("arn:sql", "arn:sql"),
}  # fmt: skip
SINK_VARIABLES = sorted(
    (name, value) for name, value in vars(Env).items() if name.startswith(("SNOWFLAKE_", "SQLSERVER_"))
)


def plain(value: object) -> object:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.mark.parametrize(("name", "variable"), SINK_VARIABLES)
def test_every_sink_variable_of_env_sets_its_sinks_settings(monkeypatch, name: str, variable: str):
    sink, _, rest = name.partition("_")
    text, expected = SAMPLES[rest]
    monkeypatch.setenv(variable, text)
    sink_settings = getattr(Settings(), sink.lower())
    field = SnowflakeSettings.field_of(variable) if sink == "SNOWFLAKE" else SqlServerSettings.field_of(variable)
    assert field is not None, f"{variable} sets no field"
    assert plain(getattr(sink_settings, field)) == expected


def test_settings_given_by_variable_or_flat_name_reach_the_sink_and_the_rest_comes_from_the_environment(
    monkeypatch,
):
    monkeypatch.setenv(Env.SNOWFLAKE_ACCOUNT, "from-env")
    monkeypatch.setenv(Env.SQLSERVER_TABLE, "rates_from_env")
    settings = Settings(**{Env.SNOWFLAKE_HOST: "127.0.0.1", Env.SNOWFLAKE_SCHEMA: "RAW"}, snowflake_port=8123)
    assert (settings.snowflake.account, settings.snowflake.host, settings.snowflake.port) == (
        "from-env", "127.0.0.1", 8123,
    )  # fmt: skip
    assert settings.snowflake.schema_name == "RAW"
    assert settings.sqlserver.table == "rates_from_env" and settings.sqlserver.url is None


def test_a_bad_sink_value_is_refused_when_the_settings_are_built(monkeypatch):
    monkeypatch.setenv(Env.SNOWFLAKE_PROTOCOL, "gopher")
    with pytest.raises(ValueError, match="protocol"):
        Settings()
