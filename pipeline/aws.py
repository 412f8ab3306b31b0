"""boto3 clients with one retry policy (botocore's standard mode) and the configured endpoint, and the two S3
idioms the package needs everywhere: telling "not there" from other errors, and listing keys from a first key on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from pipeline.settings import Settings

if TYPE_CHECKING:  # the boto3 stubs are a development dependency (types-boto3)
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import ObjectTypeDef
    from types_boto3_secretsmanager.client import SecretsManagerClient
    from types_boto3_sns.client import SNSClient
    from types_boto3_sqs.client import SQSClient

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@overload
def client(service: Literal["s3"], settings: Settings) -> S3Client: ...
@overload
def client(service: Literal["sns"], settings: Settings) -> SNSClient: ...
@overload
def client(service: Literal["sqs"], settings: Settings) -> SQSClient: ...
@overload
def client(service: Literal["secretsmanager"], settings: Settings) -> SecretsManagerClient: ...
@overload
def client(service: str, settings: Settings) -> Any: ...
def client(service: str, settings: Settings) -> Any:
    """A client for `service`; AWS_ENDPOINT_URL (the local moto server) is honoured when set."""
    secret = settings.aws_secret_access_key
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=RETRY_CONFIG,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
    )


def session_client(session: Any, service: str, endpoint_url: str | None = None) -> Any:
    """A client of an explicit boto3 session (a profile, a region, moto's dummy credentials), same retry policy."""
    return session.client(service, endpoint_url=endpoint_url, config=RETRY_CONFIG)


# What S3 answers for an object or bucket that is not there: GetObject says NoSuchKey, HeadObject and HeadBucket
# (no body) only the status, 404; moto and some S3 stand-ins say NotFound.
NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})


def is_not_found(exc: BaseException) -> bool:
    """True when `exc` is S3 saying the object (or bucket) does not exist."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def key_before(key: str) -> str:
    """A key that sorts just before `key`: StartAfter is exclusive, so listing from it lists `key` too."""
    return key[:-1] + chr(ord(key[-1]) - 1) if key else key


def list_objects(s3: S3Client, bucket: str, prefix: str, first_key: str | None = None) -> Iterator[ObjectTypeDef]:
    """The objects under `prefix` in key order, from `first_key` on (inclusive) when given.

    S3 lists keys in UTF-8 binary order, so a caller that stops at the first key past its window reads no more.
    """
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if first_key:
        kwargs["StartAfter"] = key_before(first_key)
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from page.get("Contents", [])
