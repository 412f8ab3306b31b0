"""Snowflake credentials: a typed object that refuses to be built incomplete.

In AWS they come from Secrets Manager: `PIPELINE_SNOWFLAKE_SECRET_ARN` names a secret holding a JSON object
(`{"account": ..., "user": ..., "password": ..., "warehouse": ..., "role": ..., "database": ..., "schema": ...}`).
Locally they come from `PIPELINE_SNOWFLAKE_*` variables; the local stack points them at its fakesnow server
(`host`, `port`, `protocol=http` and `db_path`, the folder where fakesnow keeps its DuckDB files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from pipeline.constants import Env
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError

# Identifiers cannot be bound as parameters, so they are checked instead: plain unquoted Snowflake identifiers.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")]

# Secret JSON keys -> field names.
_SECRET_KEYS = {
    "account": "account", "user": "user", "password": "password", "warehouse": "warehouse", "role": "role",
    "database": "database", "schema": "schema_name", "host": "host", "port": "port", "protocol": "protocol",
}  # fmt: skip
_ENV_NAMES = {
    "account": Env.SNOWFLAKE_ACCOUNT, "user": Env.SNOWFLAKE_USER, "password": Env.SNOWFLAKE_PASSWORD,
    "database": Env.SNOWFLAKE_DATABASE, "schema_name": Env.SNOWFLAKE_SCHEMA, "table": Env.SNOWFLAKE_TABLE,
    "warehouse": Env.SNOWFLAKE_WAREHOUSE, "role": Env.SNOWFLAKE_ROLE, "port": Env.SNOWFLAKE_PORT,
}  # fmt: skip


class ConfigurationError(SinkError):
    """The sink cannot be configured from the settings (a missing or malformed value)."""


class SnowflakeCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)
    database: Identifier
    schema_name: Identifier
    table: Identifier
    warehouse: Identifier | None = None
    role: Identifier | None = None
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    protocol: Literal["http", "https"] = "https"
    # fakesnow only: the folder of its DuckDB files, sent as the FAKESNOW_DB_PATH session parameter.
    db_path: Path | None = None
    login_timeout: int = Field(20, ge=1)

    @property
    def qualified_table(self) -> str:
        return f"{self.database}.{self.schema_name}.{self.table}"

    @property
    def where(self) -> str:
        """Where the rows go, for error messages (never a secret)."""
        at = f"{self.host}:{self.port}" if self.host else f"{self.account}.snowflakecomputing.com"
        return f"snowflake {at}/{self.qualified_table}"

    @property
    def is_fakesnow(self) -> bool:
        return self.db_path is not None

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for `snowflake.connector.connect`."""
        args: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "database": self.database,
            "schema": self.schema_name,
            # Server-side binding: values travel apart from the SQL text, and executemany sends one
            # array-bound INSERT (staged through a temporary stage by Snowflake when it is large).
            "paramstyle": "qmark",
            "login_timeout": self.login_timeout,
            "network_timeout": self.login_timeout * 3,
            "socket_timeout": self.login_timeout,
            "client_session_keep_alive": False,
            # No probing of EC2/Azure/GCP metadata endpoints and STS at each cold connect (the connector's
            # platform detection): a Lambda has none of them, and the probes cost the cold start their timeouts.
            "platform_detection_timeout_seconds": 0.0,
            "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "market-data-pipeline"},
        }
        for name in ("warehouse", "role", "host", "port"):
            if (value := getattr(self, name)) is not None:
                args[name] = value
        if self.host:
            args["protocol"] = self.protocol
        if self.db_path is not None:
            args["session_parameters"]["FAKESNOW_DB_PATH"] = str(self.db_path)
        return args

    @classmethod
    def from_settings(cls, settings: Settings) -> SnowflakeCredentials:
        values: dict[str, Any] = {
            "account": settings.snowflake_account,
            "user": settings.snowflake_user,
            "password": settings.snowflake_password,
            "database": settings.snowflake_database,
            "schema_name": settings.snowflake_schema,
            "table": settings.snowflake_table,
            "warehouse": settings.snowflake_warehouse,
            "role": settings.snowflake_role,
            "host": settings.snowflake_host,
            "port": settings.snowflake_port,
            "protocol": settings.snowflake_protocol,
            "db_path": settings.snowflake_db_path,
            "login_timeout": settings.snowflake_login_timeout,
        }
        if settings.snowflake_secret_arn:
            values.update(_from_secret(settings))
        missing = [name for name in ("account", "user", "password") if not values.get(name)]
        if missing:
            names = ", ".join(_ENV_NAMES[m] for m in missing)
            raise ConfigurationError(
                f"snowflake sink: no {', '.join(missing)}: set {names}, "
                f"or {Env.SNOWFLAKE_SECRET_ARN} to a secret holding a JSON object with them"
            )
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "credentials"
            raise ConfigurationError(
                f"snowflake sink: {_ENV_NAMES.get(field, field)}: {first['msg']}"
                + (f" (got {first['input']!r})" if field != "password" else "")
            ) from None


def _from_secret(settings: Settings) -> dict[str, Any]:
    arn = settings.snowflake_secret_arn
    try:
        text = settings.secret(None, arn)
        document = json.loads(text or "")
    except json.JSONDecodeError:
        raise ConfigurationError(
            f"snowflake sink: secret {arn} is not a JSON object of account, user, password, ..."
        ) from None
    except Exception as exc:  # Secrets Manager unreachable or access denied: retried like any sink outage
        raise ConfigurationError(f"snowflake sink: cannot read secret {arn}: {one_line(exc)}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"snowflake sink: secret {arn} is not a JSON object")
    return {field: document[key] for key, field in _SECRET_KEYS.items() if document.get(key) not in (None, "")}
