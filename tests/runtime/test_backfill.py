"""`pipeline backfill`: a past window filled through the pipeline's own path, idempotent and resumable.

GIVEN a local stack (empty, or holding live minutes), WHEN a window is backfilled, THEN its raw objects are in the
contract layout, the sinks hold every bar or rate of it, `verify` of the window is clean, and a second run changes
no count; CoinMarketCap is refused with one line.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
import responses

from pipeline.sources import openexchangerates as oxr
from tests.runtime.test_status import empty, pipeline
from workbench.cloudformation.topology import LOCAL_CREDENTIALS

pytestmark = pytest.mark.stack

UNIVERSE = 5


def s3_of(stack):
    return boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
                        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS)  # fmt: skip


def keys(stack, prefix: str) -> list[str]:
    pages = s3_of(stack).get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def backfill(stack, *args: str) -> tuple[int, dict]:
    result = pipeline(stack, "backfill", *args, "--json")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout)


def sink_counts(stack, source: str, start: str, end: str) -> dict:
    result = pipeline(stack, "verify", "--source", source, "--from", start, "--to", end, "--json")
    row = json.loads(result.stdout)["sources"][0]
    return {k: row[k] for k in ("sink_rows", "raw_rows", "missing", "extra")}


def test_an_hour_of_bars_backfilled_on_an_empty_stack_verifies_clean_and_a_second_run_changes_nothing(local_stack):
    empty(local_stack)
    window = ("--from", "2026-11-18T15:00Z", "--to", "2026-11-18T16:00Z")

    code, first = backfill(local_stack, "yahoo_finance", *window)

    assert code == 0, first
    assert first["backfill"]["written"] == 1 and first["backfill"]["rows_added"] == UNIVERSE * 60
    assert keys(local_stack, "raw/yahoo_finance/") == ["raw/yahoo_finance/2026/11/18/1600.csv"]
    assert first["verify"]["ok"] is True
    (verified,) = first["verify"]["sources"]
    assert (verified["sink_rows"], verified["missing"], verified["extra"]) == (UNIVERSE * 60, 0, 0)
    before = sink_counts(local_stack, "yahoo_finance", "2026-11-18T00:00Z", "2026-11-18T23:59Z")

    code, second = backfill(local_stack, "yahoo_finance", *window)

    assert code == 0, second
    assert (second["backfill"]["written"], second["backfill"]["unchanged"]) == (0, 1)
    assert sink_counts(local_stack, "yahoo_finance", "2026-11-18T00:00Z", "2026-11-18T23:59Z") == before
    # against the market, the hour is whole
    result = pipeline(local_stack, "verify", "--market", "--json", "--source", "yahoo_finance", *window)
    market = json.loads(result.stdout)["market"]["sources"]["yahoo_finance"]
    assert (market["expected"], market["reached"], market["completeness"]) == (UNIVERSE * 60, UNIVERSE * 60, 1.0)


def test_a_backfill_over_live_minutes_merges_into_their_raw_objects_and_keeps_every_count(local_stack):
    empty(local_stack)
    live = pipeline(local_stack, "run", "--minutes", "10", "--start", "2026-11-19T15:30Z", "--source",
                    "yahoo_finance", "--json")  # fmt: skip
    assert live.returncode == 0, live.stderr[-2000:]
    live_key = "raw/yahoo_finance/2026/11/19/1535.csv"
    live_rows = s3_of(local_stack).get_object(Bucket=local_stack.bucket, Key=live_key)["Body"].read().decode()

    code, report = backfill(local_stack, "yahoo_finance", "--from", "2026-11-19T15:00Z", "--to", "2026-11-19T15:35Z")

    assert code == 0, report
    assert report["backfill"]["written"] == 1  # the live object at 15:35, grown by the bars it lacked
    merged = s3_of(local_stack).get_object(Bucket=local_stack.bucket, Key=live_key)["Body"].read().decode()
    assert set(live_rows.splitlines()[1:]) <= set(merged.splitlines()), "a live row was changed"
    assert report["verify"]["ok"] is True, report["verify"]
    counts = sink_counts(local_stack, "yahoo_finance", "2026-11-19T15:00Z", "2026-11-19T15:39Z")
    assert counts["missing"] == counts["extra"] == 0

    code, again = backfill(local_stack, "yahoo_finance", "--from", "2026-11-19T15:00Z", "--to", "2026-11-19T15:35Z")

    assert (code, again["backfill"]["written"]) == (0, 0)
    assert sink_counts(local_stack, "yahoo_finance", "2026-11-19T15:00Z", "2026-11-19T15:39Z") == counts


def test_days_of_rates_are_backfilled_from_the_historical_endpoint_once_each(local_stack):
    empty(local_stack)
    window = ("--from", "2026-11-10T00:00Z", "--to", "2026-11-13T00:00Z")

    code, report = backfill(local_stack, "openexchangerates", *window)

    assert code == 0, report
    assert report["backfill"]["written"] == report["backfill"]["requests"] == 3
    assert keys(local_stack, "raw/openexchangerates/") == [
        "raw/openexchangerates/2026/11/11/0000.csv", "raw/openexchangerates/2026/11/12/0000.csv",
        "raw/openexchangerates/2026/11/13/0000.csv",
    ]  # fmt: skip
    assert report["verify"]["ok"] is True

    code, again = backfill(local_stack, "openexchangerates", *window)

    assert (code, again["backfill"]["written"], again["backfill"]["unchanged"]) == (0, 0, 3)


def test_an_interrupted_backfill_resumes_after_the_last_piece_done(local_stack, local_env):
    from pipeline import aws
    from workbench.backfill import backfill as fill

    empty(local_stack)
    settings = local_stack.settings().model_copy(update={"mode": "simulated", "universe_limit": UNIVERSE})
    s3, sns = aws.client("s3", settings), aws.client("sns", settings)
    start, end = datetime(2026, 11, 20, 15, tzinfo=UTC), datetime(2026, 11, 20, 18, tzinfo=UTC)

    def interrupt(done, _total, _piece):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill("yahoo_finance", start, end, settings=settings, s3=s3, sns=sns, on_piece=interrupt)
    resumed = fill("yahoo_finance", start, end, settings=settings, s3=s3, sns=sns)

    assert (resumed.pieces, resumed.resumed, len(resumed.written)) == (3, 1, 2)
    assert not keys(local_stack, "state/backfill_")  # finished: no progress left behind


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["coinmarketcap", "--from", "2026-11-10T00:00Z", "--to", "2026-11-11T00:00Z"], "paid CoinMarketCap API plan"),
        (["yahoo_finance", "--from", "2026-11-18T16:00Z", "--to", "2026-11-18T15:00Z"], "must be after --from"),
        (["yahoo_finance", "--from", "2026-11-18T16:00Z", "--to", "soon"], "--to"),
    ],
)
def test_a_backfill_that_cannot_be_done_is_one_line_and_exit_1(local_stack, args, says):
    result = pipeline(local_stack, "backfill", *args)

    assert result.returncode == 1, result.stdout
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- the live historical endpoint, through the same client as latest.json --------------------------------------

DAY = date(2026, 11, 10)
BODY = {"disclaimer": oxr.DISCLAIMER, "license": oxr.LICENSE, "timestamp": int(datetime(2026, 11, 10, 23, 59, 59,
        tzinfo=UTC).timestamp()), "base": "USD", "rates": {"EUR": 0.9213, "JPY": 153.2, "GBP": 0.7741}}  # fmt: skip


@responses.activate
def test_the_historical_call_asks_the_day_with_the_app_id_in_a_header_only():
    url = oxr.HISTORICAL_URL.format(day="2026-11-10")
    responses.get(url, json=BODY)

    body = oxr.call_historical("secret-app-id", DAY)
    rows = oxr.parse_body(body, scheduled_at=datetime(2026, 11, 11, tzinfo=UTC), ingested_at=datetime.now(UTC))

    (call,) = responses.calls
    assert call.request.url == url and "secret-app-id" not in call.request.url
    assert call.request.headers["Authorization"] == "Token secret-app-id"
    assert {r["currency"]: r["rate"] for r in rows} == {"EUR": 0.9213, "JPY": 153.2, "GBP": 0.7741}
    assert {r["rate_ts"] for r in rows} == {"2026-11-10T23:59:59Z"}


@responses.activate
@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [(403, "not_allowed", oxr.UpstreamRefused), (401, "invalid_app_id", oxr.UpstreamRefused),
     (429, "not_allowed", oxr.UpstreamError)],
)  # fmt: skip
def test_a_refused_historical_call_raises_what_latest_would(status, message, kind):
    responses.get(oxr.HISTORICAL_URL.format(day="2026-11-10"), status=status,
                  json={"error": True, "status": status, "message": message, "description": "no"})  # fmt: skip

    with pytest.raises(kind) as caught:
        oxr.call_historical("secret-app-id", DAY)

    assert message in str(caught.value) and "secret-app-id" not in str(caught.value)


def test_backfill_pieces_follow_the_session_hours():
    from workbench.backfill import yahoo_pieces

    pieces = yahoo_pieces(datetime(2026, 11, 27, 14, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))

    # the day after Thanksgiving closes at 13:00 New York (18:00 UTC); the weekend has none; Monday from 14:30
    assert [p.key[-19:] for p in pieces] == [
        "2026/11/27/1500.csv", "2026/11/27/1600.csv", "2026/11/27/1700.csv", "2026/11/27/1800.csv",
        "2026/11/30/1500.csv", "2026/11/30/1600.csv",
    ]  # fmt: skip
    assert pieces[0].start == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert timedelta(0) < pieces[-1].end - pieces[-1].start <= timedelta(hours=1)


def test_a_merge_into_a_stored_object_keeps_the_columns_it_has_beyond_the_declared_ones():
    """No stack needed (moto in process): a raw object an older release wrote with a column the registry no longer
    declares is merged into; the rewrite keeps that column and its cells instead of failing or dropping it."""
    from moto import mock_aws

    from pipeline.raw import read_raw, rows_to_csv
    from pipeline.settings import Settings
    from workbench.backfill import BackfillReport, Piece, _write

    key = "raw/openexchangerates/2026/11/02/2359.csv"
    day = datetime(2026, 11, 2, tzinfo=UTC)

    def rate(currency: str) -> dict:
        return {"base": "USD", "currency": currency, "rate": 0.9, "rate_ts": "2026-11-02T23:00:00Z",
                "status": "success", "error": "", "scheduled_at": "2026-11-02T23:59:00Z",
                "ingested_at": "2026-11-02T23:59:02Z"}  # fmt: skip

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sns = boto3.client("sns", region_name="us-east-1")
        s3.create_bucket(Bucket="raw-bucket")
        topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        stored = rows_to_csv("openexchangerates", [{**rate("EUR"), "note": "kept"}], carried=["note"])
        s3.put_object(Bucket="raw-bucket", Key=key, Body=stored)
        report = BackfillReport("openexchangerates", day, day + timedelta(days=1))

        _write(
            "openexchangerates", Piece(key, day, day + timedelta(days=1)), [rate("GBP")], report,
            settings=Settings(bucket="raw-bucket", topic_arn=topic), s3=s3, sns=sns, after_publish=None,
        )  # fmt: skip

        rows = read_raw(s3, "raw-bucket", key, "openexchangerates")
    assert report.written == [key] and report.rows_added == 1
    assert [(r["currency"], r["note"]) for r in rows] == [("EUR", "kept"), ("GBP", "")]
