"""The exercise framework: "Your turn" cells and their checkers.

A notebook's exercise cell (tagged `exercise`) holds a stub, `answer = ...`, and ends with
`check("02.raw_key", answer)`; the solution cell (tagged `solution`, collapsed, its first line a neutral comment)
does the same with a right answer. A checker never raises: it says "right" or "not yet" and why, in one sentence,
so a notebook run with a stub still runs to the end. Every expected value is computed from the package, never
written down here. The checkers of chapter NN live in `chapterNN.py`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pipeline.errors import one_line


class NotYet(Exception):
    """Raised by a checker when an answer is wrong; its message is the one sentence the learner reads."""


@dataclass(frozen=True)
class Verdict:
    """What a checker says about one answer: right or not, and why."""

    exercise: str
    ok: bool
    reason: str

    def __str__(self) -> str:
        return f"{'right' if self.ok else 'not yet'} ({self.exercise}): {self.reason}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        mark = "✅ **right**" if self.ok else "❌ **not yet**"
        return f"{mark} ({self.exercise}): {self.reason}"


@dataclass(frozen=True)
class Exercise:
    id: str
    task: str
    judge: Callable[..., str]  # returns why a right answer is right; raises NotYet with why a wrong one is not
    none_is_a_value: bool = False  # a None inside the answer is a value the checker judges (JSON's null), no stub


EXERCISES: dict[str, Exercise] = {}
# The last verdict of each exercise checked in this process (a notebook records them for its test).
RESULTS: dict[str, bool] = {}


def exercise(
    exercise_id: str, task: str, *, none_is_a_value: bool = False
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(judge: Callable[..., str]) -> Callable[..., str]:
        EXERCISES[exercise_id] = Exercise(exercise_id, task, judge, none_is_a_value)
        return judge

    return register


def is_stub(answer: Any) -> bool:
    """An answer still holding the exercise cell's placeholder (`...` or None, also inside a tuple, list or dict)."""
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(is_stub(v) for v in answer.values())
    if isinstance(answer, list | tuple):
        return any(is_stub(v) for v in answer)
    return False


STUB_NONE: Final = (
    "your answer is None, or holds a None: a function without a `return` (or a name set to None) gives it; write "
    "the answer itself, then run the cell again."
)


def _holds(answer: Any, placeholder: Any) -> bool:
    if answer is placeholder:
        return True
    values = answer.values() if isinstance(answer, dict) else answer if isinstance(answer, list | tuple) else ()
    return any(_holds(v, placeholder) for v in values)


def verdict(exercise_id: str, answer: Any, **context: Any) -> Verdict:
    """Judge `answer` to exercise `exercise_id` (with the notebook's `context`, if the exercise needs any)."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}: the exercises are {', '.join(sorted(EXERCISES))}")
    if is_stub(answer) and _holds(answer, Ellipsis):
        result = Verdict(exercise_id, False, "replace the `...` with your answer, then run the cell again.")
    elif answer is None or (is_stub(answer) and not EXERCISES[exercise_id].none_is_a_value):
        result = Verdict(exercise_id, False, STUB_NONE)
    else:
        try:
            result = Verdict(exercise_id, True, EXERCISES[exercise_id].judge(answer, **context))
        except NotYet as exc:
            result = Verdict(exercise_id, False, str(exc))
        except Exception as exc:  # the learner's code failed inside the checker: say how, do not stop the notebook
            result = Verdict(exercise_id, False, f"your answer raised {type(exc).__name__}: {one_line(exc)}")
    RESULTS[exercise_id] = result.ok
    return result


def check(exercise_id: str, answer: Any, **context: Any) -> Verdict:
    """The exercise cells' last line: the verdict shows as the cell's output (it never raises)."""
    return verdict(exercise_id, answer, **context)


def results() -> dict[str, bool]:
    """Each exercise checked in this process, and whether its last answer was right."""
    return dict(sorted(RESULTS.items()))


def same(answer: Any, expected: Any, what: str) -> None:
    """NotYet unless the answer is the expected value."""
    if answer != expected:
        raise NotYet(f"{what} is {expected!r}, not {answer!r}.")


def function_answer(answer: Any, what: str) -> Callable[..., Any]:
    """The answer, if it is a function; NotYet otherwise."""
    if not callable(answer):
        raise NotYet(
            f"the checker runs {what} on the pipeline's own cases, so write it as a function (def or lambda): "
            f"a {type(answer).__name__} cannot be run."
        )
    return answer  # type: ignore[no-any-return]


def whole_number(answer: Any, what: str) -> int:
    """A count however it is written (44640, 44640.0, "44,640", numpy's integers); NotYet for anything else."""
    if isinstance(answer, str) and answer.strip().replace(",", "").replace("_", "").isdigit():
        return int(answer.strip().replace(",", "").replace("_", ""))
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool) and float(answer).is_integer():
        return int(float(answer))
    raise NotYet(f"{what} is a whole number of times something happened, not {answer!r}.")
