"""SQL Server configuration: a SQLAlchemy URL and a table name, refusing to be built incomplete.

In AWS the URL (`mssql+pymssql://user:password@host:1433/database`) is a secret: `PIPELINE_SQLSERVER_URL_SECRET_ARN`
names a Secrets Manager secret whose string is the URL. Locally `PIPELINE_SQLSERVER_URL` holds it, and the local
stack sets it to a SQLite file (`sqlite:///.local/sqlserver.db`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints, ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pipeline.constants import Env
from pipeline.errors import one_line
from pipeline.settings import Settings
from pipeline.sinks.base import SinkError

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]

SUPPORTED_BACKENDS = ("mssql", "sqlite")


class ConfigurationError(SinkError):
    """The sink cannot be configured from the settings (a missing or malformed value)."""


class SqlServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: SecretStr
    table: Identifier

    @property
    def sa_url(self) -> URL:
        return make_url(self.url.get_secret_value())

    @property
    def where(self) -> str:
        """Where the rows go, for messages: the URL without its password."""
        return f"{self.sa_url.render_as_string(hide_password=True)}/{self.table}"

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlServerConfig:
        try:
            url = settings.secret(settings.sqlserver.url, settings.sqlserver.url_secret_arn)
        except Exception as exc:  # Secrets Manager unreachable or access denied: retried like any outage
            arn = settings.sqlserver.url_secret_arn
            raise ConfigurationError(f"sqlserver sink: cannot read secret {arn}: {one_line(exc)}") from None
        if not url:
            raise ConfigurationError(
                f"sqlserver sink: no database URL: set {Env.SQLSERVER_URL} (e.g. sqlite:///.local/sqlserver.db) "
                f"or {Env.SQLSERVER_URL_SECRET_ARN} to a secret holding mssql+pymssql://user:password@host/db"
            )
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ConfigurationError(
                f"sqlserver sink: {Env.SQLSERVER_URL} is not a SQLAlchemy URL "
                "(expected mssql+pymssql://user:password@host:1433/db or sqlite:///path.db)"
            ) from None
        if backend not in SUPPORTED_BACKENDS:
            raise ConfigurationError(
                f"sqlserver sink: unsupported database {backend!r}: expected one of {', '.join(SUPPORTED_BACKENDS)}"
            )
        try:
            return cls(url=SecretStr(url), table=settings.sqlserver.table)
        except ValidationError:
            raise ConfigurationError(
                f"sqlserver sink: {Env.SQLSERVER_TABLE}={settings.sqlserver.table!r} is not a plain table name"
            ) from None
