"""The checkers of chapter 01 (sources)."""

from __future__ import annotations

import numbers
from typing import Any

from workbench.course.exercises import NotYet, exercise, same


@exercise("01.broken_price", "break the first coin's price on the page and predict what the parser does with it")
def _broken_price(answer: Any, *, original: Any = None, at: Any = "2026-11-04T14:45:00Z", **_: Any) -> str:
    from pipeline.contracts import to_utc
    from pipeline.sources import PayloadError, get_source

    if not isinstance(answer, dict) or not {"page", "predicted"} <= set(answer):
        raise NotYet(
            "the checker needs both the page you broke and your prediction: "
            '{"page": the broken page, "predicted": your prediction}.'
        )
    page, predicted = answer["page"], answer["predicted"]
    if original is not None and getattr(page, "body", None) == getattr(original, "body", None):
        raise NotYet("the page is the original one: change the first coin's price in `page.body` first.")
    minute = to_utc(at)
    try:
        rows = get_source("coinmarketcap").parse(page, scheduled_at=minute, ingested_at=minute)
    except PayloadError as exc:  # the layout itself is broken (not one price): the whole page is refused
        return _refused_whole(str(exc), predicted)
    if not rows:
        raise NotYet("the parser found no coin on this page: break the first coin's price, not the listing.")
    first, kept = rows[0], sum(r["status"] == "success" for r in rows)
    if first["status"] == "success":
        raise NotYet(
            f"the parser still reads the first coin's price ({first['price_usd']!r}): write it in a form the page "
            "never uses (swap its point and its comma, as a European page would), and remove `__NEXT_DATA__` so the "
            "table is read."
        )
    name = first["symbol"] or "the first coin"
    _judge_prediction(predicted, name, kept, len(rows))
    return (
        f"{name} became an error row ({first['error']}) and the {kept} other coins stayed success rows: "
        "a bad value costs only itself, and a price the parser cannot read is never written as another number."
    )


def _refused_whole(said: str, predicted: Any) -> str:
    """A page whose layout the parser cannot read is refused whole: right if the prediction quotes its message."""
    if isinstance(predicted, str) and predicted.strip() and predicted.strip().lower() in said.lower():
        return f"the parser refused the whole page, whose layout it cannot read: {said}"
    raise NotYet(
        f"this page broke more than a price: the parser refused it whole ({said!r}); break only the first "
        "coin's price, or predict a few words of that message."
    )


def _judge_prediction(predicted: Any, name: str, kept: int, listed: int) -> None:
    """NotYet, with the mistake named, unless the prediction is (an error row, `kept` success rows)."""
    status, count = _status_and_count(predicted)
    if status is None:
        if isinstance(predicted, int | float) and not isinstance(predicted, bool):
            raise NotYet(
                f"the parser read no price for {name}: a price it cannot read is never stored as another number; "
                'predict ("error" or "success" for its row, how many success rows) instead.'
            )
        if isinstance(predicted, str):
            raise NotYet(
                "the parser did not refuse the page (one unreadable price is not a broken layout): predict "
                '("error" or "success" for the first coin\'s row, how many success rows) instead.'
            )
        raise NotYet('predict a pair: ("error" or "success" for the first coin\'s row, how many success rows).')
    if status != "error":
        raise NotYet(f"{name}'s row is not a success row: a price the parser cannot read is never written as one.")
    if count == kept:
        return
    if count == 0:
        raise NotYet(
            "a bad value costs only itself: one unreadable price does not cost the page, the other coins are read."
        )
    if count == listed:
        raise NotYet(f"{name}'s error row is not a success row: count only the coins read as before.")
    raise NotYet(f"count the success rows again: the page lists {listed} coins and only {name}'s was broken.")


def _status_and_count(predicted: Any) -> tuple[str | None, int | None]:
    """("error", 9), ["Error", "9"] or {"status": "error", "success_rows": 9}: the status predicted for the first
    coin's row and the number of success rows; (None, None) for any other form."""
    if isinstance(predicted, dict):
        predicted = (predicted.get("status"), predicted.get("success_rows"))
    if not isinstance(predicted, list | tuple) or len(predicted) != 2 or not isinstance(predicted[0], str):
        return None, None
    status = predicted[0].strip().lower().removesuffix(" row").strip()
    count = predicted[1]
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral | float) or count != int(count):
        return status, None
    return status, int(count)


@exercise("01.monthly_calls", "how many calls a month a one-minute poll makes in a 31-day month")
def _monthly_calls(answer: Any, **_: Any) -> str:
    expected = 31 * 24 * 60
    if answer == 30 * 24 * 60:
        raise NotYet("that is a 30-day month: the question asks for 31 days.")
    same(answer, expected, "31 days x 24 hours x 60 minutes")
    return f"{expected:,} calls, {expected // 1000} times the free plan's 1,000."


@exercise("01.quota_spacing", "the fewest whole minutes between calls that keep a 31-day month within 1,000 calls")
def _quota_spacing(answer: Any, **_: Any) -> str:
    import math

    minutes = 31 * 24 * 60
    expected = math.ceil(minutes / 1000)
    if isinstance(answer, int | float) and answer < expected:
        raise NotYet(f"one call every {answer} minutes is {math.ceil(minutes / answer):,} calls in 31 days: too many.")
    same(answer, expected, "the shortest spacing")
    return f"one call every {expected} minutes is {math.ceil(minutes / expected):,} calls in 31 days."
