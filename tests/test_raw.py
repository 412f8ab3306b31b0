"""The raw layer: contract CSV, and a raw object is never overwritten with fewer success rows."""

import boto3
import pytest
from moto import mock_aws

from pipeline import registry
from pipeline.contracts import ContractError
from pipeline.raw import csv_to_rows, read_raw, rows_to_csv, write_raw

KEY = "raw/openexchangerates/2026/11/02/1445.csv"


def rate(currency, status="success", error=""):
    return {
        "base": "USD",
        "currency": currency,
        "rate": 0.9,
        "rate_ts": "2026-11-02T14:00:00Z",
        "status": status,
        "error": error,
        "scheduled_at": "2026-11-02T14:45:00Z",
        "ingested_at": "2026-11-02T14:45:02Z",
    }


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="raw-test-bucket")
        yield client


def test_csv_has_the_contract_columns_in_order_then_extras():
    body = rows_to_csv("openexchangerates", [{**rate("EUR"), "note": "x"}]).decode()
    header = body.splitlines()[0].split(",")
    assert header == [*registry.get("openexchangerates").raw_columns, "note"]


def test_a_csv_missing_a_contract_column_is_refused_by_name():
    with pytest.raises(ContractError, match="rate_ts"):
        csv_to_rows("openexchangerates", b"base,currency,rate,status,error,scheduled_at,ingested_at\n")


def test_write_then_read_round_trips(s3):
    obj = write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [rate("EUR"), rate("XXX", "error", "no rate")])
    assert (obj.rows, obj.success_rows, obj.kept_existing) == (2, 1, False)
    rows = read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")
    assert [r["currency"] for r in rows] == ["EUR", "XXX"]
    assert rows[1]["error"] == "no rate"


def test_a_worse_answer_never_replaces_a_better_raw_object(s3):
    write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [rate("EUR"), rate("GBP")])
    worse = write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [rate("EUR"), rate("GBP", "error", "timeout")])
    assert worse.kept_existing and worse.success_rows == 2
    assert [r["status"] for r in read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")] == ["success", "success"]


def test_an_equal_or_better_answer_replaces_it(s3):
    write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [rate("EUR")])
    better = write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [rate("EUR"), rate("GBP")])
    assert not better.kept_existing
    assert len(read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")) == 2
