"""A fourth source is one declaration and its three entry points: GIVEN a fake source declared with
`registry.registered(SourceSpec(...))` and its `def treasury_yields(event, context)` in the ingest, process and
redrive handler modules (`fake_source.declared()`), THEN every table derived from the registry knows it, and a
minute of it runs through the handlers into its sink, with the event's correlation id on their log lines, and
reconciles in `verify`; once the block ends, nothing knows it any more."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from pipeline import clients, registry
from pipeline.contracts import ContractError, check_source, raw_key
from pipeline.handlers import entry_point
from pipeline.raw import csv_to_rows, rows_to_csv
from pipeline.schemas import RowValidationError, validate_rows
from pipeline.settings import Settings
from pipeline.sinks import get_sink
from tests.lambda_events import load_event
from tests.registry import fake_source, treasury_yields
from tests.registry.fake_source import ID, MemorySink, Yield
from workbench.deploy.functions import Function, all_functions, get_function
from workbench.deploy.layers import layer_specs
from workbench.local.runtime import scheduled_event
from workbench.verify import verify

T0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
COLUMNS = "tenor,yield_pct,quote_ts,status,error,scheduled_at,ingested_at"


@pytest.fixture
def fourth() -> Iterator[registry.SourceSpec]:
    MemorySink.held.clear()
    with fake_source.declared() as spec:
        yield spec
    MemorySink.held.clear()


def rows(minute: datetime) -> list[dict[str, Any]]:
    payload = treasury_yields.SOURCE.fetch(Settings(), minute)
    return treasury_yields.SOURCE.parse(payload, scheduled_at=minute, ingested_at=minute)


def test_the_registry_lists_it_and_the_contracts_accept_its_keys(fourth: registry.SourceSpec) -> None:
    assert registry.source_ids()[-1] == ID and registry.get(ID) is fourth
    assert check_source(ID) == ID
    assert raw_key(ID, T0) == "raw/treasury_yields/2026/11/02/1430.csv"


def test_its_raw_csv_has_its_columns_and_the_common_tail(fourth: registry.SourceSpec) -> None:
    body = rows_to_csv(ID, rows(T0))
    assert body.decode().splitlines()[0] == COLUMNS
    assert [r["tenor"] for r in csv_to_rows(ID, body)] == ["2Y", "10Y", "30Y"]
    with pytest.raises(ContractError, match="lacks contract column\\(s\\) yield_pct"):
        csv_to_rows(ID, body.replace(b"yield_pct", b"yield"))


def test_its_rows_validate_against_its_row_model(fourth: registry.SourceSpec) -> None:
    typed = validate_rows(ID, [dict(r) for r in csv_to_rows(ID, rows_to_csv(ID, rows(T0)))])
    assert all(isinstance(t, Yield) for t in typed) and typed[0].quote_ts == T0
    with pytest.raises(RowValidationError, match="line 2: yield_pct"):
        validate_rows(ID, [{"tenor": "2Y", "yield_pct": "high", "quote_ts": "2026-11-02T14:30:00Z"}])


def test_its_sink_is_built_from_the_settings(fourth: registry.SourceSpec) -> None:
    assert isinstance(get_sink(ID, Settings()), MemorySink)


def test_the_deploy_has_its_three_functions_and_their_layers(fourth: registry.SourceSpec) -> None:
    ingest, process, redrive = Function("ingest", ID), Function("process", ID), Function("redrive", ID)
    per_source = [f for f in all_functions() if f.kind != "compact"]  # the compaction serves the Parquet sink alone
    assert {ingest, process, redrive} <= set(per_source) and len(per_source) == 3 * len(registry.source_ids())
    assert redrive.layer_name == process.layer_name  # its sink's health probe needs what the process needs
    assert get_function("ingest-treasury_yields") == ingest
    assert (ingest.handler, process.handler) == (
        "pipeline.handlers.ingest.treasury_yields",
        "pipeline.handlers.process.treasury_yields",
    )
    assert ingest.lazy_modules == ("tests.registry.treasury_yields",)
    layers = layer_specs()
    layer = layers["deps-coinmarketcap-openexchangerates"]
    assert ingest.layer_name == layer.name and layer.extras == ("coinmarketcap", "openexchangerates")
    assert {"beautifulsoup4>=4.12", "requests>=2.31"} <= set(layer.requirements)
    assert "pyarrow>=15" in layers[process.layer_name].requirements


def test_the_handler_modules_have_its_entry_points(fourth: registry.SourceSpec) -> None:
    for kind in ("ingest", "process", "redrive"):
        handler = entry_point(kind, ID)
        assert handler is fake_source.ENTRY_POINTS[kind] and Function(kind, ID).handler.endswith(f"{kind}.{ID}")


def test_the_command_line_parses_its_payloads_and_names_it_among_the_sources(
    fourth: registry.SourceSpec, tmp_path: Path
) -> None:
    from workbench.cli import app

    saved = tmp_path / "yields.json"
    saved.write_text(json.dumps(treasury_yields.SOURCE.fetch(Settings(), T0)))
    result = CliRunner().invoke(app, ["parse", ID, str(saved), "--at", "2026-11-02T14:30:00Z"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == COLUMNS and len(result.output.splitlines()) == 4

    unknown = CliRunner().invoke(app, ["parse", "bond_futures", str(saved)])
    assert unknown.exit_code == 2  # a usage error naming the sources, the fourth among them
    assert "unknown source 'bond_futures'" in unknown.output
    assert "openexchangerates, treasury_yields" in unknown.output


def test_once_the_block_ends_nothing_knows_it() -> None:
    with fake_source.declared():
        pass
    assert ID not in registry.source_ids()
    with pytest.raises(ContractError, match="unknown source 'treasury_yields'"):
        check_source(ID)
    assert all(entry_point(kind, ID) is None for kind in ("ingest", "process", "redrive"))
    assert Function("ingest", ID) not in all_functions()


# -- a minute of it through the handlers, into its sink, and reconciled ---------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """In-process moto with a bucket and the FIFO topic; the handlers' settings point at them."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="yields-test")
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        for name, value in {
            "PIPELINE_BUCKET": "yields-test",
            "PIPELINE_TOPIC_ARN": topic,
            "PIPELINE_MODE": "simulated",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        clients.configure(settings)  # whatever an earlier test pointed the handlers at, they use these
        try:
            yield settings
        finally:
            clients.configure(None)


def run_minutes(minutes: int) -> list[str]:
    """Ingest each minute with the ingest handler, then feed its event to the process handler; the raw keys."""
    from pipeline.handlers import ingest, process

    keys = []
    for n in range(minutes):
        at = T0 + timedelta(minutes=n)
        result = getattr(ingest, ID)(scheduled_event(ID, at), None)
        body = {"bucket": "yields-test", "key": result["key"], "source": ID, "scheduled_at": result["scheduled_at"]}
        record = load_event("sqs_fifo_record", body=json.dumps(body | {"rows": result["success_rows"]}))
        record["attributes"]["MessageGroupId"] = ID
        assert getattr(process, ID)({"Records": [record]}, None) == {"batchItemFailures": []}
        keys.append(result["key"])
    return keys


def test_its_minutes_reach_its_sink_and_verify_reports_them_under_its_label(
    fourth: registry.SourceSpec, aws: Settings
) -> None:
    keys = run_minutes(3)

    assert keys[0] == "raw/treasury_yields/2026/11/02/1430.csv"
    assert len(MemorySink.held) == 9  # three tenors, three minutes: a new quote_ts every minute
    report = verify(aws, T0, T0 + timedelta(minutes=2), sources=[ID]).as_dict()
    [row] = report["sources"]
    expected = {
        "source": ID, "sink": "memory yields", "ok": True, "error": "", "minutes": 3, "raw_rows": 9,
        "sink_rows": 9, "missing": 0, "extra": 0, "quarantined": 0, "differences": [],
    }  # fmt: skip
    assert {name: row[name] for name in expected} == expected


def test_its_rows_are_validated_once_on_the_way_to_its_sink(
    fourth: registry.SourceSpec, aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[Any] = []
    validate = Yield.model_validate

    def counted(value: Any, *args: Any, **kwargs: Any) -> Yield:
        validated.append(value)
        return validate(value, *args, **kwargs)

    monkeypatch.setattr(Yield, "model_validate", counted)
    run_minutes(1)

    assert len(MemorySink.held) == 3
    assert sorted(row["tenor"] for row in validated) == ["10Y", "2Y", "30Y"]  # once each, from its raw CSV row


def test_its_handlers_log_with_the_correlation_id_of_their_event(
    fourth: registry.SourceSpec, aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.handlers import ingest, process

    out = io.StringIO()  # what Lambda would send to CloudWatch Logs: the loggers' JSON lines
    for logger in (ingest.logger, process.logger):
        monkeypatch.setattr(logger.registered_handler, "stream", out)
    scheduled = scheduled_event(ID, T0)
    result = getattr(ingest, ID)(scheduled, None)
    body = {"bucket": "yields-test", "key": result["key"], "source": ID, "scheduled_at": result["scheduled_at"]}
    records = [load_event("sqs_fifo_record", body=json.dumps(body | {"rows": 3}), messageId=f"m{n}") for n in (0, 1)]
    for n, record in enumerate(records):
        record["attributes"] |= {"MessageGroupId": ID, "MessageDeduplicationId": f"dedup-{n}"}
    assert getattr(process, ID)({"Records": records}, None) == {"batchItemFailures": []}

    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    ingested = [(line["correlation_id"], line["key"]) for line in logged if line["message"] == "ingested"]
    processed = [(line["correlation_id"], line["message_id"]) for line in logged if line["message"] == "processed"]
    assert ingested == [(scheduled["id"], result["key"])]
    assert processed == [("dedup-0", "m0"), ("dedup-1", "m1")]


def test_a_row_lost_from_its_sink_is_reported_missing_in_its_minute(fourth: registry.SourceSpec, aws: Settings) -> None:
    keys = run_minutes(2)
    lost = next(k for k, row in MemorySink.held.items() if row.raw_key == keys[1])
    del MemorySink.held[lost]

    report = verify(aws, sources=[ID])
    assert not report.ok
    [source] = report.sources
    assert [(m.raw_key, m.missing) for m in source.minutes if not m.ok] == [(keys[1], 1)]
