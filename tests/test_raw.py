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


def test_csv_has_the_contract_columns_in_order_then_the_carried_ones():
    body = rows_to_csv("openexchangerates", [{**rate("EUR"), "note": "x"}], carried=["note"]).decode()
    header = body.splitlines()[0].split(",")
    assert header == [*registry.get("openexchangerates").raw_columns, "note"]
    assert body.splitlines()[1].endswith(",x")


@pytest.mark.parametrize("field", ["note", "rat", "Rate"])
def test_a_row_field_the_source_does_not_declare_is_a_registry_error_naming_it(field):
    """A misspelt or undeclared field is a contributor's mistake: never a silent extra column (beside an empty
    declared one); not a ValueError either, which a parser's last step would turn into error rows."""
    row = {**rate("EUR"), field: 0.9}
    with pytest.raises(registry.RegistryError) as caught:
        rows_to_csv("openexchangerates", [rate("GBP"), row])
    assert not isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert f"{field!r}" in message and "openexchangerates" in message and "\n" not in message


def test_a_stored_objects_undeclared_column_is_kept_when_the_object_is_rewritten(s3):
    """An object an older release wrote with a column since dropped: a rewrite (backfill) carries it, with its
    cells, and a row new to the object has that cell empty; raw data is never rewritten with less than it had."""
    old = rows_to_csv("openexchangerates", [{**rate("EUR"), "note": "x"}], carried=["note"])
    s3.put_object(Bucket="raw-test-bucket", Key=KEY, Body=old)
    stored = read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")

    write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [*stored, rate("GBP")], carried=["note"])

    again = read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")
    assert [(r["currency"], r["note"]) for r in again] == [("EUR", "x"), ("GBP", "")]
    with pytest.raises(registry.RegistryError, match="'note'"):
        write_raw(s3, "raw-test-bucket", KEY, "openexchangerates", [*stored, rate("GBP")])


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


# --- what the bytes of a raw object break is terminal, named with the object and the line ----------------------

HEADER = "base,currency,rate,rate_ts,status,error,scheduled_at,ingested_at\n"
GOOD_LINE = "USD,EUR,0.9,2026-11-02T14:00:00Z,success,,2026-11-02T14:45:00Z,2026-11-02T14:45:02Z\n"


def test_a_field_over_the_csv_modules_default_limit_is_read():
    """The csv module stops at 128 KiB a field; a raw object's rows are read up to the object cap."""
    big = "x" * (200 * 1024)
    body = (HEADER + GOOD_LINE + GOOD_LINE.replace(",,", f",{big},", 1)).encode()
    rows = csv_to_rows("openexchangerates", body, where="s3://b/k.csv")
    assert [len(r["error"]) for r in rows] == [0, 200 * 1024]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ((HEADER + GOOD_LINE + "USD,GBP,0.8\xff\n").encode("latin-1"), r"^s3://b/k\.csv: line 3: not UTF-8"),
        (b"\xfe\xff" + HEADER.encode(), r"^s3://b/k\.csv: line 1: not UTF-8"),
        ((HEADER + GOOD_LINE + GOOD_LINE.replace(",,", f",{'y' * 5000},", 1)).encode(), r"^s3://b/k\.csv: line 3: "),
        (("z" * 9000 + "\n").encode(), r"^s3://b/k\.csv: 9,001 bytes, over the raw object cap of 8,192$"),
    ],
    ids=["latin-1 byte", "utf-16 bom", "a field the csv module refuses", "object over the cap"],
)
def test_bytes_no_retry_can_read_are_a_terminal_error_naming_the_object_and_line(body, message, monkeypatch):
    monkeypatch.setattr("pipeline.raw.RAW_OBJECT_MAX_BYTES", 8192)
    import csv

    limit = csv.field_size_limit(4096)  # under the cap here, so that the csv module's own error is met
    try:
        with pytest.raises(ContractError, match=message) as caught:
            csv_to_rows("openexchangerates", body, where="s3://b/k.csv")
    finally:
        csv.field_size_limit(limit)
    assert caught.value.kind == "terminal" and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        ("\ufeff" + HEADER + GOOD_LINE).encode(),  # a byte order mark
        (HEADER + GOOD_LINE).replace("\n", "\r\n").encode(),  # CRLF line ends
        (HEADER + GOOD_LINE.replace("EUR", '"EUR"')).encode(),  # a quoted cell
    ],
    ids=["bom", "crlf", "quoted"],
)
def test_the_same_rows_written_other_right_ways_read_the_same(body):
    (row,) = csv_to_rows("openexchangerates", body)
    assert (row["currency"], row["rate"], row["status"]) == ("EUR", "0.9", "success")


def test_a_raw_object_over_the_cap_is_refused_unread(s3, monkeypatch):
    monkeypatch.setattr("pipeline.raw.RAW_OBJECT_MAX_BYTES", 100)
    s3.put_object(Bucket="raw-test-bucket", Key=KEY, Body=(HEADER + GOOD_LINE).encode())
    with pytest.raises(
        ContractError, match=rf"^s3://raw-test-bucket/{KEY}: 149 bytes, over the raw object cap of 100$"
    ):
        read_raw(s3, "raw-test-bucket", KEY, "openexchangerates")
