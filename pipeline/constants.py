"""Names that the code, the CloudFormation template and the tests share.

Every environment variable the pipeline reads is named here once; the template sets them with !Ref/!GetAtt.
"""

from __future__ import annotations

from typing import Final

# A source id: one of `pipeline.registry.source_ids()`, where every source is declared.
SourceId = str

RAW_PREFIX: Final = "raw"
PROCESSED_PREFIX: Final = "processed"
QUARANTINE_PREFIX: Final = "quarantine"
STATE_PREFIX: Final = "state"

# SNS message attribute that the subscriptions filter on.
SOURCE_ATTRIBUTE: Final = "source"

# S3 object metadata written on every raw object.
META_ROWS: Final = "rows"
META_SUCCESS_ROWS: Final = "success-rows"


class Env:
    """Environment variable names (one place; the template and the local stack use the same)."""

    MODE: Final = "PIPELINE_MODE"  # live | simulated
    TARGET: Final = "PIPELINE_TARGET"  # local (default) | aws: the stack the command line works on
    SEED: Final = "PIPELINE_SEED"
    BUCKET: Final = "PIPELINE_BUCKET"
    TOPIC_ARN: Final = "PIPELINE_TOPIC_ARN"
    LOCAL_DIR: Final = "PIPELINE_LOCAL_DIR"
    LOCAL_AWS_PORT: Final = "PIPELINE_LOCAL_AWS_PORT"  # moto server port for `local up` (default: a free one)
    LOCAL_SNOWFLAKE_PORT: Final = "PIPELINE_LOCAL_SNOWFLAKE_PORT"  # fakesnow server port (default: a free one)
    AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
    AWS_REGION: Final = "AWS_REGION"
    # Explicit credentials for the clients the package builds (the local stack's dummy ones); unset in AWS, where
    # boto3's own chain finds the function's role. Never AWS_ACCESS_KEY_ID: in Lambda that needs its session token.
    AWS_ACCESS_KEY_ID: Final = "PIPELINE_AWS_ACCESS_KEY_ID"
    AWS_SECRET_ACCESS_KEY: Final = "PIPELINE_AWS_SECRET_ACCESS_KEY"

    UNIVERSE_LIMIT: Final = "PIPELINE_UNIVERSE_LIMIT"
    YAHOO_LOOKBACK_MINUTES: Final = "PIPELINE_YAHOO_LOOKBACK_MINUTES"
    YAHOO_ROTATION_MINUTES: Final = "PIPELINE_YAHOO_ROTATION_MINUTES"
    YAHOO_REQUESTS_PER_MINUTE: Final = "PIPELINE_YAHOO_REQUESTS_PER_MINUTE"
    YAHOO_TIME_BUDGET_SECONDS: Final = "PIPELINE_YAHOO_TIME_BUDGET_SECONDS"
    YAHOO_BREAKER_429S: Final = "PIPELINE_YAHOO_BREAKER_429S"
    YAHOO_COOLDOWN_MINUTES: Final = "PIPELINE_YAHOO_COOLDOWN_MINUTES"
    YAHOO_COOLDOWN_MAX_MINUTES: Final = "PIPELINE_YAHOO_COOLDOWN_MAX_MINUTES"
    # The simulated Yahoo's faults (0: none, the clean demo)
    YAHOO_TWIN_RATE_LIMIT: Final = "PIPELINE_YAHOO_TWIN_RATE_LIMIT"
    YAHOO_TWIN_LIVE_TAIL: Final = "PIPELINE_YAHOO_TWIN_LIVE_TAIL"
    YAHOO_TWIN_LATE_RATE: Final = "PIPELINE_YAHOO_TWIN_LATE_RATE"
    YAHOO_TWIN_REVISE_RATE: Final = "PIPELINE_YAHOO_TWIN_REVISE_RATE"
    YAHOO_TWIN_BAD_RATE: Final = "PIPELINE_YAHOO_TWIN_BAD_RATE"
    YAHOO_TWIN_NOT_FOUND: Final = "PIPELINE_YAHOO_TWIN_NOT_FOUND"
    CMC_TOP_N: Final = "PIPELINE_CMC_TOP_N"
    CMC_API_KEY: Final = "PIPELINE_CMC_API_KEY"
    CMC_API_KEY_SECRET_ARN: Final = "PIPELINE_CMC_API_KEY_SECRET_ARN"
    OXR_APP_ID: Final = "PIPELINE_OXR_APP_ID"
    OXR_APP_ID_SECRET_ARN: Final = "PIPELINE_OXR_APP_ID_SECRET_ARN"
    OXR_REFRESH_SECONDS: Final = "PIPELINE_OXR_REFRESH_SECONDS"
    OXR_MONTHLY_QUOTA: Final = "PIPELINE_OXR_MONTHLY_QUOTA"
    CMC_MONTHLY_CREDITS: Final = "PIPELINE_CMC_MONTHLY_CREDITS"
    CMC_MIN_INTERVAL_SECONDS: Final = "PIPELINE_CMC_MIN_INTERVAL_SECONDS"
    CMC_SIMULATED_FAULT: Final = "PIPELINE_CMC_SIMULATED_FAULT"
    OXR_SIMULATED_FAULT: Final = "PIPELINE_OXR_SIMULATED_FAULT"

    SNOWFLAKE_SECRET_ARN: Final = "PIPELINE_SNOWFLAKE_SECRET_ARN"
    SNOWFLAKE_ACCOUNT: Final = "PIPELINE_SNOWFLAKE_ACCOUNT"
    SNOWFLAKE_USER: Final = "PIPELINE_SNOWFLAKE_USER"
    # Sign-in: exactly one of a key pair (a PEM private key, its text or a file, optionally encrypted), a
    # programmatic access token, or a password (Snowflake blocks password-only sign-in for service users).
    SNOWFLAKE_PRIVATE_KEY: Final = "PIPELINE_SNOWFLAKE_PRIVATE_KEY"
    SNOWFLAKE_PRIVATE_KEY_FILE: Final = "PIPELINE_SNOWFLAKE_PRIVATE_KEY_FILE"
    SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: Final = "PIPELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"
    SNOWFLAKE_TOKEN: Final = "PIPELINE_SNOWFLAKE_TOKEN"
    SNOWFLAKE_PASSWORD: Final = "PIPELINE_SNOWFLAKE_PASSWORD"
    SNOWFLAKE_DATABASE: Final = "PIPELINE_SNOWFLAKE_DATABASE"
    SNOWFLAKE_SCHEMA: Final = "PIPELINE_SNOWFLAKE_SCHEMA"
    SNOWFLAKE_WAREHOUSE: Final = "PIPELINE_SNOWFLAKE_WAREHOUSE"
    SNOWFLAKE_ROLE: Final = "PIPELINE_SNOWFLAKE_ROLE"
    SNOWFLAKE_TABLE: Final = "PIPELINE_SNOWFLAKE_TABLE"
    SNOWFLAKE_HOST: Final = "PIPELINE_SNOWFLAKE_HOST"
    SNOWFLAKE_PORT: Final = "PIPELINE_SNOWFLAKE_PORT"
    SNOWFLAKE_PROTOCOL: Final = "PIPELINE_SNOWFLAKE_PROTOCOL"
    # fakesnow only: the folder where the local server keeps its DuckDB files (sent as a session parameter).
    SNOWFLAKE_DB_PATH: Final = "PIPELINE_SNOWFLAKE_DB_PATH"
    SNOWFLAKE_LOGIN_TIMEOUT: Final = "PIPELINE_SNOWFLAKE_LOGIN_TIMEOUT"

    SQLSERVER_URL: Final = "PIPELINE_SQLSERVER_URL"
    SQLSERVER_URL_SECRET_ARN: Final = "PIPELINE_SQLSERVER_URL_SECRET_ARN"
    SQLSERVER_TABLE: Final = "PIPELINE_SQLSERVER_TABLE"

    # The scheduled redrive function of a source: its queue and dead-letter queue (URLs, !Ref of the queues).
    REDRIVE_QUEUE_URL: Final = "PIPELINE_REDRIVE_QUEUE_URL"
    REDRIVE_DEAD_LETTER_QUEUE_URL: Final = "PIPELINE_REDRIVE_DEAD_LETTER_QUEUE_URL"
