"""Snowflake credentials: a typed object that refuses to be built incomplete.

Sign-in is exactly one of:

- a key pair (what a service user such as the pipeline's Lambda should use): a PEM private key, PKCS#8, optionally
  encrypted with a passphrase; the user's `RSA_PUBLIC_KEY` holds its public half;
- a programmatic access token (PAT) of the user;
- a password, still accepted with a warning: Snowflake is blocking password-only sign-in for service users.

In AWS they come from Secrets Manager: `PIPELINE_SNOWFLAKE_SECRET_ARN` names a secret holding a JSON object
(`{"account": ..., "user": ..., "private_key": "-----BEGIN PRIVATE KEY-----...", "private_key_passphrase": ...,
"warehouse": ..., "role": ..., "database": ..., "schema": ...}`, or `"token"` or `"password"` instead of the key).
Locally they come from `PIPELINE_SNOWFLAKE_*` variables; the local stack points them at its fakesnow server
(`host`, `port`, `protocol=http` and `db_path`, the folder where fakesnow keeps its DuckDB files).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.constants import Env
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError

log = logging.getLogger(__name__)

# Identifiers cannot be bound as parameters, so they are checked instead: plain unquoted Snowflake identifiers.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")]

Authentication = Literal["key_pair", "token", "password"]

# Secret JSON keys -> field names.
_SECRET_KEYS = {
    "account": "account", "user": "user", "private_key": "private_key",
    "private_key_passphrase": "private_key_passphrase", "token": "token", "password": "password",
    "warehouse": "warehouse", "role": "role", "database": "database", "schema": "schema_name", "host": "host",
    "port": "port", "protocol": "protocol",
}  # fmt: skip
# The fields that sign in: a secret that holds any of them decides the sign-in alone.
_SIGN_IN = ("private_key", "private_key_passphrase", "token", "password")
_ENV_NAMES = {
    "account": Env.SNOWFLAKE_ACCOUNT, "user": Env.SNOWFLAKE_USER, "password": Env.SNOWFLAKE_PASSWORD,
    "private_key": Env.SNOWFLAKE_PRIVATE_KEY, "private_key_passphrase": Env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
    "token": Env.SNOWFLAKE_TOKEN, "database": Env.SNOWFLAKE_DATABASE, "schema_name": Env.SNOWFLAKE_SCHEMA,
    "table": Env.SNOWFLAKE_TABLE, "warehouse": Env.SNOWFLAKE_WAREHOUSE, "role": Env.SNOWFLAKE_ROLE,
    "port": Env.SNOWFLAKE_PORT,
}  # fmt: skip
# The fields of `settings.snowflake` the credentials take as they are.
_FROM_SETTINGS = (
    "account", "user", "private_key", "private_key_passphrase", "token", "password", "database", "schema_name",
    "table", "warehouse", "role", "host", "port", "protocol", "db_path", "login_timeout",
)  # fmt: skip
_SECRET_FIELDS = frozenset({"password", "private_key", "private_key_passphrase", "token"})

PASSWORD_WARNING = (
    "snowflake sink: signing in with a password; Snowflake blocks password-only sign-in for service users: "
    f"use a key pair ({Env.SNOWFLAKE_PRIVATE_KEY}) or a programmatic access token ({Env.SNOWFLAKE_TOKEN})"
)


class ConfigurationError(SinkError):
    """The sink cannot be configured from the settings (a missing or malformed value)."""


class SnowflakeCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str = Field(min_length=1)
    user: str = Field(min_length=1)
    # Exactly one of the three sign-ins (checked below).
    private_key_passphrase: SecretStr | None = None
    private_key: SecretStr | None = None
    token: SecretStr | None = None
    password: SecretStr | None = None
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

    @field_validator("private_key")
    @classmethod
    def _a_key_that_opens(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            load_private_key(value, info.data.get("private_key_passphrase"))  # a bad key or passphrase fails here
        return value

    @model_validator(mode="after")
    def _one_sign_in(self) -> SnowflakeCredentials:
        given = [name for name in ("private_key", "token", "password") if _present(getattr(self, name))]
        if not given:
            names = ", ".join(_ENV_NAMES[name] for name in ("private_key", "token", "password"))
            raise ValueError(
                f"no sign-in: set one of {names} (or private_key, token or password in the secret "
                f"{Env.SNOWFLAKE_SECRET_ARN} names)"
            )
        if len(given) > 1:
            raise ValueError(f"set exactly one of {', '.join(_ENV_NAMES[name] for name in given)}, not {len(given)}")
        if self.private_key_passphrase is not None and self.private_key is None:
            raise ValueError(f"{Env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE} is set without a private key")
        return self

    @property
    def authentication(self) -> Authentication:
        if self.private_key is not None:
            return "key_pair"
        return "token" if self.token is not None else "password"

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
            "database": self.database,
            "schema": self.schema_name,
            # Server-side binding: values travel apart from the SQL text.
            "paramstyle": "qmark",
            "login_timeout": self.login_timeout,
            "network_timeout": self.login_timeout * 3,
            "socket_timeout": self.login_timeout * 3,
            "client_session_keep_alive": False,
            # No probing of EC2/Azure/GCP metadata endpoints and STS at each cold connect (the connector's
            # platform detection): a Lambda has none of them, and the probes cost the cold start their timeouts.
            "platform_detection_timeout_seconds": 0.0,
            # Nothing is cached under HOME (read-only in Lambda): no stored ID or MFA tokens.
            "client_store_temporary_credential": False,
            "client_request_mfa_token": False,
            "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "market-data-pipeline"},
            **self._sign_in_args(),
        }
        for name in ("warehouse", "role", "host", "port"):
            if (value := getattr(self, name)) is not None:
                args[name] = value
        if self.host:
            args["protocol"] = self.protocol
        if self.db_path is not None:
            args["session_parameters"]["FAKESNOW_DB_PATH"] = str(self.db_path)
        return args

    def _sign_in_args(self) -> dict[str, Any]:
        if self.private_key is not None:
            key = load_private_key(self.private_key, self.private_key_passphrase)
            return {"authenticator": "SNOWFLAKE_JWT", "private_key": key}
        if self.token is not None:
            return {"authenticator": "PROGRAMMATIC_ACCESS_TOKEN", "token": self.token.get_secret_value()}
        assert self.password is not None  # one of the three, by the validator
        if not self.is_fakesnow:  # the local stand-in has no service users to block
            _warn_password_once()
        return {"password": self.password.get_secret_value()}

    @classmethod
    def from_settings(cls, settings: Settings) -> SnowflakeCredentials:
        sf = settings.snowflake
        values: dict[str, Any] = {field: getattr(sf, field) for field in _FROM_SETTINGS}
        if sf.private_key_file is not None and not _present(values["private_key"]):
            values["private_key"] = _read_key_file(sf.private_key_file)
        if sf.secret_arn:
            secret = _from_secret(settings)
            if any(name in secret for name in _SIGN_IN):  # the secret signs in alone
                values.update(dict.fromkeys(_SIGN_IN))
            values.update(secret)
        values = {k: None if k in _SECRET_FIELDS and not _present(v) else v for k, v in values.items()}
        missing = [name for name in ("account", "user") if not values.get(name)]
        if missing:
            names = ", ".join(_ENV_NAMES[m] for m in missing)
            raise ConfigurationError(
                f"snowflake sink: no {', '.join(missing)}: set {names}, "
                f"or {Env.SNOWFLAKE_SECRET_ARN} to a secret holding a JSON object with them"
            )
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigurationError(f"snowflake sink: {_describe(exc)}") from None


def _present(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field:  # the whole object: which sign-in
        return message
    shown = "" if field in _SECRET_FIELDS else f" (got {first['input']!r})"
    return f"{_ENV_NAMES.get(field, field)}: {message}{shown}"


def load_private_key(pem: SecretStr, passphrase: SecretStr | None) -> Any:
    """The private key object the connector signs its JWT with, from PEM text (PKCS#8, encrypted or not).

    Raises `ValueError` with one line (never the key) when the text is no key or the passphrase does not open it.
    """
    from cryptography.hazmat.primitives import serialization

    text = pem.get_secret_value().strip().replace("\\n", "\n")  # a PEM pasted into one line of a .env file
    password = passphrase.get_secret_value().encode() if passphrase is not None else None
    try:
        return serialization.load_pem_private_key(text.encode(), password=password)
    except TypeError:
        if password is None:
            raise ValueError(
                f"the private key is encrypted: set {Env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE} "
                "(or private_key_passphrase in the secret)"
            ) from None
        raise ValueError("the private key is not encrypted, but a passphrase is set: remove it") from None
    except ValueError:
        hint = " or the passphrase is wrong" if password is not None else ""
        raise ValueError(f"the private key is not a PEM private key{hint}") from None


def _read_key_file(path: Path) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"snowflake sink: {Env.SNOWFLAKE_PRIVATE_KEY_FILE}: cannot read {path}: {one_line(exc)}"
        ) from None


@cache
def _warn_password_once() -> None:
    log.warning(PASSWORD_WARNING)


def _from_secret(settings: Settings) -> dict[str, Any]:
    arn = settings.snowflake.secret_arn
    try:
        text = settings.secret(None, arn)
        document = json.loads(text or "")
    except json.JSONDecodeError:
        raise ConfigurationError(
            f"snowflake sink: secret {arn} is not a JSON object of account, user, private_key (or token), ..."
        ) from None
    except Exception as exc:  # Secrets Manager unreachable or access denied: retried like any sink outage
        raise ConfigurationError(f"snowflake sink: cannot read secret {arn}: {one_line(exc)}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"snowflake sink: secret {arn} is not a JSON object")
    return {field: document[key] for key, field in _SECRET_KEYS.items() if document.get(key) not in (None, "")}
