"""The course's exercises: every checker accepts its solution, rejects a wrong answer with a reason, and says
"not yet" to the untouched stub, and every notebook 01-08 holds at least two exercises with hidden solutions.

The answers here are the notebooks' solutions in small: known right and known wrong, for each exercise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from workbench import course
from workbench.course import EXERCISES, verdict

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTERS = sorted(p.name for p in NOTEBOOKS.glob("0[1-8]_*.ipynb"))
CHECK_CALL = re.compile(r"check\(\s*\"(\d\d\.[a-z0-9_]+)\"")


def _prices() -> pd.DataFrame:
    index = pd.date_range("2026-11-02T14:45Z", periods=6, freq="1min")
    return pd.DataFrame({"AAA": [100, 101, 100.5, 102, 102, 101], "BTC": [7e4, 7.01e4, 7e4, 6.9e4, 6.95e4, 7e4]}, index)


def _bars() -> pd.DataFrame:
    ts = pd.date_range("2026-11-02T14:44Z", periods=11, freq="1min")
    close = 100 + np.arange(11) * 0.5
    return pd.DataFrame({"symbol": "AAA", "ts": ts, "open": close - 0.2, "high": close + 0.3, "low": close - 0.4,
                         "close": close, "volume": np.arange(11) * 10 + 5})  # fmt: skip


def _candles(bars: pd.DataFrame) -> pd.DataFrame:
    one = bars.set_index("ts")
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return one.resample("5min").agg(rules).dropna()  # type: ignore[arg-type]


def _page() -> Any:
    from pipeline.contracts import to_utc
    from pipeline.settings import Settings
    from pipeline.sources import get_source

    settings = Settings(mode="simulated", cmc_top_n=10)
    return get_source("coinmarketcap").fetch(settings, to_utc("2026-11-02T14:45Z"), None)


def _broken(page: Any, predicted: Any) -> dict[str, Any]:
    """The page with its layout broken (no listing table, no embedded JSON): the parser refuses it whole."""
    from dataclasses import replace

    return {"page": replace(page, body=page.body.replace("cmc-table", "grid").replace("__NEXT_DATA__", "_")),
            "predicted": predicted}  # fmt: skip


def _price_written(page: Any, written: str, predicted: Any) -> dict[str, Any]:
    """The page with the first coin's price written as `written` and no embedded JSON, so the table is read."""
    from dataclasses import replace

    shown = BeautifulSoup(page.body, "lxml").select_one("table.cmc-table tbody tr").find_all("td", recursive=False)[3]
    body = page.body.replace(shown.get_text(strip=True), written, 1).replace("__NEXT_DATA__", "__APP_STATE__")
    return {"page": replace(page, body=body), "predicted": predicted}


def _validator(row: dict[str, Any]) -> None:
    if int(row["volume"]) < 0:
        raise ValueError(f"negative volume for {row['symbol']}")


COIN_MERGE = """MERGE INTO COINS AS t USING COINS_STAGE AS s
ON t.SYMBOL = s.SYMBOL AND t.SCHEDULED_AT = s.SCHEDULED_AT
WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET PRICE_USD = s.PRICE_USD, RAW_KEY = s.RAW_KEY
WHEN NOT MATCHED THEN INSERT (SYMBOL, SCHEDULED_AT, PRICE_USD, RAW_KEY)
VALUES (s.SYMBOL, s.SCHEDULED_AT, s.PRICE_USD, s.RAW_KEY)"""
NO_GUARD = COIN_MERGE.replace(" AND s.RAW_KEY >= t.RAW_KEY", "")
KEYS = {
    "yahoo_finance": ("symbol", "ts"),
    "coinmarketcap": ("symbol",),
    "openexchangerates": ("base", "currency", "rate_ts"),
}

SIZES = [{"function": "ingest-yahoo_finance", "code_unzipped": 2 * 2**20, "layer_unzipped": 180 * 2**20},
         {"function": "process-coinmarketcap", "code_unzipped": 2 * 2**20, "layer_unzipped": 150 * 2**20}]  # fmt: skip


def _dedup_answer() -> dict[str, bool]:
    return {label: label.startswith("the same object") for label in course.publishes()}


def _annual(kind: str) -> float:
    from workbench.analysis import MINUTES_PER_YEAR

    return 100 * 2e-4 * math.sqrt(MINUTES_PER_YEAR[kind])


# exercise id -> (context, a right answer, a wrong answer, words the wrong answer's reason holds)
Case = tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any], str]
CASES: dict[str, Case] = {
    "01.broken_price": (
        lambda: {"original": _page(), "at": "2026-11-02T14:45:00Z"},
        lambda c: _price_written(c["original"], "$70.517,58", ("error", 9)),
        lambda c: _price_written(c["original"], "$70.517,58", 70.51758),
        "never stored as another number",
    ),
    "01.monthly_calls": (dict, lambda c: 44_640, lambda c: 43_200, "30-day month"),
    "01.quota_spacing": (dict, lambda c: 45, lambda c: 44, "too many"),
    "02.raw_key": (
        dict,
        lambda c: "raw/yahoo_finance/2026/12/31/2359.csv",
        lambda c: "raw/yahoo_finance/2026/12/31/1859.csv",
        "file name",
    ),
    "02.keeps_existing": (dict, lambda c: lambda had, new: had > new, lambda c: lambda had, new: had >= new, "with 5"),
    "03.dropped": (
        dict,
        lambda c: _dedup_answer(),
        lambda c: dict.fromkeys(course.publishes(), False),
        "same deduplication id",
    ),
    "03.dlq_max1": (dict, lambda c: 2, lambda c: 1, "counts too"),
    "04.volume_validator": (
        dict,
        lambda c: _validator,
        lambda c: lambda row: None,
        "volume of -1",
    ),
    "04.fifo_reported": (dict, lambda c: ["m3", "m4", "m5"], lambda c: ["m3"], "reported failed too"),
    "05.natural_keys": (
        dict,
        lambda c: KEYS,
        lambda c: {**KEYS, "coinmarketcap": ("symbol", "scheduled_at")},
        "in the object's key",
    ),
    "05.coin_merge": (dict, lambda c: COIN_MERGE, lambda c: NO_GUARD, "older raw key"),
    "06.runtime_provided": (
        lambda: {"candidates": ("boto3", "pandas", "botocore", "pyarrow")},
        lambda c: {"boto3", "botocore"},
        lambda c: {"boto3"},
        "botocore",
    ),
    "06.heaviest": (
        lambda: {"sizes": SIZES},
        lambda c: ("ingest-yahoo_finance", 250 - 182),
        lambda c: ("process-coinmarketcap", 98),
        "not the heaviest",
    ),
    "07.default_deploy": (
        dict,
        lambda c: {"resources": sum(course.resources_created().values()), "rds_instances": 0},
        lambda c: {"resources": sum(course.resources_created().values()), "rds_instances": 1},
        "CreateSqlServer",
    ),
    "07.sqlserver_extra": (
        dict,
        lambda c: (
            sum(course.resources_created({"CreateSqlServer": "true"}).values())
            - sum(course.resources_created().values())
        ),
        lambda c: 1,
        "extra resources",
    ),
    "08.log_returns": (
        lambda: {"prices": _prices()},
        lambda c: np.log(c["prices"]).diff().iloc[1:],
        lambda c: c["prices"].pct_change().iloc[1:],
        "simple returns",
    ),
    "08.resample": (
        lambda: {"bars": _bars(), "symbol": "AAA"},
        lambda c: _candles(c["bars"]),
        lambda c: _candles(c["bars"]).assign(volume=lambda f: f["volume"] / 5),
        "volume is the sum",
    ),
    "08.annualise": (
        dict,
        lambda c: {"stock": _annual("stock"), "crypto": _annual("crypto")},
        lambda c: {"stock": 2e-4 * 100 * math.sqrt(252), "crypto": _annual("crypto")},
        "trading minutes",
    ),
}


def test_every_exercise_has_a_case() -> None:
    assert sorted(CASES) == sorted(EXERCISES)


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_the_solution_is_right(exercise_id: str) -> None:
    make_context, right, _, _ = CASES[exercise_id]
    context = make_context()
    result = verdict(exercise_id, right(context), **context)
    assert result.ok, result.reason


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_a_wrong_answer_is_rejected_with_its_reason(exercise_id: str) -> None:
    make_context, _, wrong, words = CASES[exercise_id]
    context = make_context()
    result = verdict(exercise_id, wrong(context), **context)
    assert not result.ok
    assert words in result.reason, result.reason
    assert "\n" not in result.reason and result.reason.endswith((".", "!", "'")), result.reason


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_the_stub_is_not_yet_and_never_raises(exercise_id: str) -> None:
    make_context, _, _, _ = CASES[exercise_id]
    for stub in (..., None, {"page": ..., "predicted": ...}):
        result = course.check(exercise_id, stub, **make_context())
        assert not result.ok and "not yet" in str(result) and "replace the `...`" in result.reason


def test_an_answer_that_raises_is_not_yet() -> None:
    def broken(row: dict[str, Any]) -> None:
        raise KeyError("volume")

    result = verdict("04.volume_validator", broken)
    assert not result.ok and result.reason.startswith("your answer raised KeyError")


def _tagged(cells: list[Any], tag: str) -> list[Any]:
    return [c for c in cells if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_chapter_has_exercises_with_hidden_solutions(name: str) -> None:
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    exercises, solutions = _tagged(cells, "exercise"), _tagged(cells, "solution")
    assert len(exercises) >= 2 and len(solutions) >= 2, name
    asked = [m for c in exercises for m in CHECK_CALL.findall(c.source)]
    solved = [m for c in solutions for m in CHECK_CALL.findall(c.source)]
    assert asked and sorted(set(asked)) == sorted(set(solved)), (asked, solved)
    assert all(a.startswith(name[:2] + ".") and a in EXERCISES for a in asked), asked
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") is True for c in solutions)
    assert all("..." in c.source or "None" in c.source for c in exercises)
    # The solution comes after its exercise.
    for exercise_id in asked:
        first_exercise = next(i for i, c in enumerate(cells) if exercise_id in c.source)
        solution = next(i for i, c in enumerate(cells) if c in solutions and exercise_id in c.source)
        assert solution > first_exercise
        # The committed notebook keeps the answer hidden: no output of a solution, no verdict on it (the test
        # that runs the notebook checks that every solution is right)
        assert cells[solution].get("outputs") == [], (name, exercise_id)


# What the learner breaks and predicts in 01, and what the checker says: a European price (the lesson: an error row
# for that coin with the reason, the others kept) predicted right in other forms, and the mistakes learners make.
BROKEN_PRICE_RIGHT = [
    ("$70.517,58", ("error", 9)),
    ("$70.517,58", ["Error", "9"]),
    ("$70.517,58", {"status": "error row", "success_rows": np.int64(9)}),
    ("$70.517,58", (" ERROR ", 9.0)),
    ("$70 517,58", ("error", 9)),  # a space as thousands separator
    ("70517.58", ("error", 9)),  # no currency sign: the cell is not a dollar price
]
BROKEN_PRICE_WRONG = [
    ("$70.517,58", "not a number", "did not refuse the page"),  # the whole page refused: the old behaviour
    ("$70.517,58", 70517.58, "never stored as another number"),  # a price read anyway
    ("$70.517,58", 70.51758, "never stored as another number"),  # a price misread
    ("$70.517,58", ("success", 10), "not a success row"),
    ("$70.517,58", ("error", 0), "costs only"),  # one bad value costing every coin
    ("$70.517,58", ("error", 10), "not a success row"),
    ("$70.517,58", ("error", 8), "count the success rows again"),
    ("$70.517,58", ("error", True), "count the success rows again"),
    ("$70.517,58", {"first": "error"}, "predict a pair"),
    ("$70517.58", ("error", 9), "still reads the first coin's price"),  # not broken: no separator is fine
]


@pytest.mark.parametrize(("written", "predicted"), BROKEN_PRICE_RIGHT)
def test_a_broken_price_predicted_right_in_any_form_is_right(written: str, predicted: Any) -> None:
    page = _page()
    result = verdict("01.broken_price", _price_written(page, written, predicted), original=page)
    assert result.ok, result.reason
    assert "became an error row" in result.reason and "9 other coins stayed success rows" in result.reason


@pytest.mark.parametrize(("written", "predicted", "words"), BROKEN_PRICE_WRONG)
def test_a_broken_price_predicted_wrong_is_not_yet_with_why(written: str, predicted: Any, words: str) -> None:
    page = _page()
    result = verdict("01.broken_price", _price_written(page, written, predicted), original=page)
    assert not result.ok and words in result.reason, result.reason
    assert "\n" not in result.reason and result.reason.endswith("."), result.reason


def test_a_broken_layout_is_refused_whole_and_its_message_predicted() -> None:
    page = _page()
    assert verdict("01.broken_price", _broken(page, "no listing"), original=page).ok
    result = verdict("01.broken_price", _broken(page, ("error", 9)), original=page)
    assert not result.ok and "refused it whole" in result.reason, result.reason
