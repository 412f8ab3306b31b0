"""What the CloudFormation template promises, read from the template itself (no AWS needed)."""

from __future__ import annotations

import importlib
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.constants import Env
from pipeline.registry import source_ids
from workbench.cloudformation.template import NO_VALUE, TEMPLATE_PATH, Template, load_template

SOURCES = source_ids()

BODY = load_template()
RESOURCES: dict[str, dict[str, Any]] = BODY["Resources"]
ENV_NAMES = {value for name, value in vars(Env).items() if not name.startswith("_") and isinstance(value, str)}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in RESOURCES.items() if r["Type"] == kind}


def pipeline_functions() -> dict[str, dict[str, Any]]:
    """The nine functions of the flow: ingest, process and redrive per source (not the custom resource that creates
    the RDS option's database, nor the compaction of the processed area: tests/infra/test_compaction.py)."""
    return {
        lid: f
        for lid, f in of_type("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].split(".")[:3]
        in (
            ["pipeline", "handlers", "ingest"],
            ["pipeline", "handlers", "process"],
            ["pipeline", "handlers", "redrive"],
        )
    }


def refs(value: Any) -> set[str]:
    """Every logical id or parameter a value refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found.update(part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
            found |= refs(arg)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def test_cfn_lint_finds_no_error_and_no_warning() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE_PATH)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_queues_hide_a_message_six_times_the_process_timeout_and_allow_five_receives() -> None:
    params = BODY["Parameters"]
    visibility = params["QueueVisibilityTimeoutSeconds"]
    assert int(visibility["Default"]) == 6 * int(params["ProcessTimeoutSeconds"]["Default"])
    assert int(visibility["MaxValue"]) >= 6 * int(params["ProcessTimeoutSeconds"]["MaxValue"])
    assert int(params["MaxReceiveCount"]["Default"]) >= 5 and int(params["MaxReceiveCount"]["MinValue"]) >= 5
    source_queues = {lid: q for lid, q in of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]}
    assert len(source_queues) == len(SOURCES)
    for logical_id, queue in source_queues.items():
        assert queue["Properties"]["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeoutSeconds"}, logical_id
        assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, logical_id


def test_three_functions_per_source_with_existing_handlers_and_their_layers() -> None:
    functions = pipeline_functions()
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    kinds = ("ingest", "process", "redrive")
    assert handlers == sorted(f"pipeline.handlers.{kind}.{s}" for kind in kinds for s in SOURCES)
    layers_used = {}
    for logical_id, function in functions.items():
        props = function["Properties"]
        module, name = props["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), logical_id
        assert props["Runtime"] == {"Ref": "PythonRuntime"}
        assert RESOURCES[layer_id := props["Layers"][0]["Ref"]]["Properties"]["CompatibleRuntimes"] == [
            {"Ref": "PythonRuntime"}
        ], layer_id
        assert props["Code"] == {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "CodeKey"}}
        [layer] = props["Layers"]
        layers_used[logical_id] = layer["Ref"]
        layer_key = RESOURCES[layer["Ref"]]["Properties"]["Content"]["S3Key"]["Ref"]
        assert layer_key in BODY["Parameters"], logical_id
    own = {lid: layer for lid, layer in layers_used.items() if not lid.startswith("Redrive")}
    assert len(set(own.values())) == len(own)  # one layer per ingest and process function
    for logical_id, layer in layers_used.items():  # a redrive function probes its sink: its process's layer
        if logical_id.startswith("Redrive"):
            assert layer == layers_used["Process" + logical_id.removeprefix("Redrive")], logical_id


def test_the_runtime_is_python313_with_python312_selectable_and_python311_gone() -> None:
    runtime = BODY["Parameters"]["PythonRuntime"]
    assert (runtime["Default"], runtime["AllowedValues"]) == ("python3.13", ["python3.13", "python3.12"])
    assert "python3.11" not in TEMPLATE_PATH.read_text()


def test_every_environment_variable_is_a_name_from_pipeline_constants() -> None:
    for logical_id, function in pipeline_functions().items():
        names = set(function["Properties"]["Environment"]["Variables"])
        unknown = {n for n in names if n not in ENV_NAMES and not n.startswith("POWERTOOLS_")}
        assert not unknown, f"{logical_id} sets {unknown}, which pipeline/constants.py Env does not name"


def test_each_process_function_reads_its_own_queue_reporting_partial_batch_failures() -> None:
    mappings = of_type("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(SOURCES)
    for logical_id, mapping in mappings.items():
        props = mapping["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], logical_id
        assert props["BatchSize"] == {"Ref": "BatchSize"}
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        function = props["FunctionName"]["Ref"]
        assert queue.removesuffix("Queue") == function.removeprefix("Process").removesuffix("Function")
    assert BODY["Parameters"]["BatchSize"]["Default"] == 10


def _rule_targets() -> dict[str, str]:
    """Rule logical id -> the handler of the function it invokes."""
    found = {}
    for logical_id, rule in of_type("AWS::Events::Rule").items():
        [target] = rule["Properties"]["Targets"]
        found[logical_id] = RESOURCES[target["Arn"]["Fn::GetAtt"][0]]["Properties"]["Handler"]
    return found


def test_each_source_has_a_schedule_rule_whose_expression_is_a_parameter() -> None:
    rules = of_type("AWS::Events::Rule")
    ingest = {lid for lid, handler in _rule_targets().items() if handler.startswith("pipeline.handlers.ingest.")}
    assert len(ingest) == len(SOURCES)
    for logical_id in ingest:
        parameter = rules[logical_id]["Properties"]["ScheduleExpression"]["Ref"]
        assert BODY["Parameters"][parameter]["Default"] == "rate(1 minute)", logical_id


def test_each_source_has_a_redrive_rule_on_one_schedule_parameter_that_can_turn_it_off() -> None:
    rules = of_type("AWS::Events::Rule")
    redrive = {lid: h for lid, h in _rule_targets().items() if h.startswith("pipeline.handlers.redrive.")}
    assert sorted(h.rsplit(".", 1)[1] for h in redrive.values()) == sorted(SOURCES)
    others = {lid for lid, h in _rule_targets().items() if ".ingest." in h or ".compact." in h}
    assert set(_rule_targets()) == {*redrive, *others}
    assert BODY["Parameters"]["RedriveSchedule"]["Default"] == "rate(5 minutes)"
    for logical_id in redrive:
        props = rules[logical_id]["Properties"]
        assert props["ScheduleExpression"] == {"Ref": "RedriveSchedule"}, logical_id
        assert Template(BODY).resolve(props["State"]) == "ENABLED"
        assert Template(BODY, {"RedriveEnabled": "false"}).resolve(props["State"]) == "DISABLED"
        assert Template(BODY, {"SchedulesEnabled": "false"}).resolve(props["State"]) == "DISABLED"
    timeout = BODY["Parameters"]["RedriveTimeoutSeconds"]
    assert int(timeout["MaxValue"]) < 5 * 60  # a run ends before the next one starts


@pytest.mark.parametrize("source", SOURCES)
def test_a_redrive_function_moves_only_its_own_dead_letter_queue_back_to_its_own_queue(source: str) -> None:
    """Least privilege for what `pipeline.redrive.auto_redrive` calls: the dead-letter queue's attributes, receive,
    delete and visibility; SendMessage to the source queue only; no move task, no other queue, no publish."""
    [(function_id, function)] = [
        (lid, f)
        for lid, f in pipeline_functions().items()
        if f["Properties"]["Handler"] == f"pipeline.handlers.redrive.{source}"
    ]
    props = function["Properties"]
    name = function_id.removeprefix("Redrive").removesuffix("Function")
    env = props["Environment"]["Variables"]
    assert env[Env.REDRIVE_QUEUE_URL] == {"Ref": f"{name}Queue"}
    assert env[Env.REDRIVE_DEAD_LETTER_QUEUE_URL] == {"Ref": f"{name}DeadLetterQueue"}
    assert RESOURCES[f"{name}Queue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [f"{name}DeadLetterQueue", "Arn"]
    }
    process_env = RESOURCES[f"Process{name}Function"]["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in env.items() if "REDRIVE" not in k and "POWERTOOLS" not in k} == {
        k: v for k, v in process_env.items() if "POWERTOOLS" not in k
    }  # the sink is configured as the process function's is
    assert props.get("VpcConfig") == RESOURCES[f"Process{name}Function"]["Properties"].get("VpcConfig")
    sqs = {}
    for statement in _statements(RESOURCES[props["Role"]["Fn::GetAtt"][0]]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            if action.startswith("sqs:"):
                sqs[action] = statement["Resource"]["Fn::GetAtt"][0]
    dead = f"{name}DeadLetterQueue"
    assert sqs == {
        "sqs:GetQueueAttributes": dead, "sqs:ReceiveMessage": dead, "sqs:DeleteMessage": dead,
        "sqs:ChangeMessageVisibility": dead, "sqs:SendMessage": f"{name}Queue",
    }  # fmt: skip


def test_a_redrive_function_logs_to_its_own_group_with_the_retention() -> None:
    for logical_id, function in pipeline_functions().items():
        if not logical_id.startswith("Redrive"):
            continue
        group = RESOURCES[function["DependsOn"]]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-redrive-{function['Properties']['Handler'].rsplit('.', 1)[1]}"
        }


def _dead_letter_alarms() -> dict[str, dict[str, Any]]:
    """{dead-letter queue: the properties of the alarm that watches it}."""
    found = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        for query in props.get("Metrics", [props]):
            metric = query.get("MetricStat", {}).get("Metric", query)
            if metric.get("MetricName") == "ApproximateNumberOfMessagesVisible":
                found[metric["Dimensions"][0]["Value"]["Fn::GetAtt"][0]] = props
    return found


def test_every_dead_letter_queue_has_an_alarm_that_notifies_the_alert_topic() -> None:
    dead_letter_queues = {
        lid for lid, q in of_type("AWS::SQS::Queue").items() if "DeadLetter" in lid
    }  # the three FIFO ones, the ingest one and the event delivery one
    assert len(dead_letter_queues) == len(SOURCES) + 2
    assert set(_dead_letter_alarms()) == dead_letter_queues


def _evaluate(expression: str, visible: list[float]) -> list[float]:
    """The dead-letter alarms' expression over a series of one-minute maxima: the math functions it uses, as
    CloudWatch defines them (FILL(m, 0): a missing point is 0; DIFF: each point minus the one before)."""
    assert expression == "DIFF(FILL(visible, 0))", "teach this test the new expression"
    filled = [0.0 if v is None else v for v in visible]
    return [b - a for a, b in itertools.pairwise(filled)]


@pytest.mark.parametrize(
    ("visible", "alarms"),
    [
        # (messages visible minute by minute, the minutes that notify)
        ([0, 1, 1, 1, 2, 2], [1, 4]),  # the second dead letter of the week notifies again
        ([0, 3, 3, 0, 0, 1], [1, 5]),  # redriven away, then a new one
        ([0, 0, 0, 0], []),
        ([5, 5, 5, 4, 3], []),  # a backlog draining is not news
        ([None, None, 1, 1], [2]),  # an idle queue publishes no metric: its first message still counts
    ],
)
def test_a_dead_letter_alarm_notifies_on_each_new_dead_letter_and_is_ok_again_after(
    visible: list[float], alarms: list[int]
) -> None:
    for queue, props in _dead_letter_alarms().items():
        [result] = [q for q in props["Metrics"] if q.get("ReturnData")]
        values = _evaluate(result["Expression"], visible)
        assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == (
            "GreaterThanThreshold", 0, 1,
        ), queue  # fmt: skip
        # CloudWatch acts on a change of state: ALARM, then OK the minute after, then ALARM again
        assert [i + 1 for i, v in enumerate(values) if v > 0] == alarms, queue
        assert props["OKActions"] == props["AlarmActions"] == [{"Ref": "AlertTopic"}], queue


def test_every_alarm_notifies_the_alert_topic_when_it_fires_and_when_it_is_ok_again() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 37
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlertTopic"}], logical_id
        assert props["OKActions"] == [{"Ref": "AlertTopic"}], logical_id


@pytest.mark.parametrize(("schedules", "freshness_alarms"), [("true", 3), ("false", 0)])
def test_freshness_alarms_exist_only_while_the_schedules_run(schedules: str, freshness_alarms: int) -> None:
    template = Template(BODY, {"SchedulesEnabled": schedules})
    present = [
        lid
        for lid, alarm in of_type("AWS::CloudWatch::Alarm").items()
        if lid.endswith("FreshnessAlarm") and ("Condition" not in alarm or template.condition(alarm["Condition"]))
    ]
    assert len(present) == freshness_alarms
    others = [a for lid, a in of_type("AWS::CloudWatch::Alarm").items() if not lid.endswith("FreshnessAlarm")]
    assert all("Condition" not in a for a in others)  # dead letters and errors still alarm with schedules off


def _alarm_metrics(props: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric name, the function it watches) of an alarm, whether a plain or a metric math alarm."""
    if "MetricName" in props:
        stats = [{"MetricName": props["MetricName"], "Dimensions": props.get("Dimensions", [])}]
    else:
        stats = [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q]
    return [
        (stat["MetricName"], d["Value"]["Ref"])
        for stat in stats
        for d in stat["Dimensions"]
        if d["Name"] == "FunctionName" and isinstance(d["Value"], dict) and "Ref" in d["Value"]
    ]


@pytest.mark.parametrize("function_id", sorted(pipeline_functions()))
def test_each_function_has_alarms_on_errors_throttles_and_a_duration_near_its_timeout(function_id: str) -> None:
    timeout = RESOURCES[function_id]["Properties"]["Timeout"]["Ref"]
    found: dict[str, dict[str, Any]] = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        for metric, function in _alarm_metrics(alarm["Properties"]):
            if function == function_id:
                found[metric] = alarm["Properties"]
    assert set(found) == {"Errors", "Throttles", "Duration"}, function_id
    for metric in ("Errors", "Throttles"):
        assert (found[metric]["Statistic"], found[metric]["Threshold"]) == ("Sum", 0)
    duration = found["Duration"]
    [share] = [q for q in duration["Metrics"] if q.get("ReturnData")]
    # Duration is in ms: duration / (timeout * 10) is the share of the timeout in %
    assert share["Expression"] == {"Fn::Sub": f"duration / (${{{timeout}}} * 10)"}
    assert (duration["Threshold"], duration["ComparisonOperator"]) == (80, "GreaterThanThreshold")


def test_a_failed_ingest_minute_is_not_invoked_again_and_yahoo_runs_one_at_a_time() -> None:
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    ingest = {lid for lid, f in of_type("AWS::Lambda::Function").items() if ".ingest." in f["Properties"]["Handler"]}
    redrive = {
        lid
        for lid, f in of_type("AWS::Lambda::Function").items()
        if ".redrive." in f["Properties"]["Handler"] or ".compact." in f["Properties"]["Handler"]
    }
    assert set(configs) == ingest | redrive
    for function_id, props in configs.items():
        age = 60 if function_id in ingest else 300  # a redrive run is not retried either: the next one comes
        assert (props["MaximumRetryAttempts"], props["MaximumEventAgeInSeconds"], props["Qualifier"]) == (
            0,
            age,
            "$LATEST",
        )
    # A new account (concurrency limit 10) cannot reserve any: nothing is reserved unless asked, and the
    # state document's lease keeps the Yahoo runs one at a time (pipeline.sources.yahoo_finance.budget)
    yahoo = RESOURCES["IngestYahooFinanceFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert Template(BODY).resolve(yahoo) is NO_VALUE
    assert Template(BODY, {"YahooIngestReservedConcurrency": "0"}).resolve(yahoo) is NO_VALUE
    assert Template(BODY, {"YahooIngestReservedConcurrency": "1"}).resolve(yahoo) == 1
    reserved = [
        lid for lid, f in of_type("AWS::Lambda::Function").items() if "ReservedConcurrentExecutions" in f["Properties"]
    ]
    assert reserved == ["IngestYahooFinanceFunction"]


def test_undeliverable_events_go_to_a_fifo_dead_letter_queue_the_topic_may_send_to() -> None:
    subscriptions = {
        lid: s for lid, s in of_type("AWS::SNS::Subscription").items() if s["Properties"]["Protocol"] == "sqs"
    }
    assert len(subscriptions) == len(SOURCES)
    targets = {s["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for s in subscriptions.values()}
    [queue_id] = targets
    assert RESOURCES[queue_id]["Properties"]["FifoQueue"] is True  # a FIFO topic's subscription needs a FIFO DLQ
    [policy] = [
        p for p in of_type("AWS::SQS::QueuePolicy").values() if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "EventTopic"}}}


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_has_a_freshness_alarm_on_the_raw_objects_its_ingest_logs(source: str) -> None:
    from pipeline.registry import get

    # GIVEN the metric filter on the ingest's log group that counts "ingested" lines naming a raw key
    filters = [
        f["Properties"]
        for f in of_type("AWS::Logs::MetricFilter").values()
        if RESOURCES[f["Properties"]["LogGroupName"]["Ref"]]["Properties"]["LogGroupName"]["Fn::Sub"].endswith(
            f"-ingest-{source}"
        )
    ]
    [metric_filter] = filters
    assert (
        '$.message = "ingested"' in metric_filter["FilterPattern"]
        and '$.key = "raw/*"' in metric_filter["FilterPattern"]
    )
    [transformation] = metric_filter["MetricTransformations"]
    assert transformation["MetricName"] == "RawObjectsWritten"
    assert transformation["Dimensions"] == [{"Key": "source", "Value": "$.source"}]

    # THEN one alarm watches that metric for this source
    def watches(props: dict[str, Any]) -> bool:
        stats = (
            [props]
            if "MetricName" in props
            else [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        )
        return any(
            s["MetricName"] == "RawObjectsWritten" and s["Dimensions"] == [{"Name": "source", "Value": source}]
            for s in stats
        )

    [alarm] = [a["Properties"] for a in of_type("AWS::CloudWatch::Alarm").values() if watches(a["Properties"])]
    if get(source).market == "XNYS":  # counted only while the market is open (Mon-Fri, inside the session in UTC)
        [expression] = [q["Expression"] for q in alarm["Metrics"] if q.get("ReturnData")]
        assert "DAY(filled) <= 5" in expression and "HOUR(filled) >= 15" in expression
        assert alarm["TreatMissingData"] == "notBreaching"
    else:  # 24/7: no raw object at all is an alarm
        assert alarm["TreatMissingData"] == "breaching"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)


def test_the_oxr_refresh_period_the_template_passes_is_the_settings_default() -> None:
    from pipeline.settings import Settings

    assert (
        int(BODY["Parameters"]["OxrRefreshSeconds"]["Default"]) == Settings.model_fields["oxr_refresh_seconds"].default
    )
    env = RESOURCES["IngestOpenExchangeRatesFunction"]["Properties"]["Environment"]["Variables"]
    assert env[Env.OXR_REFRESH_SECONDS] == {"Ref": "OxrRefreshSeconds"}


def test_the_bucket_is_kept_on_delete_but_not_after_a_failed_first_create() -> None:
    [bucket] = of_type("AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"


def test_the_function_security_group_has_only_its_explicit_egress() -> None:
    # Separate SecurityGroupEgress resources would sit next to the default allow-all rule; inline ones replace it
    assert not of_type("AWS::EC2::SecurityGroupEgress")
    for logical_id, group in of_type("AWS::EC2::SecurityGroup").items():
        rules = group["Properties"]["SecurityGroupEgress"]
        assert rules and all(rule.get("IpProtocol") != "-1" for rule in rules), logical_id


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:  # a statement that exists only when a secret is given
                statement = statement["Fn::If"][1]
            found.append(statement)
    return found


@pytest.mark.parametrize("role_id", sorted(of_type("AWS::IAM::Role")))
def test_each_role_grants_named_actions_on_named_resources_only(role_id: str) -> None:
    for statement in _statements(RESOURCES[role_id]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), f"{role_id}: {actions}"
        assert statement["Resource"] != "*", f"{role_id}: {statement.get('Sid')}"
        assert "*" not in json.dumps(statement["Resource"]).replace("/*", ""), f"{role_id}: {statement.get('Sid')}"


def test_roles_touch_only_their_own_source() -> None:
    names = {
        "YahooFinance": "yahoo_finance", "CoinMarketCap": "coinmarketcap", "OpenExchangeRates": "openexchangerates",
    }  # fmt: skip
    flow_roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in pipeline_functions().values()}
    database_role = json.dumps(_statements(RESOURCES["SqlServerDatabaseRole"]))
    assert (
        not any(name in database_role for name in names) and "s3:" not in database_role and "sqs:" not in database_role
    )
    for role_id, role in of_type("AWS::IAM::Role").items():
        if role_id not in flow_roles:
            continue
        kind = next(k for k in ("Ingest", "Process", "Redrive") if role_id.startswith(k))
        own = role_id.removeprefix(kind).removesuffix("Role")
        text = json.dumps(_statements(role))
        for other_name, other_source in names.items():
            if other_name != own:
                assert other_name not in text and f"/{other_source}/" not in text, f"{role_id} touches {other_source}"
        if kind == "Process":
            assert "sns:Publish" not in text, role_id
            writes = [json.dumps(st["Resource"]) for st in _statements(role) if st["Action"] == "s3:PutObject"]
            own_quarantine = f"/quarantine/{names[own]}/*"
            if own != "CoinMarketCap":  # only the Parquet sink writes objects, besides quarantine records
                assert all(own_quarantine in w for w in writes), role_id
            assert any(own_quarantine in w for w in writes), f"{role_id} cannot quarantine"
        elif kind == "Ingest":
            assert "sqs:ReceiveMessage" not in text, role_id
        else:  # a redrive function writes no object and publishes nothing
            assert "s3:PutObject" not in text and "sns:Publish" not in text, role_id


def test_secrets_are_read_only_by_the_functions_that_need_them() -> None:
    readers: dict[str, set[str]] = {}
    for role_id, role in of_type("AWS::IAM::Role").items():
        for statement in _statements(role):
            if statement["Action"] == "secretsmanager:GetSecretValue":
                readers.setdefault(role_id, set()).update(refs(statement["Resource"]))
    assert readers == {
        "IngestCoinMarketCapRole": {"CmcApiKeySecretArn"},
        "IngestOpenExchangeRatesRole": {"OxrAppIdSecretArn"},
        "ProcessYahooFinanceRole": {"SnowflakeSecretArn"},
        "ProcessOpenExchangeRatesRole": {"SqlServerUrlSecretArn", "SqlServerUrlSecret"},  # given, or created
        "RedriveYahooFinanceRole": {"SnowflakeSecretArn"},  # the sink's health probe signs in as the process does
        "RedriveOpenExchangeRatesRole": {"SqlServerUrlSecretArn", "SqlServerUrlSecret"},
        "SqlServerDatabaseRole": {"SqlServerMasterSecret"},  # creates the RDS option's database, once
    }


def test_the_rds_option_creates_its_own_database_and_the_url_names_it() -> None:
    template = Template(BODY, {"CreateSqlServer": "true"})
    created = {lid for lid, _ in template.resources()}
    assert {"SqlServerDatabase", "SqlServerDatabaseFunction"} <= created
    database = RESOURCES["SqlServerDatabase"]["Properties"]
    assert database["DatabaseName"] == {"Ref": "SqlServerDatabaseName"}
    assert BODY["Parameters"]["SqlServerDatabaseName"]["Default"] not in ("master", "")
    handler = RESOURCES["SqlServerDatabaseFunction"]["Properties"]["Handler"]
    module, name = handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    url = json.dumps(RESOURCES["SqlServerUrlSecret"]["Properties"]["SecretString"])
    assert "${SqlServerDatabase.Name}" in url and "/master" not in url


def test_the_default_parameters_deploy_no_database_and_no_vpc() -> None:
    template = Template(BODY)
    created = {lid for lid, _ in template.resources()}
    assert not created & (set(of_type("AWS::RDS::DBInstance")) | set(of_type("AWS::EC2::VPC")))
    with_database = Template(BODY, {"CreateSqlServer": "true"})
    assert set(of_type("AWS::RDS::DBInstance")) <= {lid for lid, _ in with_database.resources()}


def test_outputs_name_everything_a_notebook_needs() -> None:
    outputs = set(BODY["Outputs"])
    expected = {"BucketName", "EventTopicArn", "AlertTopicArn", "IngestDeadLetterQueueUrl"}
    for name in ("YahooFinance", "CoinMarketCap", "OpenExchangeRates"):
        expected |= {
            f"{name}QueueUrl", f"{name}QueueArn", f"{name}DeadLetterQueueUrl", f"Ingest{name}FunctionName",
            f"Process{name}FunctionName", f"{name}ScheduleRuleName",
        }  # fmt: skip
    assert expected <= outputs


@pytest.mark.parametrize("role_id", sorted(lid for lid in of_type("AWS::IAM::Role") if lid.startswith("Ingest")))
def test_an_ingest_role_reads_and_writes_only_its_own_source_objects_and_state(role_id: str) -> None:
    # The quota document of Open Exchange Rates (state/openexchangerates.json) is no other ingest's business.
    source = next(s for s in SOURCES if s.replace("_", "") in role_id.lower())
    objects = [
        resource["Fn::Sub"]
        for statement in _statements(RESOURCES[role_id])
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        if isinstance(resource, dict) and "Fn::Sub" in resource and "DataBucket.Arn}/" in resource["Fn::Sub"]
    ]
    # The names of the state documents each source keeps (tests/artifacts/test_iam.py finds them by running each
    # source's fetch in every mode and checks them against the role)
    state = {"coinmarketcap": "coinmarketcap_api"}.get(source, source)
    assert sorted(objects) == [f"${{DataBucket.Arn}}/raw/{source}/*", f"${{DataBucket.Arn}}/state/{state}.json"]


def test_the_yahoo_ingest_alarms_watch_metrics_the_ingest_emits_in_the_stacks_namespace() -> None:
    """An alarm on a metric name, namespace or dimension nobody writes would never fire: each Yahoo alarm watches
    a figure `yahoo_metrics` emits, in the namespace the template gives the Yahoo ingest function."""
    from pipeline.sources.yahoo_finance import metrics as yahoo_metrics

    [function] = [
        f["Properties"]
        for f in pipeline_functions().values()
        if f["Properties"]["Handler"] == "pipeline.handlers.ingest.yahoo_finance"
    ]
    namespace = function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName", "").startswith("Yahoo")
    }
    assert set(alarms) == {"YahooCoolingDown", "YahooErrorRowShare"}
    emitted = yahoo_metrics.figures(_yahoo_payload(), rows=None)
    for name, alarm in alarms.items():
        assert name in emitted
        assert alarm["Namespace"] == namespace == {"Fn::Sub": "MarketDataPipeline/${AWS::StackName}"}
        assert alarm["Dimensions"] == [{"Name": "service", "Value": yahoo_metrics.SERVICE}]
        assert alarm["TreatMissingData"] == "notBreaching"  # no datapoint outside the session


def _yahoo_payload() -> Any:
    from datetime import UTC, datetime

    import pandas as pd

    from pipeline.sources.yahoo_finance import YahooPayload

    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    return YahooPayload(start=at, end=at, symbols=(), bars=pd.DataFrame(), stats={"requests": 0})


S3_MINIMUM_TRANSITION_BYTES = 128 * 1024  # S3 moves no smaller object to another class (its default since 2024)


def _lifecycle_rules(parameters: dict[str, str] | None = None) -> list[dict[str, Any]]:
    config = RESOURCES["DataBucket"]["Properties"]["LifecycleConfiguration"]
    template = Template(BODY, parameters or {})
    return [template.resolve(rule) for rule in config["Rules"]]


def _applies(rule: dict[str, Any], key: str, size: int) -> bool:
    """Whether a lifecycle rule (Prefix and ObjectSizeGreaterThan/LessThan, as CloudFormation spells them) selects
    an object."""
    if rule.get("Status") != "Enabled" or not key.startswith(rule.get("Prefix", "")):
        return False
    return int(rule.get("ObjectSizeGreaterThan", -1)) < size < int(rule.get("ObjectSizeLessThan", 2**63))


def _effect(key: str, size: int, days: int) -> dict[str, Any]:
    """What the bucket's rules do to an object of `size` bytes under `key`, `days` after it was written."""
    rules = [r for r in _lifecycle_rules() if _applies(r, key, size)]
    config = RESOURCES["DataBucket"]["Properties"]["LifecycleConfiguration"]
    minimum = {"all_storage_classes_128K": S3_MINIMUM_TRANSITION_BYTES, "varies_by_storage_class": 0}[
        config.get("TransitionDefaultMinimumObjectSize", "all_storage_classes_128K")
    ]
    classes = [
        t["StorageClass"]
        for r in rules
        for t in r.get("Transitions", [])
        if int(t["TransitionInDays"]) <= days and size >= minimum
    ]
    expired = any(int(r["ExpirationInDays"]) <= days for r in rules if "ExpirationInDays" in r)
    noncurrent = [
        int(r["NoncurrentVersionExpiration"]["NoncurrentDays"]) for r in rules if "NoncurrentVersionExpiration" in r
    ]
    return {
        "class": classes[-1] if classes else "STANDARD",
        "expired": expired,
        "noncurrent_days": min(noncurrent, default=None),
    }


@pytest.mark.parametrize(
    ("key", "size", "days", "storage_class", "expired"),
    [
        ("raw/yahoo_finance/2026/11/03/1500.csv", 60_000, 31, "STANDARD", False),  # a minute's CSV is small
        ("raw/yahoo_finance/2026/11/03/1500.csv", 200_000, 31, "STANDARD_IA", False),
        ("raw/yahoo_finance/2026/11/03/1500.csv", 200_000, 29, "STANDARD", False),
        ("raw/coinmarketcap/2026/11/03/1500.csv", 3_000, 365, "STANDARD", True),  # small ones expire too
        ("raw/openexchangerates/2026/11/03/1500.csv", 300_000, 366, "STANDARD_IA", True),
        ("state/yahoo_finance.json", 5_000, 400, "STANDARD", False),
        ("processed/coinmarketcap/2026/11/03/1500.parquet", 10_000, 400, "STANDARD", False),
    ],
)
def test_the_lifecycle_moves_and_expires_what_the_docs_say(
    key: str, size: int, days: int, storage_class: str, expired: bool
) -> None:
    effect = _effect(key, size, days)
    assert (effect["class"], effect["expired"]) == (storage_class, expired)


@pytest.mark.parametrize(
    "key", ["state/yahoo_finance.json", "state/coinmarketcap_api.json", "raw/x/2026/01/01/0000.csv", "quarantine/x/a"]
)
def test_every_prefix_keeps_a_replaced_version_a_week_only(key: str) -> None:
    # state/ is rewritten every minute: the versioned bucket would keep 43,200 versions a month of each document
    assert _effect(key, 1_000, 0)["noncurrent_days"] == 7


def test_a_transition_never_names_objects_s3_would_not_move_and_incomplete_uploads_are_aborted() -> None:
    rules = _lifecycle_rules()
    for rule in rules:
        if rule.get("Transitions"):
            assert int(rule.get("ObjectSizeGreaterThan", 0)) >= S3_MINIMUM_TRANSITION_BYTES, rule["Id"]
            assert "ExpirationInDays" not in rule, rule["Id"]  # else only large objects would ever expire
    [abort] = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert abort["Prefix"] == "" and int(abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) <= 7
