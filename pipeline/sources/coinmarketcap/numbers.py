"""Numbers as CoinMarketCap prints them: "$1.23T", "$64,123.45", "19.7M BTC", "$0.0₄52"."""

from __future__ import annotations

import re
from typing import Any

_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?|\.\d+)\s*([KMBT])?(?![A-Za-z])", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUBSCRIPT_ZEROS = re.compile(r"0\.0([₀₁₂₃₄₅₆₇₈₉]+)")


def number(text: str) -> float | None:
    """The first number in a cell's text: "$1.23T" -> 1.23e12, "$64,123.45", "19.7M BTC", "$0.0₄52" -> 0.000052."""
    text = _SUBSCRIPT_ZEROS.sub(lambda m: "0." + "0" * int(m.group(1).translate(_SUBSCRIPT)), text)
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    return value * _SUFFIX[match.group(2).upper()] if match.group(2) else value


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
