"""Numbers as CoinMarketCap prints them: "$1.23T", "$64,123.45", "19.7M BTC", "$0.0₄52".

The page writes numbers the US way: commas group thousands in threes, a point starts the decimals. A number written
any other way ("$70.517,58", a European page; "1,23") is refused (`MalformedNumber`), never read as the part that
happens to match: "$70.517,58" read up to its comma would be a price a thousand times too low, written silently.
"""

from __future__ import annotations

import re
from typing import Any

_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
# A run of digits with the separators around it, then whether it is a well-formed US number.
_CANDIDATE = re.compile(r"[\d.,]*\d[\d.,]*|\.\d+")
_US_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+")
_SUFFIX_AFTER = re.compile(r"\s*([KMBT])(?![A-Za-z])", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUBSCRIPT_ZEROS = re.compile(r"0\.0([₀₁₂₃₄₅₆₇₈₉]+)")


class MalformedNumber(ValueError):
    """A cell's number is not written as the page writes numbers (another locale, or broken markup)."""


def number(text: str) -> float | None:
    """The first number in a cell's text: "$1.23T" -> 1.23e12, "$64,123.45", "19.7M BTC", "$0.0₄52" -> 0.000052.

    None when the text holds no digit; `MalformedNumber` when its first number is not written the US way."""
    text = _SUBSCRIPT_ZEROS.sub(lambda m: "0." + "0" * int(m.group(1).translate(_SUBSCRIPT)), text)
    match = _CANDIDATE.search(text)
    if not match:
        return None
    written = match.group(0).rstrip(".,")  # a sentence's full stop or comma after the number is not part of it
    if not _US_NUMBER.fullmatch(written):
        raise MalformedNumber(f"{written!r} is not a number as the page writes them (1,234.56)")
    value = float(written.replace(",", ""))
    suffix = _SUFFIX_AFTER.match(text, match.start() + len(written))
    return value * _SUFFIX[suffix.group(1).upper()] if suffix else value


def dollars(cell: Any) -> float | None:
    """The most precise dollar amount in a cell (the full "$1,234,567,890" rather than the short "$1.23B")."""
    best: tuple[int, float] | None = None
    for text in cell.stripped_strings:
        if "$" not in text:
            continue
        value = number(text.split("$", 1)[1])
        digits = sum(ch.isdigit() for ch in text)
        if value is not None and (best is None or digits > best[0]):
            best = (digits, value)
    return best[1] if best else None
