"""Settings and AWS clients created once per execution environment and reused across invocations."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pipeline import aws
from pipeline.constants import SourceId
from pipeline.settings import Settings, get_settings
from pipeline.sinks import Sink, get_sink

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_sns.client import SNSClient
    from types_boto3_sqs.client import SQSClient

_configured: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Point the handlers (their settings, clients and sinks) at `settings` instead of the environment; None: back
    to the environment. The local stack, the course and tests pass their settings here, never through os.environ."""
    global _configured
    _configured = settings
    reset()


def settings() -> Settings:
    """The configured settings, else the process-wide settings read from the environment."""
    return _configured if _configured is not None else get_settings()


@cache
def s3() -> S3Client:
    return aws.client("s3", settings())


@cache
def sns() -> SNSClient:
    return aws.client("sns", settings())


@cache
def sqs() -> SQSClient:
    return aws.client("sqs", settings())


@cache
def sink(source: SourceId) -> Sink:
    return get_sink(source, settings(), s3=s3())


def reset() -> None:
    """Forget the cached settings, clients and sinks (the configured settings stay: see `configure`)."""
    for fn in (s3, sns, sqs, sink):
        fn.cache_clear()
    get_settings.cache_clear()
