"""The demo's fixed window after a run of a later day (the soak's): the simulated sources' state is started afresh,
so forex loads rates; a real plan's state (PIPELINE_MODE=live) is never touched."""

from __future__ import annotations

import json

import boto3
import pytest

from workbench.cloudformation.topology import LOCAL_CREDENTIALS
from workbench.local.demo import DEFAULT_START, reset_later_state, run_minutes, use_stack
from workbench.local.servers import LocalStack

pytestmark = pytest.mark.stack

LATER = {"month": "2026-11", "calls": 1440, "last_call": "2026-11-17T23:59:00Z", "minute": "2026-11-17T23:59:00Z"}
EARLIER = {"month": "2026-11", "calls": 3, "last_call": "2026-11-02T09:00:00Z", "minute": "2026-11-02T09:00:00Z"}


def _s3(stack: LocalStack):
    return boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
                        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS)  # fmt: skip


def _put(stack: LocalStack, name: str, doc: object) -> None:
    _s3(stack).put_object(Bucket=stack.bucket, Key=f"state/{name}.json", Body=json.dumps(doc).encode())


def _names(stack: LocalStack) -> set[str]:
    listed = _s3(stack).list_objects_v2(Bucket=stack.bucket, Prefix="state/").get("Contents", [])
    return {o["Key"] for o in listed}


def test_a_later_days_forex_state_is_reset_and_the_window_loads_rates(clean_stack: LocalStack) -> None:
    # GIVEN the forex quota document a soak of 17 November leaves behind
    settings = use_stack(clean_stack)
    _put(clean_stack, "openexchangerates", LATER)

    # WHEN the demo's window (2 November) starts
    lines = reset_later_state(settings, DEFAULT_START)

    # THEN the document is gone, with one line saying why, and the window's minutes load rates
    assert lines == [
        "state/openexchangerates.json was written after 2026-11-02T14:45:00Z (by a later run): reset, its counts "
        "with it, as this window comes first"
    ]
    report = run_minutes(clean_stack, 2, DEFAULT_START, sources=["openexchangerates"], progress=False)
    assert report.sources["openexchangerates"].rows_processed > 0


@pytest.mark.parametrize(
    "doc",
    [EARLIER, {"month": "2026-11", "calls": 0}, {"minute": "not a time"}, ["a", "list"], "text"],
    ids=["earlier", "no-time", "unreadable-time", "a-list", "a-string"],
)
def test_a_state_document_of_an_earlier_time_or_none_is_kept(clean_stack: LocalStack, doc: object) -> None:
    settings = use_stack(clean_stack)
    _put(clean_stack, "openexchangerates", doc)

    assert reset_later_state(settings, DEFAULT_START) == []
    assert _names(clean_stack) == {"state/openexchangerates.json"}


def test_a_live_plans_state_is_never_reset(clean_stack: LocalStack) -> None:
    settings = use_stack(clean_stack, mode="live")
    try:
        _put(clean_stack, "openexchangerates", LATER)
        assert reset_later_state(settings, DEFAULT_START) == []
        assert _names(clean_stack) == {"state/openexchangerates.json"}
    finally:
        clean_stack.overrides.pop("mode", None)
        use_stack(clean_stack)
