"""The IAM check's own rules (calls to actions and ARNs, roles' statements both ways), and parliament's lint of
every role's policies, with the template's options off and on; the state documents each source keeps, in each
mode a user can deploy, against its ingest role."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from parliament import analyze_policy_string

from pipeline import registry
from pipeline.settings import Settings
from pipeline.state import MemoryState, S3State, Versioned
from workbench.cloudformation.template import Template
from workbench.local.sandbox import iam

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
    from workbench.deploy.functions import get_function
    from workbench.local.sandbox.run import function_config

    process = function_config(template, get_function("process-coinmarketcap"))
    needs = {(c.action, c.why) for c in iam.platform_needs(template, process)}
    assert ("sqs:ReceiveMessage", "Lambda: event source mapping") in needs
    assert ("logs:PutLogEvents", "Lambda: logs") in needs
    ingest = function_config(template, get_function("ingest-coinmarketcap"))
    assert any(c.action == "sqs:SendMessage" and "dead-letter" in c.why for c in iam.platform_needs(template, ingest))


# -- the state documents the sources keep, in every mode a user can deploy -----------------------------------------
class RecordingState(MemoryState):
    """A state store that notes which documents a fetch read and wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.used: set[tuple[str, str]] = set()

    def read(self, name: str) -> Versioned:
        self.used.add(("s3:GetObject", name))
        return super().read(name)

    def get(self, name: str) -> dict[str, Any] | None:
        self.used.add(("s3:GetObject", name))
        return super().get(name)

    def put(self, name: str, value: dict[str, Any]) -> None:
        self.used.add(("s3:PutObject", name))
        super().put(name, value)

    def put_if(self, name: str, value: dict[str, Any], version: str | None) -> str:
        self.used.add(("s3:PutObject", name))
        return super().put_if(name, value, version)


AT = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # a Tuesday, the market open: every source fetches
# (source, the settings of the mode, the template's parameters of that mode)
MODES = {
    "yahoo_finance": ("yahoo_finance", {"universe_limit": 5}, {"UniverseLimit": "5"}),
    "coinmarketcap-page": ("coinmarketcap", {}, {}),
    "coinmarketcap-api": ("coinmarketcap", {"cmc_api_key": "k-1"}, {"CmcApiKeySecretArn": SECRET.format("cmc")}),
    "openexchangerates": ("openexchangerates", {"oxr_app_id": "a-1"}, {"OxrAppIdSecretArn": SECRET.format("oxr")}),
    "openexchangerates-rds": ("openexchangerates", {"oxr_app_id": "a-1"}, {"CreateSqlServer": "true"}),
}
INGEST_ROLES = {
    "yahoo_finance": "IngestYahooFinanceRole",
    "coinmarketcap": "IngestCoinMarketCapRole",
    "openexchangerates": "IngestOpenExchangeRatesRole",
}


def state_calls(mode: str) -> tuple[str, list[iam.Call]]:
    """(the source, the S3 permissions its fetch needed on its state documents in `mode`)."""
    source, settings, _ = MODES[mode]
    store = RecordingState()
    registry.get(source).source().fetch(Settings(mode="simulated", **settings), AT, store)
    keys = S3State(None, "market-data-local")
    return source, [
        iam.Call(action, f"arn:aws:s3:::market-data-local/{keys.key(name)}", f"{mode}: state {name}")
        for action, name in sorted(store.used)
    ]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_state_document_a_source_keeps_is_granted_to_its_ingest_role(mode: str) -> None:
    source, needed = state_calls(mode)
    template = bound(**MODES[mode][2])
    role = INGEST_ROLES[source]
    missing = [
        f for f in iam.check_role(source, role, iam.role_statements(template, role), needed) if f.kind == "missing"
    ]
    assert [str(f) for f in missing] == []


def test_every_state_document_an_ingest_role_is_granted_is_one_its_source_keeps_in_some_mode() -> None:
    used: dict[str, list[iam.Call]] = {}
    for mode in MODES:
        source, needed = state_calls(mode)
        used.setdefault(source, []).extend(needed)
    template = bound(**{k: v for _, _, parameters in MODES.values() for k, v in parameters.items()})
    unused = [
        str(f)
        for source, role in INGEST_ROLES.items()
        for f in iam.check_role(source, role, iam.role_statements(template, role), used[source])
        if f.kind == "unused" and "/state/" in f.resource
    ]
    assert unused == []
    assert {source for source, calls in used.items() if calls} == set(INGEST_ROLES)  # each keeps one


PROCESS_ROLES = {
    "yahoo_finance": "ProcessYahooFinanceRole",
    "coinmarketcap": "ProcessCoinMarketCapRole",
    "openexchangerates": "ProcessOpenExchangeRatesRole",
}


@pytest.mark.parametrize(("source", "role"), sorted(PROCESS_ROLES.items()))
@pytest.mark.parametrize("operation", ["GetObject", "HeadObject"])
def test_a_process_function_is_told_404_not_403_for_a_raw_object_that_is_gone(
    source: str, role: str, operation: str
) -> None:
    # S3 answers 403 for a missing object unless the caller may list the bucket: "gone" must not read as "denied".
    key = f"raw/{source}/2026/11/03/1500.csv"
    record = {"service": "s3", "operation": operation, "params": {"Bucket": "market-data-local", "Key": key}}
    needed = iam.calls_of([{**record, "status": 404}])
    assert ("s3:ListBucket", "arn:aws:s3:::market-data-local") in [(c.action, c.resource) for c in needed]
    for template in (bound(), bound(**EVERY_OPTION, CreateSqlServer="true")):
        findings = iam.check_role(source, role, iam.role_statements(template, role), needed)
        assert [str(f) for f in findings if f.kind == "missing"] == []
