"""boto3 clients with one retry policy (botocore's standard mode) and the configured endpoint."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from pipeline.settings import Settings

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(service: str, settings: Settings) -> Any:
    """A client for `service`; AWS_ENDPOINT_URL (the local moto server) is honoured when set."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=RETRY_CONFIG,
    )


def session_client(session: Any, service: str, endpoint_url: str | None = None) -> Any:
    """A client of an explicit boto3 session (a profile, a region, moto's dummy credentials), same retry policy."""
    return session.client(service, endpoint_url=endpoint_url, config=RETRY_CONFIG)
