"""Settings and AWS clients created once per execution environment and reused across invocations."""

from __future__ import annotations

from functools import cache
from typing import Any

from pipeline import aws
from pipeline.constants import SourceId
from pipeline.settings import Settings, get_settings
from pipeline.sinks import Sink, get_sink


def settings() -> Settings:
    return get_settings()


@cache
def s3() -> Any:
    return aws.client("s3", settings())


@cache
def sns() -> Any:
    return aws.client("sns", settings())


@cache
def sqs() -> Any:
    return aws.client("sqs", settings())


@cache
def sink(source: SourceId) -> Sink:
    return get_sink(source, settings(), s3=s3())


def reset() -> None:
    """Forget the cached settings, clients and sinks (the local runtime calls it after changing the environment)."""
    for fn in (s3, sns, sqs, sink):
        fn.cache_clear()
    get_settings.cache_clear()
