"""The compaction function and the Glue table in the template: one schedule, least privilege, the process
layer; a table whose columns are the sink's schema and whose projection follows the key layout."""

from __future__ import annotations

import importlib
from typing import Any

import pyarrow as pa
import pytest

from pipeline.handlers import COMPACTED_SOURCES, compact
from pipeline.sinks.s3parquet.loader import SCHEMA
from workbench.cloudformation.template import TEMPLATE_PATH, Template, compaction_period, load_template
from workbench.deploy.functions import Function, all_functions, get_function

BODY = load_template(TEMPLATE_PATH)
RESOURCES: dict[str, Any] = BODY["Resources"]
FUNCTION = RESOURCES["CompactCoinMarketCapFunction"]["Properties"]


def test_the_function_table_has_the_compaction_on_the_process_layer() -> None:
    function = get_function("compact-coinmarketcap")
    assert function == Function("compact", "coinmarketcap")
    assert function.layer_name == Function("process", "coinmarketcap").layer_name
    assert [f.name for f in all_functions() if f.kind == "compact"] == ["compact-coinmarketcap"]
    assert compact.COMPACTED_SOURCES == COMPACTED_SOURCES
    assert FUNCTION["Handler"] == function.handler
    assert callable(importlib.import_module(function.handler_module).coinmarketcap)
    assert FUNCTION["Layers"] == RESOURCES["ProcessCoinMarketCapFunction"]["Properties"]["Layers"]


@pytest.mark.parametrize("name", ["yahoo_finance", "openexchangerates", "nothing"])
def test_no_compaction_handler_for_a_source_without_the_parquet_sink(name: str) -> None:
    with pytest.raises(AttributeError, match=f"has no attribute {name!r}"):
        getattr(compact, name)


def test_the_rule_runs_hourly_and_stops_with_the_schedules() -> None:
    rule = RESOURCES["CompactCoinMarketCapScheduleRule"]["Properties"]
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CompactCoinMarketCapFunction", "Arn"]}
    assert rule["ScheduleExpression"] == {"Ref": "CompactionSchedule"}
    assert compaction_period().total_seconds() == 3600
    assert Template(BODY).resolve(rule["State"]) == "ENABLED"
    assert Template(BODY, {"SchedulesEnabled": "false"}).resolve(rule["State"]) == "DISABLED"


def test_the_role_reaches_only_the_processed_area_and_its_own_logs() -> None:
    statements = RESOURCES["CompactCoinMarketCapRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"OwnLogs", "ListProcessed", "MergeProcessed"}
    assert by_sid["OwnLogs"]["Resource"] == {"Fn::GetAtt": ["CompactCoinMarketCapLogGroup", "Arn"]}
    assert by_sid["ListProcessed"]["Condition"] == {"StringLike": {"s3:prefix": "processed/coinmarketcap/*"}}
    assert by_sid["MergeProcessed"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/processed/coinmarketcap/*"}
    assert sorted(by_sid["MergeProcessed"]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for s in statements)


def test_its_alarms_watch_errors_throttles_and_duration() -> None:
    watched = {
        props.get("MetricName")
        for props in (r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm")
        if {"Name": "FunctionName", "Value": {"Ref": "CompactCoinMarketCapFunction"}} in props.get("Dimensions", [])
    }
    assert watched == {"Errors", "Throttles", "Duration"}


ATHENA_TYPES = {
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.string(): "string",
    pa.float64(): "double",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def test_the_glue_table_is_the_sink_schema_projected_by_day() -> None:
    table = RESOURCES["CoinSnapshotsTable"]["Properties"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, ATHENA_TYPES[f.type]) for f in SCHEMA]
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert (params["projection.dt.type"], params["projection.dt.format"]) == ("date", "yyyy/MM/dd")
    assert params["storage.location.template"] == {"Fn::Sub": "s3://${DataBucket}/processed/coinmarketcap/${!dt}/"}
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::Glue::Crawler"]


def test_the_merged_objects_old_versions_expire() -> None:
    rules = RESOURCES["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    covering = [
        r for r in rules
        if "processed/coinmarketcap/".startswith(r.get("Prefix", "")) and "NoncurrentVersionExpiration" in r
    ]  # fmt: skip
    assert covering, "no lifecycle rule expires the old versions of the merged minute objects"
    assert all(r["Status"] == "Enabled" and r["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7 for r in covering)
