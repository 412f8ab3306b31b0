"""Shared fixtures. Add new fixtures below the existing ones; keep each one documented."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from pipeline.settings import Settings
from workbench.cloudformation.topology import LOCAL_CREDENTIALS
from workbench.local import servers as local_stack_module
from workbench.local.queues import empty_queues
from workbench.local.servers import LocalStack


# ---------------------------------------------------------------------------------------------------------
# The local stack (moto + fakesnow servers, topology from the CloudFormation template)
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """An isolated local stack for the whole test session: its own local_dir, free ports; stopped at the end.

    Reach it with `local_stack.env()` (environment variables) or `local_stack.settings()`.
    """
    local_dir: Path = tmp_path_factory.mktemp("local-stack")
    settings = Settings(local_dir=local_dir)
    stack = local_stack_module.up(settings, aws_port=0, snowflake_port=0)
    try:
        yield stack
    finally:
        local_stack_module.down(settings, keep=False)


@pytest.fixture
def local_env(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """This test runs with the environment of the local stack (AWS_ENDPOINT_URL, PIPELINE_*); its Settings."""
    for name, value in local_stack.env().items():
        monkeypatch.setenv(name, value)
    return local_stack.settings()


@pytest.fixture
def clean_stack(local_stack: LocalStack) -> LocalStack:
    """The local stack with every queue and dead-letter queue purged, the bucket emptied (all versions) and the
    sinks emptied too (rows whose raw objects are gone would be "extra" to `verify`).

    FIFO deduplication ids are remembered for 5 minutes across a purge: use a new id in each test.
    """
    empty_stack(local_stack)
    return local_stack


def empty_stack(local_stack: LocalStack) -> None:
    """Purge every queue and dead-letter queue, empty the bucket (all versions) and the sinks: what `clean_stack`
    does, for a module-scoped fixture that must start from nothing whatever the tests before it left."""
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS, region_name=local_stack.region
    )
    sqs = session.client("sqs", endpoint_url=local_stack.aws_endpoint_url)
    s3 = session.client("s3", endpoint_url=local_stack.aws_endpoint_url)
    empty_queues(sqs, [*local_stack.queues.values(), *local_stack.dead_letter_queues.values()])
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=local_stack.bucket):
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        if objects:
            s3.delete_objects(Bucket=local_stack.bucket, Delete={"Objects": objects, "Quiet": True})
    _empty_sinks(local_stack)


def _empty_sinks(stack: LocalStack) -> None:
    """Delete every row of the Snowflake and SQL Server sinks (the Parquet sink lives in the bucket)."""
    import sqlalchemy

    from pipeline.sinks.base import SinkError, SinkRejected
    from pipeline.sinks.snowflake import query

    settings = stack.settings()
    with contextlib.suppress(SinkError, SinkRejected):  # no table yet: nothing loaded
        query(f"DELETE FROM {settings.snowflake.table}", settings=settings)
    engine = sqlalchemy.create_engine(stack.sqlserver_url)
    try:
        with engine.begin() as connection:
            if sqlalchemy.inspect(connection).has_table(settings.sqlserver.table):
                connection.execute(sqlalchemy.text(f"DELETE FROM {settings.sqlserver.table}"))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _function_log_levels_restored() -> Iterator[None]:
    """A test that sets up a notebook's kernel in this process (`check_environment` quiets the functions' loggers
    and sets POWERTOOLS_LOG_LEVEL) leaves the levels as it found them for the tests after it."""
    import logging
    import os

    from workbench.course.bootstrap import FUNCTION_LOGGERS

    environ = os.environ.get("POWERTOOLS_LOG_LEVEL")
    levels = {name: logging.getLogger(name).level for name in FUNCTION_LOGGERS}
    yield
    if environ is None:
        os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
    else:
        os.environ["POWERTOOLS_LOG_LEVEL"] = environ
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
