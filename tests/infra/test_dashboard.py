"""The template's CloudWatch dashboard: one page per stack that shows every source, linked from the outputs and
from `pipeline status`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipeline.registry import source_ids
from workbench.cloudformation.template import TEMPLATE_PATH, load_template
from workbench.deploy.cost import compute
from workbench.status import dashboard_name, dashboard_url

BODY = load_template(TEMPLATE_PATH)


def dashboards() -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in BODY["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard"}


def widgets() -> list[dict[str, Any]]:
    (dashboard,) = dashboards().values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    # every ${...} substitution names a resource (or its attribute) or a pseudo parameter
    for name in re.findall(r"\$\{([^}]+)\}", body):
        assert name.startswith("AWS::") or name.split(".")[0] in BODY["Resources"], name
    return json.loads(body)["widgets"]  # the substitutions are inside JSON strings


def metrics() -> list[list[Any]]:
    return [m for w in widgets() if w["type"] == "metric" for m in w["properties"]["metrics"]]


def test_one_dashboard_named_as_status_links_it_and_the_outputs_give_its_address():
    (dashboard,) = dashboards().values()
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Sub": dashboard_name("${AWS::StackName}")}
    url = BODY["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.replace("${PipelineDashboard}", dashboard_name("S")).replace("${AWS::Region}", "r") == dashboard_url(
        "r", "S"
    )


@pytest.mark.parametrize("source", source_ids())
def test_every_source_has_its_durations_errors_queue_dead_letters_and_freshness(source):
    pascal = {"yahoo_finance": "YahooFinance", "coinmarketcap": "CoinMarketCap",
              "openexchangerates": "OpenExchangeRates"}[source]  # fmt: skip
    shown = {tuple(m[:4]) for m in metrics()}
    for kind in ("Ingest", "Process"):
        for metric in ("Duration", "Errors"):
            assert ("AWS/Lambda", metric, "FunctionName", f"${{{kind}{pascal}Function}}") in shown, (kind, metric)
    for queue in (f"${{{pascal}Queue.QueueName}}", f"${{{pascal}DeadLetterQueue.QueueName}}"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue) in shown
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"${{{pascal}Queue.QueueName}}") in shown
    assert ("MarketDataPipeline/${AWS::StackName}", "RawObjectsWritten", "source", source) in shown


def test_the_yahoo_budget_metrics_are_on_it():
    names = {m[1] for m in metrics()}
    assert names >= {"YahooRequests", "YahooRateLimited", "YahooCoolingDown", "YahooUnfetched", "YahooErrorRowShare",
                     "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"}  # fmt: skip


def test_the_cost_model_counts_the_dashboard_within_the_three_free_ones():
    bill = compute(durations={})
    (line,) = [line for line in bill.lines if line.item == "dashboards"]
    assert line.quantity == 1
    assert (line.usd, line.usd_after_free_tier) == (3.0, 0.0)
