"""The checkers of chapter 03 (fan-out: SNS, SQS FIFO, dead letters)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, same

_PUBLISHES = {
    "the same object published again": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"'),
    "the same key with new content": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e2"'),
    "the next minute's object": ("market-data", "raw/yahoo_finance/2026/11/02/1601.csv", '"e1"'),
    "the same object, its ETag without quotes": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", "e1"),
}


def publishes() -> dict[str, tuple[str, str, str]]:
    """The publishes of exercise 03.dropped, (bucket, key, ETag) by label, each after the first publish of
    ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"')."""
    return dict(_PUBLISHES)


@exercise("03.dropped", "which publishes, within five minutes of the first, SQS FIFO drops as duplicates")
def _dropped(answer: Any, **_: Any) -> str:
    from pipeline.contracts import deduplication_id

    if not isinstance(answer, dict) or set(answer) != set(_PUBLISHES):
        raise NotYet("the answer should be a dict: each of course.publishes() -> True (dropped) or False.")
    first = deduplication_id("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"')
    for label, (bucket, key, etag) in _PUBLISHES.items():
        dropped = deduplication_id(bucket, key, etag) == first
        if bool(answer[label]) != dropped:
            how = "has the same deduplication id, so it is dropped" if dropped else "has a new id and is delivered"
            raise NotYet(f"{label} {how} (the id hashes bucket, key and the ETag without its quotes).")
    return "only the same bucket, key and content give the same id; new content, or another minute, is delivered."


@exercise("03.dlq_max1", "with maxReceiveCount 1, the receive count a message never answered has in the DLQ")
def _dlq_max1(answer: Any, *, measured: int | None = None, **_: Any) -> str:
    # One delivery (count 1); the next receive finds the count past the limit and moves the message instead.
    expected = 2 if measured is None else measured
    if answer == 1:
        raise NotYet("the receive that finds the count past the limit, and moves the message, counts too.")
    same(answer, expected, "the receive count in the DLQ")
    return "maxReceiveCount + 1: the deliveries, then the receive at which SQS moved it instead of delivering it."
