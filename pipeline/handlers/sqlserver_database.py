"""The CloudFormation custom resource that creates the pipeline's own database on the RDS SQL Server instance.

RDS for SQL Server creates no database of its own (`DBName` must stay empty for SQL Server), so with
`CreateSqlServer=true` the stack runs this handler once, in the instance's VPC, with the master user's secret:
it creates the database when it is missing (`IF DB_ID(...) IS NULL CREATE DATABASE ...`), and the URL secret the
openexchangerates process function reads names that database, never `master`. Deleting the resource keeps the
database (the instance itself is snapshotted when the stack is deleted).

CloudFormation waits for the answer at most the resource's `ServiceTimeout` (300 s in the template), so nothing
here waits long: a Delete is answered SUCCESS before anything is read or checked (a resource whose create failed,
or never ran, is deleted at once), and the clients have timeouts well inside the function's 120 s: Secrets
Manager's connect and read timeouts, pymssql's login (`LOGIN_TIMEOUT_S`) and statement (`QUERY_TIMEOUT_S`).

The answer to CloudFormation is a PUT of a JSON document to the pre-signed S3 URL of the request (reached through
the VPC's S3 gateway endpoint).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final

from pipeline.errors import one_line

NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
CREATE: Final = "IF DB_ID(%(name)s) IS NULL EXEC('CREATE DATABASE ' + QUOTENAME(%(name)s))"

LOGIN_TIMEOUT_S: Final = 15
QUERY_TIMEOUT_S: Final = 60
SECRETS_CONNECT_TIMEOUT_S: Final = 5
SECRETS_READ_TIMEOUT_S: Final = 10

Execute = Callable[[Mapping[str, Any], str], None]  # (master credentials, database name) -> None


def _master_credentials(secret_arn: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=SECRETS_CONNECT_TIMEOUT_S,
        read_timeout=SECRETS_READ_TIMEOUT_S,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    client = boto3.client("secretsmanager", config=config)
    secret = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    credentials: dict[str, Any] = json.loads(secret)
    return credentials


def create_database(credentials: Mapping[str, Any], name: str) -> None:
    """Create database `name` on the server of `credentials` (host, port, username, password) if it is missing."""
    import sqlalchemy

    url = sqlalchemy.URL.create(
        "mssql+pymssql",
        username=str(credentials["username"]),
        password=str(credentials["password"]),
        host=str(credentials["host"]),
        port=int(credentials["port"]),
        database="master",
    )
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", connect_args=connect_args())
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(CREATE, {"name": name})
    finally:
        engine.dispose()


def connect_args() -> dict[str, int]:
    """pymssql's timeouts: the login, and each statement."""
    return {"login_timeout": LOGIN_TIMEOUT_S, "timeout": QUERY_TIMEOUT_S}


def respond(event: Mapping[str, Any], status: str, reason: str, data: Mapping[str, str]) -> None:
    """PUT the custom resource's answer to CloudFormation's pre-signed URL."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": data.get("Name") or event.get("PhysicalResourceId") or "sqlserver-database",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": dict(data),
        }
    ).encode()
    url = str(event["ResponseURL"])
    if not url.startswith("https://"):
        raise ValueError(f"refusing to answer CloudFormation at a non-https URL: {url[:40]}")
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - https only, checked above
        pass


def handle(
    event: Mapping[str, Any],
    *,
    credentials: Callable[[str], Mapping[str, Any]] = _master_credentials,
    execute: Execute = create_database,
) -> tuple[str, str, dict[str, str]]:
    """(status, reason, data) of one request: Create and Update make the database, Delete keeps it (and is
    answered first, whatever the properties: a resource that failed to create must still delete)."""
    props: Mapping[str, Any] = event.get("ResourceProperties") or {}
    name = str(props.get("DatabaseName", ""))
    if event.get("RequestType") == "Delete":
        return "SUCCESS", f"database {name or '(none)'} kept", {}
    if not NAME.match(name) or name.lower() in ("master", "model", "msdb", "tempdb", "rdsadmin"):
        return "FAILED", f"database name {name!r} is not a new database's name (letters, digits, _)", {}
    try:
        master = dict(credentials(str(props["SecretArn"])))
        master.setdefault("host", props.get("Host"))
        master.setdefault("port", props.get("Port"))
        execute(master, name)
    except Exception as exc:  # the stack must hear of every failure, or it waits an hour
        return "FAILED", f"could not create database {name}: {one_line(exc)}", {}
    return "SUCCESS", f"database {name} exists", {"Name": name}


def handler(event: dict[str, Any], context: Any) -> None:
    """The Lambda entry point of the custom resource."""
    try:
        status, reason, data = handle(event)
    except Exception as exc:  # whatever happened, CloudFormation hears of it now rather than at the timeout
        status, reason, data = "FAILED", f"custom resource: {one_line(exc)}", {}
    respond(event, status, reason, data)
