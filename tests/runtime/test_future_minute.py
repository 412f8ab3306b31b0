"""A scheduled minute that has not come yet is refused by the ingest itself (the handler Lambda runs), before
anything is fetched, written, published or kept in a source's state: one future minute would otherwise move
Open Exchange Rates' state ahead of the clock and every later real minute would be skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline import aws, clients
from pipeline.contracts import floor_minute, iso
from pipeline.errors import TerminalError
from pipeline.handlers import ingest as ingest_handlers
from workbench.local.demo import use_stack
from workbench.local.runtime import scheduled_event

pytestmark = pytest.mark.stack
SOURCE = "openexchangerates"


@pytest.fixture
def s3(clean_stack, local_env):
    use_stack(clean_stack)
    clients.reset()
    yield aws.client("s3", local_env)
    clients.reset()


def _keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    "later",
    [timedelta(minutes=10), timedelta(hours=1), timedelta(days=60), timedelta(days=365 * 70)],
    ids=["10 minutes", "an hour", "two months", "decades"],
)
@pytest.mark.parametrize("source", [SOURCE, "coinmarketcap", "yahoo_finance"])
def test_a_future_scheduled_minute_is_refused_and_nothing_is_written(s3, local_env, source, later):
    at = floor_minute(_now() + later)

    with pytest.raises(TerminalError) as refused:
        getattr(ingest_handlers, source)(scheduled_event(source, at), None)

    assert str(refused.value).startswith(f"{source}: scheduled minute {iso(at)} is later than the clock")
    assert "\n" not in str(refused.value)
    assert _keys(s3, local_env.bucket) == []  # no raw object, no state document (OXR's month and minute untouched)


@pytest.mark.parametrize(
    "earlier",
    [timedelta(days=30), timedelta(hours=1), timedelta(0), timedelta(minutes=-1)],
    ids=["a month ago", "an hour ago", "this minute", "next minute, within the clock skew"],
)
def test_a_minute_that_has_come_is_ingested_and_a_later_real_minute_still_is(s3, local_env, earlier):
    at = floor_minute(_now() - earlier)

    result = ingest_handlers.openexchangerates(scheduled_event(SOURCE, at), None)

    assert result["skipped"] is None and result["success_rows"] > 0
    keys = _keys(s3, local_env.bucket)
    assert f"raw/{SOURCE}/{at:%Y/%m/%d/%H%M}.csv" in keys and f"state/{SOURCE}.json" in keys


def test_a_refused_future_minute_leaves_the_state_as_it_was(s3, local_env):
    past = floor_minute(_now() - timedelta(hours=3))
    ingest_handlers.openexchangerates(scheduled_event(SOURCE, past), None)
    before = s3.get_object(Bucket=local_env.bucket, Key=f"state/{SOURCE}.json")["Body"].read()

    with pytest.raises(TerminalError):
        ingest_handlers.openexchangerates(scheduled_event(SOURCE, floor_minute(_now() + timedelta(days=60))), None)

    assert s3.get_object(Bucket=local_env.bucket, Key=f"state/{SOURCE}.json")["Body"].read() == before
    # the next real minute an hour after the last call is fetched, not skipped as if 2027 had been
    later = ingest_handlers.openexchangerates(scheduled_event(SOURCE, past + timedelta(hours=1, minutes=1)), None)
    assert later["skipped"] is None and later["success_rows"] > 0
