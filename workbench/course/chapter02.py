"""The checkers of chapter 02 (the raw layer)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, function_answer

YEAR_END = "2026-12-31T23:59:00Z"  # the exercise's scheduled minute
KEY_PARTS = ("prefix", "source", "year", "month", "day", "file name (HHMM.csv, the minute in UTC)")


@exercise("02.raw_key", "the raw key of yahoo_finance's 23:59 on 31 December 2026")
def _raw_key(answer: Any, **_: Any) -> str:
    from pathlib import PurePosixPath

    from pipeline.contracts import raw_key, to_utc

    minute = to_utc(YEAR_END)
    expected = raw_key("yahoo_finance", minute)
    if isinstance(answer, PurePosixPath):  # a path of the key's parts is the same key
        answer = str(answer)
    if not isinstance(answer, str):
        raise NotYet(
            f"a key is the text S3 files the object under, 'raw/<source>/YYYY/MM/DD/HHMM.csv': a "
            f"{type(answer).__name__} is not one."
        )
    if answer == expected:
        return f"{expected}: the minute in UTC, year, month and day as folders, so keys sort by time."
    raise NotYet(_key_mistake(answer, expected, minute))


def _key_mistake(answer: str, expected: str, minute: Any) -> str:
    """Why `answer` is not the key of `minute`, naming the mistake learners make."""
    from datetime import timedelta

    from pipeline.contracts import raw_key

    if answer.strip() != answer or answer.startswith(("/", "s3://")):
        return "a key has no bucket, no scheme, no leading slash and no spaces around it: it starts with 'raw/'."
    later = {raw_key("yahoo_finance", minute + timedelta(minutes=m)): m for m in (1, 2)}
    if answer in later:
        return (
            "that is the key of a later minute (another day, another year): the wall clock of a late run; a key "
            "comes from the scheduled minute, so a retry or a late run writes the same key."
        )
    hours = [h for h in range(-12, 15) if h and raw_key("yahoo_finance", minute + timedelta(hours=h)) == answer]
    if hours:
        return f"that minute is {abs(hours[0])} h off UTC: a key's minute is in UTC, never in a local time zone."
    want, got = expected.split("/"), answer.split("/")
    if len(got) != len(want):
        return (
            f"a raw key has {len(want)} parts, yours has {len(got)}: year, month and day are three folders "
            "(raw/<source>/YYYY/MM/DD/HHMM.csv), so a day's objects list under one prefix and sort by time."
        )
    wrong = next(n for n, w, g in zip(KEY_PARTS, want, got, strict=True) if w != g)
    if wrong == "source":
        return "the source folder is the registry's id of the source (pipeline.registry.source_ids())."
    return f"the {wrong} is not right: compare with raw/<source>/YYYY/MM/DD/HHMM.csv, zero-padded, in UTC."


class _Head:
    """A stand-in for S3 holding at most one object, enough for `write_raw` to decide (02.keeps_existing)."""

    class exceptions:  # the boto3 client's attribute name
        from botocore.exceptions import ClientError

    def __init__(self, success_rows: int | None) -> None:
        from pipeline.constants import META_ROWS, META_SUCCESS_ROWS

        count = str(success_rows)
        self.meta = None if success_rows is None else {META_ROWS: count, META_SUCCESS_ROWS: count}
        self.put = False

    def head_object(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if self.meta is None:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"Metadata": self.meta, "ETag": '"old"'}

    def put_object(self, **_: Any) -> dict[str, Any]:
        self.put = True
        return {"ETag": '"new"'}


def _write_raw_keeps(had: int, new: int) -> bool:
    from pipeline.raw import write_raw

    s3: Any = _Head(had)  # a stand-in for the S3 client: only head_object and put_object
    rows = [{"symbol": f"S{i}", "status": "success"} for i in range(new)] + [{"symbol": "X", "status": "error"}]
    return write_raw(s3, "bucket", "raw/yahoo_finance/2026/11/02/1530.csv", "yahoo_finance", rows).kept_existing


CASES = ((5, 3), (5, 5), (3, 5), (0, 0), (1, 0), (0, 1), (503, 20), (20, 503))


@exercise("02.keeps_existing", "a function keeps(had, new) that says when write_raw keeps the object already there")
def _keeps_existing(answer: Any, **_: Any) -> str:
    keeps = function_answer(answer, "keeps(had, new)")
    wrong = [(had, new) for had, new in CASES if _truth(keeps(had, new)) != _write_raw_keeps(had, new)]
    if wrong:
        raise NotYet(_keeps_mistake(wrong))
    return "write_raw keeps the object only when it holds more success rows than the new fetch; a tie writes anew."


def _truth(value: Any) -> bool:
    if isinstance(value, str):  # "False" is a true string: say what is meant
        raise NotYet(f"keeps returned the text {value!r}: return True or False.")
    return bool(value)


def _keeps_mistake(wrong: list[tuple[int, int]]) -> str:
    """The mistake behind the cases `keeps` got wrong."""
    if set(wrong) == {(h, n) for h, n in CASES if h != n}:
        return "backwards: write_raw keeps the object there when it holds more success rows than the new fetch."
    if all(h == n for h, n in wrong):
        return (
            "a tie writes anew: with as many success rows in the new fetch as there, write_raw writes it "
            "(keeping needs strictly more success rows there)."
        )
    if all(h > n for h, n in wrong):
        had, new = wrong[0]
        return (
            f"a worse answer must not replace a better one: with {had} success rows there and {new} in the new "
            "fetch, write_raw keeps the object there."
        )
    had, new = next((case for case in wrong if case[0] < case[1]), wrong[0])
    return (
        f"a better answer replaces a worse one: with {had} success rows there and {new} in the new fetch, "
        "write_raw writes the new one."
    )
