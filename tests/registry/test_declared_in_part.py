"""A source declared in part is caught: GIVEN a template function the registry does not know, a declared source
without its three template functions (ingest, process, redrive) or their schedules, without the entry point of one
of them in `pipeline/handlers/`, a sink or a source module that does not exist, a source module that is not a folder
of the common shape, THEN `declarations.problems()` names it in one line. The project as it stands is declared in
full."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import pipeline.handlers.redrive
from pipeline import registry
from tests.registry import fake_source
from workbench import declarations
from workbench.cloudformation.template import load_template

TEMPLATE = load_template()


def template(*, wired: bool = False, **functions: str) -> dict[str, Any]:
    """The project's template plus functions (logical id -> handler), copied from its first ingest function;
    `wired`: with the fake source's subscription and the schedule rules of its ingest and redrive functions, copied
    alike."""
    body = copy.deepcopy(TEMPLATE)
    resources = body["Resources"]
    for logical_id, handler in functions.items():
        resources[logical_id] = copy.deepcopy(resources["IngestYahooFinanceFunction"])
        resources[logical_id]["Properties"]["Handler"] = handler
    if wired:
        resources["TreasuryYieldsSubscription"] = copy.deepcopy(resources["YahooFinanceSubscription"])
        resources["TreasuryYieldsSubscription"]["Properties"]["FilterPolicy"] = {"source": ["treasury_yields"]}
        resources["TreasuryYieldsScheduleRule"] = rule = copy.deepcopy(resources["YahooFinanceScheduleRule"])
        rule["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["IngestTreasuryYieldsFunction", "Arn"]}
        redrive_rule = copy.deepcopy(resources["RedriveYahooFinanceScheduleRule"])
        resources["RedriveTreasuryYieldsScheduleRule"] = rule = redrive_rule
        rule["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["RedriveTreasuryYieldsFunction", "Arn"]}
    return body


WITH_FAKE_FUNCTIONS = {
    "IngestTreasuryYieldsFunction": "pipeline.handlers.ingest.treasury_yields",
    "ProcessTreasuryYieldsFunction": "pipeline.handlers.process.treasury_yields",
    "RedriveTreasuryYieldsFunction": "pipeline.handlers.redrive.treasury_yields",
}


def test_the_project_declares_every_source_in_full() -> None:
    assert declarations.problems() == []


def test_a_template_function_whose_source_is_not_declared() -> None:
    body = template(IngestBondFuturesFunction="pipeline.handlers.ingest.bond_futures")
    assert declarations.problems(body) == [
        "template function IngestBondFuturesFunction (pipeline.handlers.ingest.bond_futures): "
        "source 'bond_futures' is not declared in pipeline.registry"
    ]


def test_a_declared_source_without_its_template_functions() -> None:
    with fake_source.declared():
        assert declarations.problems() == [
            "source 'treasury_yields': the template has no ingest function "
            "(Handler: pipeline.handlers.ingest.treasury_yields)",
            "source 'treasury_yields': the template has no process function "
            "(Handler: pipeline.handlers.process.treasury_yields)",
            "source 'treasury_yields': the template has no redrive function "
            "(Handler: pipeline.handlers.redrive.treasury_yields)",
            "source 'treasury_yields': no subscription of the topic filters on it (its queue gets no events)",
        ]
        only_ingest = template(wired=True, IngestTreasuryYieldsFunction="pipeline.handlers.ingest.treasury_yields")
        assert declarations.problems(only_ingest) == [
            "source 'treasury_yields': the template has no process function "
            "(Handler: pipeline.handlers.process.treasury_yields)",
            "source 'treasury_yields': the template has no redrive function "
            "(Handler: pipeline.handlers.redrive.treasury_yields)",
        ]


def test_a_declared_source_without_its_entry_points() -> None:
    with registry.registered(fake_source.spec()):
        assert declarations.problems(template(wired=True, **WITH_FAKE_FUNCTIONS)) == [
            f"source 'treasury_yields': pipeline.handlers.{kind} has no def treasury_yields(event, context) "
            f"(the entry point of Handler: pipeline.handlers.{kind}.treasury_yields; copy another source's)"
            for kind in ("ingest", "process", "redrive")
        ]
        with fake_source.entry_points():
            del pipeline.handlers.redrive.treasury_yields  # type: ignore[attr-defined]
            assert declarations.problems(template(wired=True, **WITH_FAKE_FUNCTIONS)) == [
                "source 'treasury_yields': pipeline.handlers.redrive has no def treasury_yields(event, context) "
                "(the entry point of Handler: pipeline.handlers.redrive.treasury_yields; copy another source's)"
            ]


def test_a_declared_source_whose_ingest_function_no_rule_schedules() -> None:
    with fake_source.declared():
        body = template(wired=True, **WITH_FAKE_FUNCTIONS)
        del body["Resources"]["TreasuryYieldsScheduleRule"]
        assert declarations.problems(body) == [
            "source 'treasury_yields': no schedule rule targets its ingest function IngestTreasuryYieldsFunction"
        ]


def test_a_declared_source_whose_redrive_function_no_rule_schedules() -> None:
    with fake_source.declared():
        body = template(wired=True, **WITH_FAKE_FUNCTIONS)
        del body["Resources"]["RedriveTreasuryYieldsScheduleRule"]
        assert declarations.problems(body) == [
            "source 'treasury_yields': no schedule rule targets its redrive function RedriveTreasuryYieldsFunction"
        ]


def test_a_subscription_filtered_on_a_source_that_is_not_declared() -> None:
    body = template()
    body["Resources"]["YahooFinanceSubscription"]["Properties"]["FilterPolicy"] = {"source": ["bond_futures"]}
    assert declarations.problems(body) == [
        "template subscription filtered on source 'bond_futures': not declared in pipeline.registry",
        "source 'yahoo_finance': no subscription of the topic filters on it (its queue gets no events)",
    ]


def test_a_declared_source_with_its_functions_subscription_and_rule_is_declared_in_full() -> None:
    with fake_source.declared():
        assert declarations.problems(template(wired=True, **WITH_FAKE_FUNCTIONS)) == []


def test_a_scheduled_function_that_is_not_a_source_handler_needs_no_source() -> None:
    body = template(HousekeepingFunction="pipeline.handlers.housekeeping.nightly.run")
    assert declarations.problems(body) == []


def test_a_template_without_a_declared_sources_process_function() -> None:
    body = copy.deepcopy(TEMPLATE)
    del body["Resources"]["ProcessCoinMarketCapFunction"]
    assert declarations.problems(body) == [
        "source 'coinmarketcap': the template has no process function "
        "(Handler: pipeline.handlers.process.coinmarketcap)"
    ]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"sink": "tests.registry.fake_source:NoSuchSink"},
            "source 'treasury_yields': sink class 'tests.registry.fake_source:NoSuchSink' does not resolve "
            "(AttributeError: module 'tests.registry.fake_source' has no attribute 'NoSuchSink')",
        ),
        (
            {"sink": "tests.registry.no_such_module:MemorySink"},
            "source 'treasury_yields': sink class 'tests.registry.no_such_module:MemorySink' does not resolve "
            "(ModuleNotFoundError: No module named 'tests.registry.no_such_module')",
        ),
        (
            {"module": "tests.registry"},
            [
                "source 'treasury_yields': module tests.registry lacks fetch, simulated, parse, budget, source "
                "(a source is a folder of fetch, simulated, parse, budget, source beside its __init__, which exposes "
                "SOURCE)",
                "source 'treasury_yields': module tests.registry has no SOURCE (pipeline.sources.base.Source)",
            ],
        ),
        (
            {"module": "tests.registry.treasury_yields.source"},
            "source 'treasury_yields': module tests.registry.treasury_yields.source lacks fetch, simulated, parse, "
            "budget, source (a source is a folder of fetch, simulated, parse, budget, source beside its __init__, "
            "which exposes SOURCE)",
        ),
        (
            {"row_model": "tests.registry.treasury_yields:TreasurySource"},
            "source 'treasury_yields': row model 'tests.registry.treasury_yields:TreasurySource' is not a pydantic "
            "model",
        ),
        (
            {"natural_key": ("tenor", "maturity"), "columns": ("tenor", "maturity", "yield_pct", "quote_ts")},
            "source 'treasury_yields': natural key field 'maturity' is not a field of tests.registry.fake_source:Yield",
        ),
        (
            {"process_extras": ("duckdb",)},
            "source 'treasury_yields': process extra 'duckdb' is not in pyproject's [project.optional-dependencies]",
        ),
    ],
    ids=["sink-name", "sink-module", "no-SOURCE", "not-a-folder", "row-model", "natural-key", "extra"],
)
def test_a_source_whose_declaration_names_what_does_not_exist(
    overrides: dict[str, Any], problem: str | list[str]
) -> None:
    with fake_source.declared(**overrides):
        expected = [problem] if isinstance(problem, str) else problem
        assert declarations.problems(template(wired=True, **WITH_FAKE_FUNCTIONS)) == expected


def test_a_source_declared_twice_or_with_a_key_outside_its_columns_is_refused_at_once() -> None:
    with registry.registered(fake_source.spec()), pytest.raises(registry.RegistryError, match="declared twice"):
        registry.register(fake_source.spec())
    with pytest.raises(registry.RegistryError, match=r"natural key or time \['maturity'\] not among its columns"):
        registry.register(fake_source.spec(natural_key=("maturity",)))
    assert "treasury_yields" not in registry.source_ids()


@pytest.mark.parametrize(
    "source_id",
    ["Treasury", "treasury-yields", "_treasury", "9yields", "gold_spöt", "t" * 41, "", "treasury yields"],
)
def test_an_id_that_cannot_name_a_queue_or_a_module_is_refused(source_id: str) -> None:
    with pytest.raises(registry.RegistryError, match="use lower_snake_case"):
        registry.register(fake_source.spec(id=source_id))
    assert source_id not in registry.source_ids()


@pytest.mark.parametrize("source_id", ["treasury_yields", "t2", "x" * 40, "gold_spot_usd"])
def test_a_lower_snake_case_id_is_accepted(source_id: str) -> None:
    with registry.registered(fake_source.spec(id=source_id)):
        assert source_id in registry.source_ids()
