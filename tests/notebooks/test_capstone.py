"""The capstone (notebooks/09_capstone.ipynb and its checkers in workbench/course/chapter09.py).

- The checkers' table: for each exercise, the mistakes learners make are "not yet" with a reason that names the
  mistake, and right answers written other ways are "right"; the untouched stub is "not yet" and never raises.
- The committed notebook keeps its answers hidden: a neutral first line, collapsed, no output and no verdict.
- The notebook runs top to bottom under papermill on the local stack (no account, no key): a fourth source declared
  with the registry, minutes of it through the handlers into its sink, proved with `verify`.

The capstone's exercises are registered with the course's checker (`workbench.course.chapter09`); their table is
here, the other chapters' in `tests/notebooks/test_exercises.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import nbformat
import papermill
import pytest
from pydantic import Field, confloat, constr, field_validator

from pipeline import registry
from pipeline.contracts import iso
from pipeline.schemas import UtcDatetime, _Row
from pipeline.sources.base import PayloadError
from workbench.course import (
    EXERCISES,
    KERNEL,
    SOLUTION_FIRST_LINE,
    SOLUTION_TAG,
    kernel_config,
    output_problems,
    recorded,
)
from workbench.course import verdict as judge
from workbench.local.servers import LocalStack

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "09_capstone.ipynb"
NEUTRAL_FIRST_LINE = SOLUTION_FIRST_LINE


@pytest.fixture(scope="module", autouse=True)
def capstone() -> Iterator[ModuleType]:
    """workbench.course.capstone (its checkers, in chapter09, are registered with the course's)."""
    from workbench.course import capstone

    yield capstone
    capstone.forget()


def verdict(exercise_id: str, answer: Any) -> Any:
    return judge(exercise_id, answer)


# ---------------------------------------------------------------------------------------------------------
# 09.parse
# ---------------------------------------------------------------------------------------------------------
def parse_right(payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or "curve" not in payload:
        raise PayloadError("no curve")
    rows = []
    for quote in payload["curve"]:
        try:
            value, status, error = float(quote["yield"]), "success", ""
        except ValueError:
            value, status, error = None, "error", f"not a number: {quote['yield']}"
        rows.append({"tenor": quote["tenor"], "yield_pct": value, "quote_ts": payload["as_of"], "status": status,
                     "error": error, "scheduled_at": iso(scheduled_at), "ingested_at": iso(ingested_at)})  # fmt: skip
    return rows


def parse_other_way(payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[dict[str, Any]]:
    """Right, written another way: values kept as the payload's text, times as datetimes, rows in reverse order."""
    try:
        curve, as_of = payload["curve"], datetime.fromisoformat(payload["as_of"].replace("Z", "+00:00"))
    except (KeyError, TypeError) as exc:
        raise PayloadError(f"unreadable: {exc}") from exc
    rows = []
    for quote in reversed(curve):
        ok = quote["yield"].replace(".", "", 1).lstrip("-").isdigit()
        rows.append({"ingested_at": ingested_at, "scheduled_at": scheduled_at, "status": "success" if ok else "error",
                     "error": "" if ok else "N/A", "tenor": quote["tenor"], "yield_pct": quote["yield"] if ok else None,
                     "quote_ts": as_of})  # fmt: skip
    return rows


def _variant(**change: Any) -> Callable[..., Any]:
    """parse_right with one mistake."""

    def parse(payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> Any:
        if change.get("broken") == "returns nothing" and "curve" not in payload:
            return []
        if change.get("broken") == "key error":
            payload["curve"]
        if change.get("refuse_na") and any(q["yield"] == "N/A" for q in payload["curve"]):
            raise PayloadError("a tenor is not a number")
        if change.get("float_na"):
            [float(q["yield"]) for q in payload["curve"]]
        rows = parse_right(payload, scheduled_at=scheduled_at, ingested_at=ingested_at)
        if change.get("drop_errors"):
            rows = [r for r in rows if r["status"] == "success"]
        if change.get("error_as_success"):
            rows = [r | {"status": "success", "error": ""} for r in rows]
        if change.get("no_reason"):
            rows = [r | {"error": ""} for r in rows]
        if "scale" in change:
            rows = [r | {"yield_pct": r["yield_pct"] * change["scale"]} if r["yield_pct"] else r for r in rows]
        if change.get("wall_clock"):
            rows = [r | {"scheduled_at": iso(ingested_at)} for r in rows]
        if change.get("quote_is_minute"):
            rows = [r | {"quote_ts": iso(scheduled_at)} for r in rows]
        if change.get("quote_20s_before"):  # the feed's usual as_of, hard-coded
            rows = [r | {"quote_ts": iso(scheduled_at - timedelta(seconds=20))} for r in rows]
        if change.get("no_tail"):
            rows = [{k: v for k, v in r.items() if k not in ("scheduled_at", "ingested_at")} for r in rows]
        if change.get("extra"):
            rows = [r | {"record_date": "2026-11-13"} for r in rows]
        return rows

    return parse


PARSE_WRONG = {
    "drops the N/A tenor": (_variant(drop_errors=True), "never a lost row"),
    "N/A as a success row": (_variant(error_as_success=True), "makes an error row"),
    "error row without a reason": (_variant(no_reason=True), "says nothing in `error`"),
    "yields in basis points": (_variant(scale=100), "no scaling"),
    "scheduled_at from the clock": (_variant(wall_clock=True), "never a clock"),
    "quote_ts is the scheduled minute": (_variant(quote_is_minute=True), "the payload's as_of"),
    "quote_ts hard-coded 20 s before the minute": (
        _variant(quote_20s_before=True),
        "quote_ts must come from the payload's as_of, not from the scheduled minute",
    ),
    "no common tail": (_variant(no_tail=True), "common tail"),
    "an undeclared column": (_variant(extra=True), "does not name"),
    "a broken payload gives no rows": (_variant(broken="returns nothing"), "raise PayloadError"),
    "a broken payload raises KeyError": (_variant(broken="key error"), "raised KeyError"),
    "not a function": ("raw/treasury_yields", "should be the function"),
    "N/A refuses the payload": (_variant(refuse_na=True), "refused the whole payload of 15:04"),
    "N/A stops the parser": (_variant(float_na=True), "raised ValueError on the payload of 15:04"),
}


@pytest.mark.parametrize("answer", [parse_right, parse_other_way], ids=["floats", "text-datetimes-reversed"])
def test_parse_right_in_any_form(answer: Callable[..., Any]) -> None:
    result = verdict("09.parse", answer)
    assert result.ok, result.reason


@pytest.mark.parametrize(("answer", "words"), PARSE_WRONG.values(), ids=PARSE_WRONG.keys())
def test_parse_wrong_is_not_yet_with_why(answer: Any, words: str) -> None:
    result = verdict("09.parse", answer)
    assert not result.ok and words in result.reason, result.reason


# ---------------------------------------------------------------------------------------------------------
# 09.row_model
# ---------------------------------------------------------------------------------------------------------
class Yield(_Row):
    tenor: str = Field(min_length=2, max_length=3)
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class YieldOtherWay(_Row):
    """Right, written another way: constr/confloat, inclusive bounds, a validator for the tenor, extra fields."""

    quote_ts: UtcDatetime
    yield_pct: confloat(ge=-10, le=30)  # type: ignore[valid-type]
    tenor: constr(pattern=r"^\d{1,2}[MY]$")  # type: ignore[valid-type]
    record_date: str | None = None

    @field_validator("tenor")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class Unbounded(_Row):
    tenor: str
    yield_pct: float
    quote_ts: UtcDatetime


class OnlyPositive(_Row):
    tenor: str
    yield_pct: float = Field(gt=0, lt=50)
    quote_ts: UtcDatetime


class PlainDatetime(_Row):
    tenor: str
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: datetime


class NotARow(_Row.__base__):  # type: ignore[name-defined,misc]  # pydantic's BaseModel: no blanks, NaN allowed
    tenor: str
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class TextYield(_Row):
    tenor: str
    yield_pct: str
    quote_ts: UtcDatetime


class OptionalTenor(_Row):
    tenor: str | None = None
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class DecimalYield(_Row):
    tenor: str = Field(max_length=8)
    yield_pct: Decimal = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class NullableYield(_Row):
    tenor: str = Field(min_length=2, max_length=3)
    yield_pct: float | None = Field(default=None, gt=-5, lt=50)
    quote_ts: UtcDatetime


class AnyTenor(_Row):
    tenor: str
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class TenorAtLeastOne(_Row):
    tenor: str = Field(min_length=1)
    yield_pct: float = Field(gt=-5, lt=50)
    quote_ts: UtcDatetime


class TenorToTheColumn(_Row):
    """Right, bounded otherwise: a tenor as long as the sink's column holds."""

    tenor: str = Field(min_length=1, max_length=8)
    yield_pct: float = Field(ge=-5, le=50)
    quote_ts: UtcDatetime


class NoQuoteTime(_Row):
    tenor: str
    yield_pct: float = Field(gt=-5, lt=50)


ROW_MODEL_WRONG = {
    "unbounded yield": (Unbounded, "431 %"),
    "no negative yield": (OnlyPositive, "slightly negative"),
    "a plain datetime": (PlainDatetime, "no time zone"),
    "a nullable yield": (NullableYield, "a success row's yield cannot be missing"),
    "a tenor of any length": (AnyTenor, "tenor VARCHAR(8)) cannot hold: bound the tenor's length"),
    "a tenor of at least one character": (TenorAtLeastOne, "tenor VARCHAR(8)) cannot hold"),
    "not a _Row": (NotARow, "derive it from pipeline.schemas._Row"),
    "yield as text": (TextYield, "431 %"),
    "optional tenor": (OptionalTenor, "without a tenor"),
    "no quote_ts": (NoQuoteTime, "no field quote_ts"),
    "a Decimal yield": (DecimalYield, "the sink's column is a FLOAT"),
    "an instance": (Yield.model_construct(), "model class"),
}


@pytest.mark.parametrize(
    "answer", [Yield, YieldOtherWay, TenorToTheColumn], ids=["Field", "constr-confloat-validator", "column-width"]
)
def test_row_model_right_in_any_form(answer: Any) -> None:
    result = verdict("09.row_model", answer)
    assert result.ok, result.reason


@pytest.mark.parametrize(("answer", "words"), ROW_MODEL_WRONG.values(), ids=ROW_MODEL_WRONG.keys())
def test_row_model_wrong_is_not_yet_with_why(answer: Any, words: str) -> None:
    result = verdict("09.row_model", answer)
    assert not result.ok and words in result.reason, result.reason


# ---------------------------------------------------------------------------------------------------------
# 09.natural_key
# ---------------------------------------------------------------------------------------------------------
NATURAL_KEY_RIGHT = [
    {"natural_key": ("tenor", "quote_ts"), "natural_time": "quote_ts"},
    {"natural_key": ["quote_ts", "tenor"], "natural_time": "quote_ts"},
]
NATURAL_KEY_WRONG = {
    "tenor alone": ({"natural_key": ("tenor",), "natural_time": "quote_ts"}, "each curve would overwrite the last"),
    "time alone": ({"natural_key": "quote_ts", "natural_time": "quote_ts"}, "one tenor would survive"),
    "the scheduled minute": (
        {"natural_key": ("tenor", "scheduled_at"), "natural_time": "scheduled_at"},
        "stored twice",
    ),
    "the value in the key": (
        {"natural_key": ("tenor", "quote_ts", "yield_pct"), "natural_time": "quote_ts"},
        "a corrected quote would sit beside the wrong one",
    ),
    "the fetch's time": ({"natural_key": ("tenor", "quote_ts"), "natural_time": "ingested_at"}, "quote's own time"),
    "a bare tuple": (("tenor", "quote_ts"), "should be a dict"),
    "the payload's name of the time": (
        {"natural_key": ("tenor", "as_of"), "natural_time": "quote_ts"},
        "as_of is not a field of the row model",
    ),
    "a field twice": ({"natural_key": ("tenor", "quote_ts", "tenor"), "natural_time": "quote_ts"}, "names tenor twice"),
}


@pytest.mark.parametrize("answer", NATURAL_KEY_RIGHT, ids=["tuple", "list-other-order"])
def test_natural_key_right_in_any_form(answer: Any) -> None:
    result = verdict("09.natural_key", answer)
    assert result.ok, result.reason


@pytest.mark.parametrize(("answer", "words"), NATURAL_KEY_WRONG.values(), ids=NATURAL_KEY_WRONG.keys())
def test_natural_key_wrong_is_not_yet_with_why(answer: Any, words: str) -> None:
    result = verdict("09.natural_key", answer)
    assert not result.ok and words in result.reason, result.reason


# ---------------------------------------------------------------------------------------------------------
# 09.upsert
# ---------------------------------------------------------------------------------------------------------
COLUMNS = "(tenor, quote_ts, yield_pct, raw_key, loaded_at)"
VALUES = "VALUES (:tenor, :quote_ts, :yield_pct, :raw_key, :loaded_at)"
UPSERT = (
    f"INSERT INTO treasury_yields {COLUMNS} {VALUES} ON CONFLICT (tenor, quote_ts) DO UPDATE SET "
    "yield_pct = excluded.yield_pct, raw_key = excluded.raw_key, loaded_at = excluded.loaded_at "
    "WHERE excluded.raw_key >= treasury_yields.raw_key"
)
UPSERT_OTHER_WAY = (
    "insert into treasury_yields (raw_key, loaded_at, tenor, quote_ts, yield_pct) "
    "values (:raw_key, :loaded_at, :tenor, :quote_ts, :yield_pct) "
    "on conflict do update set yield_pct = excluded.yield_pct, raw_key = excluded.raw_key "
    "where treasury_yields.raw_key < excluded.raw_key"
)
UPSERT_WRONG = {
    "a plain INSERT": (f"INSERT INTO treasury_yields {COLUMNS} {VALUES}", "neither failing nor duplicating"),
    "INSERT OR REPLACE": (f"INSERT OR REPLACE INTO treasury_yields {COLUMNS} {VALUES}", "older raw key"),
    "no raw_key guard": (UPSERT.split(" WHERE")[0], "older raw key"),
    "DO NOTHING": (f"INSERT INTO treasury_yields {COLUMNS} {VALUES} ON CONFLICT DO NOTHING", "later raw key"),
    "INSERT OR IGNORE": (f"INSERT OR IGNORE INTO treasury_yields {COLUMNS} {VALUES}", "later raw key"),
    "a wrong parameter": (UPSERT.replace(":yield_pct", ":yield"), "SQLite refuses"),
    "raw_key not updated": (UPSERT.replace(" raw_key = excluded.raw_key,", ""), "the update must set raw_key too"),
    "not SQL": ({"on": "conflict"}, "INSERT INTO treasury_yields"),
}


@pytest.mark.parametrize(
    "answer",
    [UPSERT, UPSERT_OTHER_WAY, UPSERT.replace(">=", ">")],
    ids=["named-conflict", "lower-case-any-conflict", "strictly-later"],
)
def test_upsert_right_in_any_form(answer: str) -> None:
    result = verdict("09.upsert", answer)
    assert result.ok, result.reason


@pytest.mark.parametrize(("answer", "words"), UPSERT_WRONG.values(), ids=UPSERT_WRONG.keys())
def test_upsert_wrong_is_not_yet_with_why(answer: Any, words: str) -> None:
    result = verdict("09.upsert", answer)
    assert not result.ok and words in result.reason, result.reason


# ---------------------------------------------------------------------------------------------------------
# 09.filter_policy
# ---------------------------------------------------------------------------------------------------------
POLICY_RIGHT = [
    {"source": ["treasury_yields"]},
    json.dumps({"source": ["treasury_yields"]}),
    '{\n  "source": [\n    "treasury_yields"\n  ]\n}',
]
POLICY_WRONG = {
    "a string, not a list": ({"source": "treasury_yields"}, "SNS refuses it"),
    "another attribute": ({"Source": ["treasury_yields"]}, "message attribute 'source'"),
    "a prefix": ({"source": [{"prefix": "treasury"}]}, "declared later"),
    "anything but today's": (
        {"source": [{"anything-but": ["yahoo_finance", "coinmarketcap", "openexchangerates"]}]},
        "declared later",
    ),
    "every source": ({"source": ["treasury_yields", "yahoo_finance"]}, "yahoo_finance's events too"),
    "a suffix": ({"source": [{"suffix": "_yields"}]}, "this queue would get that source's events"),
    "and its next version": ({"source": ["treasury_yields", "treasury_yields_v2"]}, "'treasury_yields_v2'"),
    "not JSON": ("source = treasury_yields", "not JSON"),
    "empty": ({}, "JSON object"),
}


@pytest.mark.parametrize("answer", POLICY_RIGHT, ids=["dict", "json-text", "json-text-indented"])
def test_filter_policy_right_in_any_form(answer: Any) -> None:
    result = verdict("09.filter_policy", answer)
    assert result.ok, result.reason


@pytest.mark.parametrize(("answer", "words"), POLICY_WRONG.values(), ids=POLICY_WRONG.keys())
def test_filter_policy_wrong_is_not_yet_with_why(answer: Any, words: str) -> None:
    result = verdict("09.filter_policy", answer)
    assert not result.ok and words in result.reason, result.reason


# ---------------------------------------------------------------------------------------------------------
# Every checker: the stub, and an answer that raises
# ---------------------------------------------------------------------------------------------------------
def _stub_parse(payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> None: ...


STUBS = {
    "09.parse": _stub_parse,
    "09.row_model": PlainDatetime,  # the exercise cell's model: types, no constraints
    "09.natural_key": {"natural_key": ..., "natural_time": ...},
    "09.upsert": ...,
    "09.filter_policy": ...,
}


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_the_stub_is_not_yet_and_never_raises(exercise_id: str) -> None:
    result = verdict(exercise_id, STUBS[exercise_id])
    assert not result.ok and result.reason


def test_every_capstone_exercise_has_a_table() -> None:
    assert sorted(name for name in EXERCISES if name.startswith("09.")) == sorted(STUBS)


def test_a_parser_that_raises_is_not_yet() -> None:
    def parse(payload: Any, **_: Any) -> Any:
        return 1 / 0

    result = verdict("09.parse", parse)
    assert not result.ok and "ZeroDivisionError" in result.reason


def test_the_checkers_leave_the_registry_as_they_found_it() -> None:
    verdict("09.parse", parse_right)
    verdict("09.row_model", Yield)
    assert "treasury_yields" not in registry.source_ids()


# ---------------------------------------------------------------------------------------------------------
# The feed
# ---------------------------------------------------------------------------------------------------------
def test_the_feed_is_deterministic_and_quotes_the_20y_na_every_fifth_minute(capstone: ModuleType) -> None:
    from pipeline.contracts import to_utc

    first = to_utc("2026-11-13T15:00:00Z")
    assert capstone.treasury_feed(42, first) == capstone.treasury_feed(42, first)
    assert capstone.treasury_feed(42, first) != capstone.treasury_feed(7, first)
    quoted = [dict((q["tenor"], q["yield"]) for q in p["curve"])["20Y"] for _, p in capstone.feed_minutes(first, 10)]
    assert [i for i, value in enumerate(quoted) if value == "N/A"] == [4, 9]
    assert capstone.treasury_feed(42, first)["as_of"] == iso(first - timedelta(seconds=20))


# ---------------------------------------------------------------------------------------------------------
# The committed notebook
# ---------------------------------------------------------------------------------------------------------
def _cells() -> list[Any]:
    return list(nbformat.read(NOTEBOOK, as_version=4).cells)


def _tagged(tag: str) -> list[Any]:
    return [c for c in _cells() if tag in c.get("metadata", {}).get("tags", [])]


def test_each_exercise_has_a_stub_then_a_hidden_solution_with_no_answer_in_sight() -> None:
    cells = _cells()
    exercises, solutions = _tagged("exercise"), _tagged(SOLUTION_TAG)
    assert len(exercises) == len(solutions) == len(STUBS)
    for exercise_cell, solution_cell in zip(exercises, solutions, strict=True):
        exercise_id = next(e for e in STUBS if f'check("{e}"' in exercise_cell.source)
        assert f'check("{exercise_id}"' in solution_cell.source
        assert cells.index(solution_cell) == cells.index(exercise_cell) + 1
        # Collapsed, its first line (what JupyterLab shows of it) says nothing of the answer; no output, no verdict
        assert solution_cell.source.splitlines()[0] == NEUTRAL_FIRST_LINE
        assert solution_cell.metadata.get("jupyter", {}).get("source_hidden") is True
        assert solution_cell.get("outputs") == [] and solution_cell.get("execution_count") is None


def test_no_right_verdict_is_stored_and_the_outputs_are_clean() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert output_problems(notebook) == []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = json.dumps(output)
            assert "**right**" not in text and "right (09." not in text


def test_no_stored_output_shows_an_answer() -> None:
    """The cells after an exercise show what it made, never the answer (the filter policy, the upsert's text)."""
    answers = (json.dumps({"source": ["treasury_yields"]}), "'source': ['treasury_yields']", "ON CONFLICT")
    for index, cell in enumerate(_cells()):
        text = json.dumps(cell.get("outputs", []))
        assert not [a for a in answers if a in text], f"cell {index} shows an answer"


def test_the_row_model_exercise_names_the_bounds_the_checker_asks_for(capstone: ModuleType) -> None:
    """The learner is told the tenor column's width (read from the sink's CREATE_TABLE) before trying."""
    from workbench.course.chapter09 import TENOR_WIDTH

    assert f"VARCHAR({TENOR_WIDTH})" in capstone.CREATE_TABLE
    cells = _cells()
    exercise_cell = next(c for c in _tagged("exercise") if 'check("09.row_model"' in c.source)
    prose = cells[cells.index(exercise_cell) - 1].source
    assert f"tenor VARCHAR({TENOR_WIDTH})" in prose and "NOT NULL" in prose


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.notebook
@pytest.mark.stack
@pytest.mark.slow
def test_the_capstone_runs_end_to_end_on_the_local_stack(local_stack: LocalStack, tmp_path: Path) -> None:
    """Ten minutes of the fourth source through the local stack's handlers, proved by `verify`; a lost row is found
    in its minute and repaired; the template's missing pieces are listed; the stack is left as it was found."""
    output = tmp_path / NOTEBOOK.name
    with mock.patch.dict(os.environ, {**local_stack.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"}):
        papermill.execute_notebook(
            str(NOTEBOOK), str(output), parameters={"minutes": 10}, kernel_name=KERNEL, cwd=str(NOTEBOOK.parent),
            progress_bar=False, config=kernel_config(),
        )  # fmt: skip
    values = recorded(nbformat.read(output, as_version=4))
    assert values["exercises"] == dict.fromkeys(sorted(STUBS), True)
    assert values["raw_objects"] == {"treasury_yields": 10}
    assert values["dead_letters"] == 0
    # nine tenors a minute, less the 20Y quoted N/A at 15:04 and 15:09 (error rows, never loaded)
    assert values["rows_processed"] == {"treasury_yields": 10 * 9 - 2} and values["sink_rows"] == 10 * 9 - 2
    assert values["curves"] == 10
    assert values["verified"] is True
    assert values["missing_after_loss"] == [["raw/treasury_yields/2026/11/13/1502.csv", 1]]
    assert values["repaired"] is True
    # three template functions, the subscription, and the source folder its code would move to
    assert len(values["problems"]) == 5 and all("'treasury_yields'" in p for p in values["problems"])
    assert values["declared_after_cleanup"] is False
    queues = local_stack.settings()
    from pipeline import aws

    names = [url.rsplit("/", 1)[-1] for url in aws.client("sqs", queues).list_queues().get("QueueUrls", [])]
    assert not [name for name in names if name.startswith("treasury_yields")]
