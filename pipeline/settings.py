"""One typed settings object, read from the environment (and an untracked `.env` file).

Each sink has its own settings class (`settings.snowflake`, `settings.sqlserver`), read from its own prefix
(`PIPELINE_SNOWFLAKE_*`, `PIPELINE_SQLSERVER_*`); `Settings` is still the one object callers build.

In AWS the secrets arrive as Secrets Manager ARNs (`*_SECRET_ARN`) and are fetched, cached, by Powertools;
locally they come straight from the environment. A secret is a `SecretStr`, so it never shows in a repr or a log.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.constants import Env


def _env(name: str, *more: str) -> AliasChoices:
    return AliasChoices(name, *more)


class _SinkSettings(BaseSettings):
    """A sink's settings: every field read from `<prefix><FIELD>` (and `.env`)."""

    # Variables whose field has another name (`PIPELINE_SNOWFLAKE_SCHEMA` sets `schema_name`).
    renamed: ClassVar[dict[str, str]] = {}

    @classmethod
    def field_of(cls, key: str) -> str | None:
        """The field a variable name (`PIPELINE_SNOWFLAKE_HOST`) or a flat name (`snowflake_host`) sets, if any."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        flat = prefix.removeprefix("PIPELINE_").lower()
        if key.upper().startswith(prefix):
            name = key[len(prefix) :].lower()
        elif key.startswith(flat):
            name = key[len(flat) :]
        else:
            return None
        name = cls.renamed.get(name, name)
        return name if name in cls.model_fields else None


class SnowflakeSettings(_SinkSettings):
    """The Snowflake sink (`PIPELINE_SNOWFLAKE_*`): either a secret ARN holding a JSON object of these fields, or
    the fields themselves. Sign-in is one of private_key (or private_key_file), token or password."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_SNOWFLAKE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    renamed: ClassVar[dict[str, str]] = {"schema": "schema_name"}

    secret_arn: str | None = None
    account: str | None = None
    user: str | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    private_key_passphrase: SecretStr | None = None
    token: SecretStr | None = None
    password: SecretStr | None = None
    database: str = "MARKET_DATA"
    # `schema` would shadow pydantic's BaseModel.schema; the variable keeps its name.
    schema_name: str = Field("PUBLIC", validation_alias=Env.SNOWFLAKE_SCHEMA)
    warehouse: str | None = None
    role: str | None = None
    table: str = "BARS_1M"
    host: str | None = None
    port: int | None = None
    protocol: Literal["http", "https"] = "https"
    # fakesnow only: the folder where the local server keeps its DuckDB files.
    db_path: Path | None = None
    login_timeout: int = Field(20, ge=1)


class SqlServerSettings(_SinkSettings):
    """The SQL Server sink (`PIPELINE_SQLSERVER_*`): a SQLAlchemy URL (mssql+pymssql://... in AWS, sqlite:///...
    locally), or the ARN of a secret holding it, and the table."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_SQLSERVER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    url: SecretStr | None = None
    url_secret_arn: str | None = None
    table: str = "fx_rates"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    mode: Literal["live", "simulated"] = Field("live", validation_alias=_env(Env.MODE))
    seed: int = Field(42, validation_alias=_env(Env.SEED))
    bucket: str = Field("market-data-pipeline-local", validation_alias=_env(Env.BUCKET))
    topic_arn: str = Field("", validation_alias=_env(Env.TOPIC_ARN))
    aws_endpoint_url: str | None = Field(None, validation_alias=_env(Env.AWS_ENDPOINT_URL))
    region: str = Field("us-east-1", validation_alias=_env(Env.AWS_REGION, "AWS_DEFAULT_REGION"))
    aws_access_key_id: str | None = Field(None, validation_alias=_env(Env.AWS_ACCESS_KEY_ID))
    aws_secret_access_key: SecretStr | None = Field(None, validation_alias=_env(Env.AWS_SECRET_ACCESS_KEY))
    local_dir: Path = Field(Path(".local"), validation_alias=_env(Env.LOCAL_DIR))

    # Sources
    universe_limit: int | None = Field(None, ge=1, validation_alias=_env(Env.UNIVERSE_LIMIT))
    # Yahoo's request budget (pipeline.sources.yahoo_finance.budget): every symbol every K minutes, a window of at least
    # the lookback (K + 2 covers the rotation and bars that arrive or change a minute late), at most N requests a
    # minute (120: 2 a second), no request after the time budget, a cool-down after a few 429s.
    yahoo_rotation_minutes: int = Field(5, ge=1, le=30, validation_alias=_env(Env.YAHOO_ROTATION_MINUTES))
    yahoo_lookback_minutes: int = Field(7, ge=1, le=60, validation_alias=_env(Env.YAHOO_LOOKBACK_MINUTES))
    yahoo_requests_per_minute: int = Field(120, ge=1, validation_alias=_env(Env.YAHOO_REQUESTS_PER_MINUTE))
    yahoo_time_budget_seconds: float = Field(40.0, gt=0, validation_alias=_env(Env.YAHOO_TIME_BUDGET_SECONDS))
    yahoo_breaker_429s: int = Field(3, ge=1, validation_alias=_env(Env.YAHOO_BREAKER_429S))
    yahoo_cooldown_minutes: int = Field(2, ge=1, validation_alias=_env(Env.YAHOO_COOLDOWN_MINUTES))
    yahoo_cooldown_max_minutes: int = Field(30, ge=1, validation_alias=_env(Env.YAHOO_COOLDOWN_MAX_MINUTES))
    # The simulated Yahoo's faults, all off by default (the clean demo); tests, the soak and the benchmark set them.
    yahoo_twin_rate_limit: int = Field(0, ge=0, validation_alias=_env(Env.YAHOO_TWIN_RATE_LIMIT))  # 429 past R/min
    yahoo_twin_live_tail: float = Field(0.0, ge=0, le=1, validation_alias=_env(Env.YAHOO_TWIN_LIVE_TAIL))
    yahoo_twin_late_rate: float = Field(0.0, ge=0, le=1, validation_alias=_env(Env.YAHOO_TWIN_LATE_RATE))
    yahoo_twin_revise_rate: float = Field(0.0, ge=0, le=1, validation_alias=_env(Env.YAHOO_TWIN_REVISE_RATE))
    yahoo_twin_bad_rate: float = Field(0.0, ge=0, le=1, validation_alias=_env(Env.YAHOO_TWIN_BAD_RATE))
    yahoo_twin_not_found: str = Field("", validation_alias=_env(Env.YAHOO_TWIN_NOT_FOUND))  # symbols, comma-separated
    cmc_top_n: int = Field(10, ge=1, le=100, validation_alias=_env(Env.CMC_TOP_N))
    cmc_api_key: SecretStr | None = Field(None, validation_alias=_env(Env.CMC_API_KEY))
    cmc_api_key_secret_arn: str | None = Field(None, validation_alias=_env(Env.CMC_API_KEY_SECRET_ARN))
    oxr_app_id: SecretStr | None = Field(None, validation_alias=_env(Env.OXR_APP_ID))
    oxr_app_id_secret_arn: str | None = Field(None, validation_alias=_env(Env.OXR_APP_ID_SECRET_ARN))
    # The free plan refreshes hourly and allows 1,000 requests a month.
    oxr_refresh_seconds: int = Field(3600, ge=60, validation_alias=_env(Env.OXR_REFRESH_SECONDS))
    oxr_monthly_quota: int = Field(1000, ge=0, validation_alias=_env(Env.OXR_MONTHLY_QUOTA))
    # CoinMarketCap's API plan: the Basic plan's 10,000 credits a month; one listing call (up to 200 coins) is
    # one credit, so a call at most every 5 minutes (8,928 a month) keeps within it. 0 credits = unlimited.
    cmc_monthly_credits: int = Field(10_000, ge=0, validation_alias=_env(Env.CMC_MONTHLY_CREDITS))
    cmc_min_interval_seconds: int = Field(300, ge=0, validation_alias=_env(Env.CMC_MIN_INTERVAL_SECONDS))
    # Faults of the simulated twins (off by default; tests and the soak turn them on).
    cmc_simulated_fault: Literal["", "challenge", "redesign", "non_usd", "exhausted", "daily_exhausted"] = Field(
        "", validation_alias=_env(Env.CMC_SIMULATED_FAULT)
    )
    oxr_simulated_fault: Literal[
        "", "missing_app_id", "invalid_app_id", "not_allowed", "access_restricted", "rate_limited"
    ] = Field("", validation_alias=_env(Env.OXR_SIMULATED_FAULT))

    # The sinks: one settings class each, read from their own prefix (PIPELINE_SNOWFLAKE_*, PIPELINE_SQLSERVER_*).
    snowflake: SnowflakeSettings = Field(default_factory=lambda: SnowflakeSettings())
    sqlserver: SqlServerSettings = Field(default_factory=lambda: SqlServerSettings())

    @model_validator(mode="before")
    @classmethod
    def _sink_values(cls, data: Any) -> Any:
        """Sink values given to `Settings(...)` by variable (`PIPELINE_SNOWFLAKE_HOST=...`, as the local stack's
        environment) or by flat name (`snowflake_host=...`) go to their sink's settings; the sink's other values
        are still read from the environment."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, sink_class in (("snowflake", SnowflakeSettings), ("sqlserver", SqlServerSettings)):
            given = {field: data.pop(key) for key in list(data) if (field := sink_class.field_of(key)) is not None}
            if not given:
                continue
            current = data.get(name)
            if isinstance(current, BaseModel):
                data[name] = current.model_copy(update=sink_class(**given).model_dump(include=set(given)))
            else:
                data[name] = sink_class(**{**(current or {}), **given})
        return data

    def secret(self, value: SecretStr | None, arn: str | None) -> str | None:
        """The secret's value: from the environment if set, else from Secrets Manager by ARN (cached)."""
        if value is not None:
            return value.get_secret_value()
        if arn:
            from aws_lambda_powertools.utilities.parameters import get_secret

            return str(get_secret(arn, max_age=300))
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own `Settings(...)`)."""
    return Settings()


_SETTINGS_CLASSES: dict[str, type[BaseSettings]] = {
    "Settings": Settings,
    "SnowflakeSettings": SnowflakeSettings,
    "SqlServerSettings": SqlServerSettings,
}


_SECRET_WORDS = ("KEY", "PASSWORD", "TOKEN", "SECRET", "URL", "APP_ID", "PASSPHRASE")


def is_settings_error(exc: BaseException) -> bool:
    """True when `exc` is a settings object refusing a value of the environment (or `.env`)."""
    return isinstance(exc, ValidationError) and exc.title in _SETTINGS_CLASSES


def _variable(title: str, name: str) -> str:
    """The environment variable behind a field (`port` of SnowflakeSettings: PIPELINE_SNOWFLAKE_PORT)."""
    cls = _SETTINGS_CLASSES[title]
    field = cls.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str | AliasChoices):
        alias = field.validation_alias
        first = alias if isinstance(alias, str) else alias.choices[0]
        return first if isinstance(first, str) else name
    if field is None:
        return name  # already the variable (the field was read by its alias)
    prefix = str(cls.model_config.get("env_prefix", ""))
    return prefix + name.upper()


def describe_error(exc: ValidationError) -> str:
    """One line naming each refused variable, its value and why (`PIPELINE_SNOWFLAKE_PORT='abc': ...`)."""
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ("?",)
        variable = _variable(exc.title, str(loc[0]))
        value = error.get("input")
        secret = any(word in variable.upper() for word in _SECRET_WORDS)  # never echo what may be a secret
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        parts.append(f"{variable}{shown}: {error['msg']}")
    return "; ".join(parts) + " (fix the variable in the environment or .env)"
