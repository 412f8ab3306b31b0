"""Transient errors back off without burning receive counts: a sink that is down for hours costs a dozen receives,
dead-letters nothing, and the queue drains in order when it answers again; an outage longer than the back-off
budget dead-letters, and the scheduled redrive sends the events back once the sink's health probe passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.handlers.process import backoff_budget_seconds, backoff_seconds
from workbench.cloudformation.template import Template
from workbench.faults import Plan, Window
from workbench.soak import soak

pytestmark = [pytest.mark.stack, pytest.mark.slow]
START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SOURCE = "coinmarketcap"  # its sink (Parquet objects in S3) is the quickest to stand in for one that is down
MAX_RECEIVES = int(Template.load().parameters["MaxReceiveCount"])


def outage(hours: float) -> Plan:
    return Plan(windows=[Window("outage", "s3parquet", START, START + timedelta(hours=hours), f"down {hours} h")])


def test_the_back_off_doubles_from_a_minute_to_an_hour():
    assert [backoff_seconds(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_the_template_allows_receives_for_a_six_hour_outage():
    assert backoff_budget_seconds(MAX_RECEIVES) > 6 * 3600


def test_a_six_hour_outage_dead_letters_nothing_and_the_queue_drains_in_order(clean_stack):
    report = soak(clean_stack, start=START, minutes=4, plan=outage(6), sources=(SOURCE,))

    figures = report.figures
    assert (figures["lost"], figures["duplicated"], figures["dead_lettered"]) == (0, 0, 0), report.as_dict()
    assert figures["backoffs"] > 0
    assert figures["sink_refusals"] <= MAX_RECEIVES + 4  # the first minutes, then one try per back-off, not 720
    assert figures["drained_at"] >= "2026-11-18T16:00:00Z"
    loads = report.loads[SOURCE]
    assert loads == sorted(loads) and len(loads) == 4  # every minute, in order, once the sink answered


def test_an_outage_longer_than_the_back_off_budget_is_redriven_once_the_sink_is_healthy(clean_stack):
    hours = backoff_budget_seconds(MAX_RECEIVES) / 3600 + 1

    report = soak(clean_stack, start=START, minutes=2, plan=outage(hours), sources=(SOURCE,))

    figures = report.figures
    assert figures["dead_lettered"] > 0, report.as_dict()
    assert figures["redriven"] == figures["dead_lettered"]
    assert (figures["lost"], figures["duplicated"]) == (0, 0), report.as_dict()
    assert report.verification[SOURCE]["ok"]


@pytest.mark.parametrize("source", ["yahoo_finance", "coinmarketcap", "openexchangerates"])
def test_the_redrive_health_probe_passes_on_every_healthy_sink_and_fails_on_a_down_one(clean_stack, source):
    from pipeline import clients
    from pipeline.redrive import probe
    from workbench.faults import FaultySink
    from workbench.local.demo import use_stack

    use_stack(clean_stack)
    sink = clients.sink(source)
    assert probe(sink, source) is None
    down = FaultySink(sink, "s3parquet", outage(1), clock=lambda: START)  # the target outage() names
    assert "connection refused" in (probe(down, source) or "")
