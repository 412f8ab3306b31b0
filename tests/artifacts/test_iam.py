"""The IAM check's own rules (calls to actions and ARNs, roles' statements both ways), and parliament's lint of
every role's policies, with the template's options off and on."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from pipeline.cloudformation.template import Template
from pipeline.local.sandbox import iam

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipeline-{}-AbCdEf"
EVERY_OPTION = {
    "CmcApiKeySecretArn": SECRET.format("cmc"),
    "OxrAppIdSecretArn": SECRET.format("oxr"),
    "SnowflakeSecretArn": SECRET.format("snowflake"),
    "SqlServerUrlSecretArn": SECRET.format("sqlserver"),
}


def bound(**parameters: str) -> Template:
    template = Template.load(parameters={"BucketName": "market-data-local", **parameters})
    iam.bind_arns(template)
    return template


def role_policies(template: Template) -> dict[str, list[dict[str, object]]]:
    return {
        role: [p["PolicyDocument"] for p in template.properties(role).get("Policies", [])]
        for role, _ in template.resources("AWS::IAM::Role")
    }


@pytest.mark.parametrize(
    "parameters", [{}, EVERY_OPTION, {"CreateSqlServer": "true"}], ids=["defaults", "secrets", "rds"]
)
def test_parliament_finds_nothing_in_any_roles_policies(parameters: dict[str, str]) -> None:
    policies = role_policies(bound(**parameters))
    assert len(policies) >= 6
    findings = {
        role: [f"{f.issue}: {f.detail}" for doc in docs for f in analyze_policy_string(json.dumps(doc)).findings]
        for role, docs in policies.items()
    }
    assert findings == {role: [] for role in policies}


def test_parliament_would_report_an_action_on_the_wrong_kind_of_resource() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::market-data-local"}],
    }
    assert [f.issue for f in analyze_policy_string(json.dumps(document)).findings] == ["RESOURCE_MISMATCH"]


def test_calls_become_actions_on_arns() -> None:
    records = [
        {"service": "s3", "operation": "PutObject", "params": {"Bucket": "b", "Key": "raw/x/1.csv"}, "status": 200},
        {"service": "s3", "operation": "HeadObject", "params": {"Bucket": "b", "Key": "raw/x/2.csv"}, "status": 404},
        {"service": "s3", "operation": "ListObjectsV2", "params": {"Bucket": "b", "Prefix": "raw/"}, "status": 200},
        {"service": "sns", "operation": "Publish", "params": {"TopicArn": "arn:aws:sns:us-east-1:1:t.fifo"}},
        {"service": "sqs", "operation": "SendMessageBatch", "params": {"QueueUrl": "http://h:5/123/q.fifo"}},
    ]
    assert [(c.action, c.resource) for c in iam.calls_of(records)] == [
        ("s3:PutObject", "arn:aws:s3:::b/raw/x/1.csv"),
        ("s3:GetObject", "arn:aws:s3:::b/raw/x/2.csv"),
        ("s3:ListBucket", "arn:aws:s3:::b"),  # the 404 of a missing object needs it (403 without)
        ("s3:ListBucket", "arn:aws:s3:::b"),
        ("sns:Publish", "arn:aws:sns:us-east-1:1:t.fifo"),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123:q.fifo"),
    ]


STATEMENTS = [
    iam.Statement("Raw", "Allow", ("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::b/raw/x/*",)),
    iam.Statement("NoSecrets", "Deny", ("secretsmanager:*",), ("*",)),
]


def test_a_call_its_role_does_not_allow_is_missing_and_an_allowed_action_never_called_is_unused() -> None:
    needed = [
        iam.Call("s3:PutObject", "arn:aws:s3:::b/raw/x/1.csv", "call s3.PutObject"),
        iam.Call("s3:PutObject", "arn:aws:s3:::b/raw/y/1.csv", "call s3.PutObject"),
        iam.Call("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:s", "call"),
    ]
    findings = [(f.kind, f.action, f.resource) for f in iam.check_role("f", "Role", STATEMENTS, needed)]
    assert findings == [
        ("missing", "s3:PutObject", "arn:aws:s3:::b/raw/y/1.csv"),
        ("missing", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:s"),
        ("unused", "s3:GetObject", "arn:aws:s3:::b/raw/x/*"),
    ]


def test_actions_match_case_insensitively_and_resources_by_iam_wildcards_only() -> None:
    statement = iam.Statement("S", "Allow", ("S3:get*",), ("arn:aws:s3:::b/state/x?.json",))
    assert statement.matches("s3:GetObject", "arn:aws:s3:::b/state/x1.json")
    assert not statement.matches("s3:GetObject", "arn:aws:s3:::b/state/x12.json")
    assert not iam.Statement("S", "Allow", ("s3:GetObject",), ("arn:aws:s3:::b/[a]",)).matches(
        "s3:GetObject", "arn:aws:s3:::b/a"
    )


def test_lambdas_own_use_of_the_role_comes_from_the_template() -> None:
    template = bound()
    from pipeline.deploy.functions import get_function
    from pipeline.local.sandbox.run import function_config

    process = function_config(template, get_function("process-coinmarketcap"))
    needs = {(c.action, c.why) for c in iam.platform_needs(template, process)}
    assert ("sqs:ReceiveMessage", "Lambda: event source mapping") in needs
    assert ("logs:PutLogEvents", "Lambda: logs") in needs
    ingest = function_config(template, get_function("ingest-coinmarketcap"))
    assert any(c.action == "sqs:SendMessage" and "dead-letter" in c.why for c in iam.platform_needs(template, ingest))
