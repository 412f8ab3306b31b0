"""The contracts: raw keys from the scheduled minute, processed keys, events and their deduplication ids."""

from datetime import UTC, datetime

import pytest
from lambda_events import load_event

from pipeline import registry
from pipeline.contracts import (
    ContractError,
    Event,
    deduplication_id,
    parse_raw_key,
    processed_key,
    raw_key,
    scheduled_minute,
)


def test_raw_key_comes_from_the_scheduled_minute_of_the_eventbridge_event():
    event = load_event("scheduled_event", time="2026-11-02T14:45:37Z")
    assert raw_key("coinmarketcap", scheduled_minute(event)) == "raw/coinmarketcap/2026/11/02/1445.csv"


def test_raw_key_is_utc_whatever_the_offset_of_the_time():
    at = datetime.fromisoformat("2026-11-02T09:45:00-05:00")
    assert raw_key("yahoo_finance", at) == "raw/yahoo_finance/2026/11/02/1445.csv"


def test_a_scheduled_event_without_time_is_a_one_line_error():
    with pytest.raises(ContractError, match="no 'time'"):
        scheduled_minute({"detail": {}})


def test_raw_keys_round_trip_and_map_one_to_one_to_processed_keys():
    key = raw_key("coinmarketcap", datetime(2026, 1, 5, 0, 7, tzinfo=UTC))
    assert parse_raw_key(key) == ("coinmarketcap", datetime(2026, 1, 5, 0, 7, tzinfo=UTC))
    assert processed_key(key) == "processed/coinmarketcap/2026/01/05/0007.parquet"


@pytest.mark.parametrize("key", ["raw/unknown/2026/01/05/0007.csv", "raw/coinmarketcap/2026/1/5/7.csv", "x.csv"])
def test_malformed_keys_are_refused(key):
    with pytest.raises(ContractError):
        parse_raw_key(key)


def test_unknown_source_names_the_known_ones():
    with pytest.raises(ContractError, match="yahoo_finance, coinmarketcap, openexchangerates"):
        raw_key("bloomberg", datetime(2026, 1, 1, tzinfo=UTC))


def test_every_raw_layout_ends_with_status_error_and_times():
    for columns in (spec.raw_columns for spec in registry.specs()):
        assert columns[-4:] == ("status", "error", "scheduled_at", "ingested_at")


def test_deduplication_id_changes_with_content_not_with_a_duplicate_publish():
    same = deduplication_id("b", "raw/x.csv", '"etag1"'), deduplication_id("b", "raw/x.csv", "etag1")
    assert same[0] == same[1]
    assert deduplication_id("b", "raw/x.csv", "etag2") != same[0]
    assert len(same[0]) <= 128


def test_event_body_has_the_contract_fields():
    event = Event(
        bucket="b",
        key="raw/coinmarketcap/2026/11/02/1445.csv",
        source="coinmarketcap",
        scheduled_at="2026-11-02T14:45:00Z",
        rows=10,
    )
    assert set(event.model_dump()) == {"bucket", "key", "source", "scheduled_at", "rows"}
