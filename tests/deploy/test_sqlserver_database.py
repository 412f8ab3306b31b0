"""The custom resource that creates the RDS option's database: what it sends, and what CloudFormation hears."""

from __future__ import annotations

from typing import Any

import sqlglot

from pipeline.deploy.sqlserver_database import CREATE, handle


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
