"""The shared monthly budget primitives (pipeline.sources.budget), table-driven: the month a time counts in, the
month's span, the pace of an allowance, the count a document holds, and the once-a-day reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline.sources import budget


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("at", "key", "start", "end"),
    [
        (utc(2026, 1, 31, 23, 59, 59), "2026-01", utc(2026, 1, 1), utc(2026, 2, 1)),
        (utc(2026, 2, 1), "2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
        (utc(2024, 2, 29, 12), "2024-02", utc(2024, 2, 1), utc(2024, 3, 1)),  # leap February: 29 days
        (utc(2025, 2, 28, 23, 59), "2025-02", utc(2025, 2, 1), utc(2025, 3, 1)),
        (utc(2026, 4, 30, 23, 59), "2026-04", utc(2026, 4, 1), utc(2026, 5, 1)),
        (utc(2026, 12, 31, 23, 59, 59, 999999), "2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),  # the year turns
        (utc(2027, 1, 1), "2027-01", utc(2027, 1, 1), utc(2027, 2, 1)),
        # New York's clocks change on 8 March and 1 November 2026; the month in UTC does not care
        (utc(2026, 3, 8, 7), "2026-03", utc(2026, 3, 1), utc(2026, 4, 1)),
        (utc(2026, 11, 1, 6), "2026-11", utc(2026, 11, 1), utc(2026, 12, 1)),
        # an aware time in another zone counts in its UTC month: 31 March 22:00 in New York is April in UTC
        (datetime(2026, 3, 31, 22, tzinfo=NEW_YORK), "2026-04", utc(2026, 4, 1), utc(2026, 5, 1)),
        (datetime(2026, 6, 1, 1, tzinfo=timezone(timedelta(hours=2))), "2026-05", utc(2026, 5, 1), utc(2026, 6, 1)),
    ],
)
def test_the_month_of_a_time_and_its_span_in_utc(at: datetime, key: str, start: datetime, end: datetime) -> None:
    assert budget.month_key(at) == key
    assert budget.month_span(at) == (start, end)
    first, following = budget.month_span(at)
    assert first.tzinfo is UTC and following.tzinfo is UTC
    assert first <= at < following


@pytest.mark.parametrize(
    ("month", "days"),
    [((2026, 1), 31), ((2026, 2), 28), ((2024, 2), 29), ((2100, 2), 28), ((2000, 2), 29), ((2026, 3), 31),
     ((2026, 4), 30), ((2026, 11), 30), ((2026, 12), 31)],
)  # fmt: skip
def test_a_month_is_whole_utc_days(month: tuple[int, int], days: int) -> None:
    start, end = budget.month_span(utc(*month, 15))
    assert end - start == timedelta(days=days)


@pytest.mark.parametrize(
    ("monthly", "at", "allowed"),
    [
        (1000, utc(2026, 4, 1), 1),  # the first instant of the month: one call
        (1000, utc(2026, 4, 1, 0, 43), 1),  # 1000 * 43 / 43200 minutes: still below one more
        (1000, utc(2026, 4, 1, 0, 44), 2),
        (1000, utc(2026, 4, 16), 501),  # 30-day month: 15 days gone is half
        (1000, utc(2026, 4, 30, 23, 59, 59), 1000),  # the end: the whole allowance, never more
        (10_000, utc(2026, 3, 16, 12), 5001),  # 31-day month: 15.5 days gone is half
        (10_000, utc(2024, 2, 15), 4828),  # leap February: 14 of 29 days
        (10_000, utc(2025, 2, 15), 5001),  # February: 14 of 28 days
        (0, utc(2026, 4, 16), 0),  # an allowance of 0 allows nothing by its pace (callers treat 0 as unlimited)
        (1, utc(2026, 4, 1), 1),
        (1, utc(2026, 4, 30, 23, 59), 1),
    ],
)
def test_the_pace_at_the_start_the_middle_and_the_end_of_a_month(monthly: int, at: datetime, allowed: int) -> None:
    assert budget.pace(monthly, at) == allowed


@pytest.mark.parametrize(
    ("used", "monthly", "reason"),
    [
        (0, 1000, None),
        (500, 1000, None),
        (501, 1000, "501 of 1000 calls used this month; the pace allows 501 by now"),
        (999_999, 0, None),  # 0: unlimited
    ],
)
def test_over_pace_names_the_count_and_the_pace(used: int, monthly: int, reason: str | None) -> None:
    assert budget.over_pace(used, monthly, utc(2026, 4, 16), "calls") == reason


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: budget.month_key(datetime(2026, 4, 1)), ValueError),  # naive: no month
        (lambda: budget.month_span(datetime(2026, 4, 30, 23, 59)), ValueError),
        (lambda: budget.pace(1000, datetime(2026, 4, 16)), ValueError),
        (lambda: budget.next_day(datetime(2026, 4, 16)), ValueError),
        (lambda: budget.used_this_month({"month": "2026-04", "calls": 3}, datetime(2026, 4, 16), "calls"), ValueError),
        (lambda: budget.pace(-1, utc(2026, 4, 16)), ValueError),  # a negative allowance
        (lambda: budget.pace(True, utc(2026, 4, 16)), ValueError),  # a flag is no allowance
        (lambda: budget.pace(10.5, utc(2026, 4, 16)), ValueError),  # nor a fraction
        (lambda: budget.month_key("2026-04-16T00:00Z"), TypeError),  # a string is not a time
    ],
)
def test_known_wrong_inputs_are_refused(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


@pytest.mark.parametrize(
    ("doc", "at", "used"),
    [
        (None, utc(2026, 4, 16), 0),
        ({}, utc(2026, 4, 16), 0),
        ({"month": "2026-04", "calls": 7}, utc(2026, 4, 30, 23, 59), 7),
        ({"month": "2026-03", "calls": 7}, utc(2026, 4, 1), 0),  # last month's count: a new month starts at 0
        ({"month": "2026-04"}, utc(2026, 4, 2), 0),
    ],
)
def test_the_count_a_document_holds_is_this_months_only(doc: dict[str, Any] | None, at: datetime, used: int) -> None:
    assert budget.used_this_month(doc, at, "calls") == used


@pytest.mark.parametrize(
    ("at", "following"),
    [
        (utc(2026, 4, 16, 13, 5), utc(2026, 4, 17)),
        (utc(2026, 4, 30, 23, 59), utc(2026, 5, 1)),
        (utc(2024, 2, 28, 1), utc(2024, 2, 29)),
        (utc(2026, 12, 31), utc(2027, 1, 1)),
    ],
)
def test_the_next_day_starts_at_midnight_utc(at: datetime, following: datetime) -> None:
    assert budget.next_day(at) == following


MINUTE, NOW = utc(2026, 4, 16, 12), utc(2026, 4, 16, 12, 0, 20)


@pytest.mark.parametrize(
    ("doc", "answer", "expected"),
    [
        # first check of the day: the service's count when it is higher
        ({"month": "2026-04", "calls": 3}, 10, {"month": "2026-04", "calls": 10, "checked": "2026-04-16"}),
        # never lowered: the document counted calls the service has not seen yet
        ({"month": "2026-04", "calls": 12}, 10, {"month": "2026-04", "calls": 12, "checked": "2026-04-16"}),
        # last month's document: this month's count is the service's
        ({"month": "2026-03", "calls": 900}, 4, {"month": "2026-04", "calls": 4, "checked": "2026-04-16"}),
        # the service could not be asked: checked for today, the count stays the document's own
        ({"month": "2026-04", "calls": 3}, None, {"month": "2026-04", "calls": 3, "checked": "2026-04-16"}),
        (None, 2, {"month": "2026-04", "calls": 2, "checked": "2026-04-16"}),
        # already checked today, or written for a later minute or at a later time: nothing to change
        ({"month": "2026-04", "calls": 3, "checked": "2026-04-16"}, 10, None),
        ({"month": "2026-04", "calls": 3, "minute": "2026-04-16T12:01:00Z"}, 10, None),
        ({"month": "2026-04", "calls": 3, "last_call": "2026-04-16T12:00:30Z"}, 10, None),
    ],
)
def test_the_daily_reconciliation(doc: dict[str, Any] | None, answer: int | None, expected: Any) -> None:
    asked: list[dict[str, Any]] = []

    def read_count(record: dict[str, Any]) -> int | None:
        asked.append(record)
        return answer

    before = dict(doc) if doc is not None else None
    out = budget.reconciled(doc, MINUTE, NOW, checked="checked", counter="calls", read_count=read_count)
    if expected is None:
        assert out is None and not asked  # the service is not asked either
    else:
        assert out is not None
        assert {k: out[k] for k in expected} == expected
    assert doc == before  # the document read is never changed in place
