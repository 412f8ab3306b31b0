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


def _key_mistake(answer: str, expected: str, minute: Any, source: str = "yahoo_finance") -> str:
    """Why `answer` is not the key of `minute`, naming the mistake learners make."""
    from datetime import timedelta

    from pipeline.contracts import raw_key

    if answer.strip() != answer or answer.startswith(("/", "s3://")):
        return "a key has no bucket, no scheme, no leading slash and no spaces around it: it starts with 'raw/'."
    later = {raw_key(source, minute + timedelta(minutes=m)): m for m in (1, 2)}
    if answer in later:
        return (
            "that is the key of a later minute (another day, another year): the wall clock of a late run; a key "
            "comes from the scheduled minute, so a retry or a late run writes the same key."
        )
    hours = [h for h in range(-12, 15) if h and raw_key(source, minute + timedelta(hours=h)) == answer]
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
    if wrong == "year" and got[2] == str(minute.isocalendar().year):
        return "the year is the ISO week's year (%G), not the calendar year (%Y): on 1 January they differ."
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
    import logging

    from pipeline.raw import log, write_raw

    s3: Any = _Head(had)  # a stand-in for the S3 client: only head_object and put_object
    rows = [{"symbol": f"S{i}", "status": "success"} for i in range(new)] + [{"symbol": "X", "status": "error"}]
    level = log.level
    log.setLevel(logging.ERROR)  # its "kept ..." warning is about the stand-in's key, which the learner never saw
    try:
        return write_raw(s3, "bucket", "raw/yahoo_finance/2026/11/02/1530.csv", "yahoo_finance", rows).kept_existing
    finally:
        log.setLevel(level)


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


# The scheduled minutes 02.key_function is run on, as `scheduled_minute` reads them from EventBridge's events: the
# notebook's own, the year's last (a late clock is another year), single digits everywhere (zero padding), an
# afternoon (a 12-hour clock), each for every source.
KEY_MINUTES = ("2026-11-05T15:30:00Z", "2026-12-31T23:59:00Z", "2027-01-01T03:04:00Z", "2026-07-15T13:05:00Z")


def key_cases() -> list[tuple[str, Any, str]]:
    """(source, scheduled minute, the pipeline's key) of every case 02.key_function is run on."""
    from pipeline.contracts import raw_key, scheduled_minute, to_utc
    from pipeline.registry import source_ids
    from workbench.local.events import scheduled_event

    minutes = [scheduled_minute(scheduled_event("yahoo_finance", to_utc(at))) for at in KEY_MINUTES]
    return [(source, minute, raw_key(source, minute)) for minute in minutes for source in source_ids()]


@exercise("02.key_function", "my_raw_key(source, scheduled_at): the raw key of a source's scheduled minute")
def _key_function(answer: Any, **_: Any) -> str:
    from pathlib import PurePosixPath

    from pipeline.contracts import raw_key

    if answer is raw_key:
        raise NotYet("that is the pipeline's own raw_key, imported: write yours, from the minute's year, month, "
                     "day, hour and minute.")  # fmt: skip
    key_of = function_answer(answer, "my_raw_key(source, scheduled_at)")
    cases = key_cases()
    got = []
    for source, minute, _expected in cases:
        try:
            value = key_of(source, minute)
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            raise NotYet(
                f"the ingest calls it as raw_key(source, scheduled_at), two arguments: yours said {exc}."
            ) from None
        if isinstance(value, PurePosixPath):
            raise NotYet(
                f"it returned a {type(value).__name__}: the ingest hands the key to S3 (put_object's Key), which "
                "takes text, so return str(...) of it."
            )
        got.append(value)
    for (source, minute, expected), key in zip(cases, got, strict=True):
        if key != expected:
            raise NotYet(_function_mistake(key, expected, minute, source, got))
    return (
        f"the same key as pipeline.contracts.raw_key on {len(cases)} scheduled minutes of every source: the minute "
        "in UTC, zero-padded, from the argument, never from the clock."
    )


def _function_mistake(key: Any, expected: str, minute: Any, source: str, got: list[Any]) -> str:
    """Why `key` is not the key of (source, minute), naming the mistake; `got`: every key the function gave."""
    when = f"{source} at {minute:%Y-%m-%dT%H:%MZ}"
    if not isinstance(key, str):
        return f"for {when} it returned a {type(key).__name__}: a key is the text 'raw/<source>/YYYY/MM/DD/HHMM.csv'."
    if _of_the_wall_clock(key):
        return (
            f"for {when} it returned {key}, the minute of the wall clock: a key comes from the scheduled minute it "
            "is given, so a retry or a late run writes the same key."
        )
    parts, want = key.split("/"), expected.split("/")
    if len(parts) == len(want) and parts[1] != source and parts[1] in {"yahoo_finance", "coinmarketcap"}:
        return f"for {when} the source folder is {parts[1]!r}: it comes from the `source` argument."
    if len(set(got)) < len(got) // 2:
        return f"it returns the same key for different minutes ({key}): the key must follow scheduled_at."
    if len(parts) == len(want) and parts[:5] == want[:5] and parts[5][2:] == want[5][2:]:
        hour, wanted = parts[5][:2], want[5][:2]
        if hour.isdigit() and int(wanted) - int(hour) == 12:
            return (
                f"for {when} the file is {parts[5]}: that is the 12-hour clock (%I), a key uses the 24-hour one "
                "(%H), or 01:05 and 13:05 would share a key."
            )
    return f"for {when}: " + _key_mistake(key, expected, minute, source)


def _of_the_wall_clock(key: str) -> bool:
    """Whether `key` is a raw key of a minute within ten minutes of now."""
    from datetime import UTC, datetime, timedelta

    from pipeline.contracts import parse_raw_key

    try:
        _, minute = parse_raw_key(key)
    except ValueError:
        return False
    return abs(minute - datetime.now(UTC)) < timedelta(minutes=10)
