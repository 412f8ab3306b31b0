"""The checkers of chapter 02 (the raw layer)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, function_answer


@exercise("02.raw_key", "the raw key of yahoo_finance's 23:59 on 31 December 2026")
def _raw_key(answer: Any, **_: Any) -> str:
    from datetime import UTC, datetime

    from pipeline.contracts import raw_key

    expected = raw_key("yahoo_finance", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    if not isinstance(answer, str):
        raise NotYet(f"a key is a string like 'raw/<source>/YYYY/MM/DD/HHMM.csv', not a {type(answer).__name__}.")
    if answer.strip() != answer or answer.startswith("/") or answer.startswith("s3://"):
        raise NotYet("a key has no bucket, no leading slash and no spaces: it starts with 'raw/'.")
    if answer != expected:
        want, got = expected.split("/"), answer.split("/")
        names = ["prefix", "source", "year", "month", "day", "file name (HHMM.csv, the minute in UTC)"]
        wrong = next((n for n, w, g in zip(names, want, got, strict=False) if w != g), "number of parts")
        raise NotYet(f"the {wrong} is wrong: compare with raw/<source>/YYYY/MM/DD/HHMM.csv.")
    return f"{expected}: the minute in UTC, year, month and day as folders, so keys sort by time."


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


@exercise("02.keeps_existing", "a function keeps(had, new) that says when write_raw keeps the object already there")
def _keeps_existing(answer: Any, **_: Any) -> str:
    keeps = function_answer(answer, "keeps(had, new) -> bool")
    for had, new in ((5, 3), (5, 5), (3, 5), (0, 0), (1, 0), (503, 20)):
        expected = _write_raw_keeps(had, new)
        if bool(keeps(had, new)) != expected:
            does = "keeps the existing object" if expected else "writes the new one"
            raise NotYet(f"with {had} success rows there and {new} in the new fetch, write_raw {does}.")
    return "write_raw keeps the object only when it holds more success rows than the new fetch; a tie writes anew."
