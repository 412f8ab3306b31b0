"""Numbers as CoinMarketCap prints them: "$1.23T", "$64,123.45", "19.7M BTC", "$0.0₄52".

The page is en-US: the shared strict routine (`pipeline.sources.numbers`) reads its cells in that format and
refuses a number written any other way ("$70 517,58", "$70\u2019517.58", "$70.517,58", "1,23") with `MalformedNumber`,
never reading the part that happens to match ("70", a price a thousand times too low).
"""

from __future__ import annotations

from typing import Any

from pipeline.sources.numbers import EN_US, MalformedNumber, number

__all__ = ["EN_US", "MalformedNumber", "dollars", "number"]


def dollars(cell: Any) -> float | None:
    """The most precise dollar amount in a cell (the full "$1,234,567,890" rather than the short "$1.23B").

    None when no text of the cell holds a dollar amount; `MalformedNumber` when one is not written the US way."""
    best: tuple[int, float] | None = None
    for text in cell.stripped_strings:
        if "$" not in text:
            continue
        value = number(text, EN_US, unit=False)  # the whole text: "-$5" or "$5abc" is no price
        digits = sum(ch.isdigit() for ch in text)
        if value is not None and (best is None or digits > best[0]):
            best = (digits, value)
    return best[1] if best else None
