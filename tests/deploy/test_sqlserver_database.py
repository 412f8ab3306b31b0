"""The custom resource that creates the RDS option's database: what it sends, and what CloudFormation hears."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlglot

from pipeline.handlers.sqlserver_database import CREATE, _master_credentials, create_database, handle, handler
from workbench.cloudformation.template import load_template

FUNCTION_TIMEOUT_S = 120  # the template's Timeout of the custom resource's function
RESOURCES = load_template()["Resources"]


def _event(request: str = "Create", name: str = "marketdata") -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResourceProperties": {"SecretArn": "arn:secret", "Host": "db.internal", "Port": "1433", "DatabaseName": name},
    }


def test_create_makes_the_database_once_from_the_master_secret() -> None:
    calls: list[tuple[dict[str, Any], str]] = []
    status, _reason, data = handle(
        _event(),
        credentials=lambda arn: {"username": "pipeline", "password": "p", "arn": arn},
        execute=lambda creds, name: calls.append((dict(creds), name)),
    )
    assert (status, data) == ("SUCCESS", {"Name": "marketdata"})
    [(creds, name)] = calls
    assert name == "marketdata" and (creds["arn"], creds["host"], creds["port"]) == (
        "arn:secret",
        "db.internal",
        "1433",
    )
    # The statement is T-SQL that creates the database only when it is missing, the name quoted by the server
    assert CREATE.startswith("IF DB_ID(") and "QUOTENAME" in CREATE
    sqlglot.parse_one(CREATE.replace("%(name)s", "'marketdata'"), read="tsql")


def test_a_failure_reaches_cloudformation_as_failed_in_one_line_and_delete_keeps_the_data() -> None:
    def refuse(creds: Any, name: str) -> None:
        raise OSError("Login failed for user 'pipeline'.\nDB-Lib error message 20018")

    status, reason, _ = handle(_event(), credentials=lambda arn: {}, execute=refuse)
    assert status == "FAILED" and reason == "could not create database marketdata: Login failed for user 'pipeline'."
    assert handle(_event("Delete"), credentials=lambda arn: {}, execute=refuse)[0] == "SUCCESS"
    assert handle(_event(name="master"), execute=refuse)[0] == "FAILED"


def _never(*_args: Any) -> Any:
    raise AssertionError("a Delete reads no secret and reaches no server")


@pytest.mark.parametrize(
    "properties",
    [
        {"SecretArn": "arn:secret", "Host": "db.internal", "Port": "1433", "DatabaseName": "marketdata"},
        {},  # a create that failed before CloudFormation resolved the properties
        {"DatabaseName": ""},
        {"DatabaseName": "master"},  # a create refused for its name still deletes
        {"DatabaseName": "x" * 200},
    ],
    ids=["created", "no-properties", "empty-name", "refused-name", "long-name"],
)
def test_delete_answers_success_first_without_reading_the_secret_or_the_server(properties: dict[str, Any]) -> None:
    event = {"RequestType": "Delete", "ResourceProperties": properties}
    assert handle(event, credentials=_never, execute=_never)[0] == "SUCCESS"


@pytest.mark.parametrize("request_type", ["Create", "Update"])
@pytest.mark.parametrize("name", ["", "master", "TempDB", "1abc", "a b", "x" * 129])
def test_create_and_update_still_refuse_a_name_that_is_not_a_new_database(request_type: str, name: str) -> None:
    status, reason, _ = handle(_event(request_type, name), credentials=_never, execute=_never)
    assert status == "FAILED" and "is not a new database's name" in reason


def test_the_sql_server_login_and_statement_have_timeouts_inside_the_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy

    seen: dict[str, Any] = {}

    def engine(url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise OSError("no server here")

    monkeypatch.setattr(sqlalchemy, "create_engine", engine)
    with pytest.raises(OSError):
        create_database({"username": "u", "password": "p", "host": "h", "port": 1433}, "marketdata")
    timeouts = seen["connect_args"]
    # pymssql's names: login_timeout (connect) and timeout (each query), seconds, well below the 120 s function
    assert set(timeouts) == {"login_timeout", "timeout"}
    assert 0 < timeouts["login_timeout"] < timeouts["timeout"] < FUNCTION_TIMEOUT_S
    assert int(RESOURCES["SqlServerDatabaseFunction"]["Properties"]["Timeout"]) == FUNCTION_TIMEOUT_S


def test_the_secrets_client_has_connect_and_read_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    seen: dict[str, Any] = {}

    def client(name: str, config: Any = None, **_: Any) -> Any:
        seen["config"] = config
        raise OSError("no endpoint here")

    monkeypatch.setattr(boto3, "client", client)
    with pytest.raises(OSError):
        _master_credentials("arn:secret")
    config = seen["config"]
    assert config is not None and 0 < config.connect_timeout <= 10 and 0 < config.read_timeout <= 30


def test_a_request_the_handler_cannot_read_still_answers_failed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    sent: list[dict[str, Any]] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: Any) -> None:
            return None

    def urlopen(request: Any, timeout: float) -> Answer:
        sent.append(json.loads(request.data))
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    event = {
        "RequestType": "Create",
        "ResourceProperties": None,  # nothing CloudFormation could resolve
        "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x",
        "StackId": "arn:stack",
        "RequestId": "r1",
        "LogicalResourceId": "SqlServerDatabase",
    }
    handler(event, None)
    [answer] = sent
    assert answer["Status"] == "FAILED" and "\n" not in answer["Reason"]


def test_the_custom_resource_gives_cloudformation_minutes_not_an_hour() -> None:
    timeout = int(RESOURCES["SqlServerDatabase"]["Properties"]["ServiceTimeout"])
    # The function's own timeout fits inside, and CloudFormation gives up after minutes (its default: 3600 s)
    assert FUNCTION_TIMEOUT_S < timeout <= 600
