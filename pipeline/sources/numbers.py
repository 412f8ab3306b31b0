"""One strict reading of numbers for every parser: text as a page writes it, and values as a JSON body holds them.

Text. A page writes its numbers in one format, its locale's: CoinMarketCap's home page is en-US, commas group
thousands in threes and a point starts the decimals ("$64,123.45", "$1.23T", "19.7M BTC"). The separators real
pages use are known: comma, point, space, no-break space (U+00A0), narrow no-break space (U+202F), apostrophe (')
and right single quote (U+2019). The whole run of digits and separators is taken as one number, then read only if it
is written exactly in the page's `NumberFormat`; anything else raises `MalformedNumber` naming the text:
"$70 517,58" (a French page), "$70\u2019517.58" (a Swiss one), "$70.517,58" (a German one), "1,23" or "1,23,456" are
refused on an en-US page, never read as the part that happens to match ("70", a price a thousand times too low).
"1,234" is 1234 on an en-US page and 1.234 on a page whose format says the comma is the decimal mark: the page's
format decides, never a guess from the digits.

Why not Babel: its `parse_decimal(text, locale, strict=True)` refuses the same misplaced groupings, but it reads
a number already cut out of its cell (the cut is where "$70 517,58" went wrong: a run that stops at the space),
knows no "$1.23T" suffixes or "0.0₄52" subscripts, and would add a dependency with the CLDR data of every locale
to a function that needs one format. The format here is a few characters and one regular expression per format.

JSON values. `json_number` accepts a JSON number that is finite (true and false are not numbers, though Python
counts them as ints; 1e400 is read by `json` as infinity) and names, on one line, what it got otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# Every character real pages put between the groups of thousands, or before the decimals.
SEPARATORS = frozenset(",. \u00a0\u202f'\u2019")
_SEPARATOR_CLASS = "".join(re.escape(c) for c in sorted(SEPARATORS))
# A run of digits with the separators inside it (a separator at either end is punctuation, not part of it).
_RUN = re.compile(rf"[.,]?[0-9](?:[0-9{_SEPARATOR_CLASS}]*[0-9])?")
_ASCII_DIGITS = frozenset("0123456789")
# What may precede a number on the page: spaces, a sign (for a change, never a price), a "$" or "#".
_SIGN_BEFORE = re.compile("\\s*([-+\u2212])?\\s*[$#]?\\s*")
# What may follow it (after a K/M/B/T suffix): a percent sign, or a space and a coin's symbol ("19.7M BTC").
_UNIT = re.compile(r"\s*%\s*|\s+[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*\s*")
_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_SUFFIX_AFTER = re.compile(r"\s*([KMBT])(?![A-Za-z0-9])", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUBSCRIPT_ZEROS = re.compile(r"0\.0([₀₁₂₃₄₅₆₇₈₉]+)")
_NAMES = {
    ",": "a comma", ".": "a point", " ": "a space", "\u00a0": "a no-break space", "\u202f": "a narrow no-break space",
    "'": "an apostrophe", "\u2019": "an apostrophe (U+2019)",
}  # fmt: skip
SHOWN = 60  # characters of a value quoted in an error


class MalformedNumber(ValueError):
    """A number not written as the page writes numbers (another locale, or broken markup)."""


def shown(value: Any, limit: int = SHOWN) -> str:
    """A value for an error message: its repr on one line, cut to `limit` characters."""
    text = repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class NumberFormat:
    """How a page writes numbers: the characters grouping thousands (in threes) and the decimal mark."""

    name: str
    groups: str
    decimal: str

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        group = "[" + "".join(re.escape(c) for c in self.groups) + "]"
        point = re.escape(self.decimal)
        return re.compile(rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)(?:{point}\d+)?|{point}\d+")

    def read(self, written: str) -> float:
        """The value of a run of digits and separators, or `MalformedNumber` when the run is not in this format."""
        foreign = next((c for c in written if c in SEPARATORS and c not in self.groups + self.decimal), None)
        if foreign is not None:
            raise MalformedNumber(
                f"{written!r} uses {_NAMES[foreign]} as a separator, which {self.name} numbers never do "
                f"({self.example}): another locale"
            )
        if not self.pattern.fullmatch(written):
            raise MalformedNumber(f"{written!r} is not a number as {self.name} writes them ({self.example})")
        digits = "".join(c for c in written if c not in self.groups).replace(self.decimal, ".")
        return float(digits)

    @property
    def example(self) -> str:
        return f"1{self.groups[0]}234{self.decimal}56"


EN_US = NumberFormat("the page", ",", ".")


def number(text: str, fmt: NumberFormat = EN_US, *, signed: bool = False, unit: bool = True) -> float | None:
    """The number a text is: "$1.23T" -> 1.23e12, "$64,123.45", "19.7M BTC", "1.85%", "#7", "$0.0₄52" -> 0.000052.

    None when the text holds no digit. The whole text is read, never only the part that matches: `MalformedNumber`
    when the number is not written in `fmt`, when a sign precedes it and the value is not `signed` (a price, a
    supply, a rank), when anything but a "$" or "#" precedes it, when anything follows it but a K/M/B/T suffix and,
    with `unit`, a "%" or a symbol after a space ("70,517.58e3", "70,517.58abc", "70,517.58-"), and when it holds a
    digit that is not ASCII (an Arabic-Indic seven for "7"): the page writes none of these.
    """
    text = _SUBSCRIPT_ZEROS.sub(lambda m: "0." + "0" * int(m.group(1).translate(_SUBSCRIPT)), text)
    foreign = next((c for c in text if c.isdigit() and c not in _ASCII_DIGITS), None)
    if foreign is not None:
        raise MalformedNumber(f"{shown(text)} holds the digit {foreign!r} (U+{ord(foreign):04X}): the page writes 0-9")
    match = _RUN.search(text)
    if not match:
        return None
    before, written, after = text[: match.start()], match.group(0), text[match.end() :]
    sign = _SIGN_BEFORE.fullmatch(before)
    if sign is None:
        raise MalformedNumber(f"{shown(text)}: {shown(before.strip())} before the number, which the page never writes")
    if sign.group(1) and not signed:
        raise MalformedNumber(f"{shown(text)} is signed: this value is never negative")
    value = fmt.read(written)
    suffix = _SUFFIX_AFTER.match(after)
    rest = after[suffix.end() :] if suffix else after
    if rest.strip() and not (unit and _UNIT.fullmatch(rest)):
        raise MalformedNumber(f"{shown(text)}: {shown(rest.strip())} after the number, which the page never writes")
    value = value * _SUFFIX[suffix.group(1).upper()] if suffix else value
    return -value if sign.group(1) and sign.group(1) != "+" else value


class NotANumber(ValueError):
    """A JSON value that is not a finite number (its message names the field and the value)."""


def json_number(value: Any, field: str) -> float:
    """A finite JSON number as a float; `NotANumber` naming the field and the value otherwise (missing too)."""
    if value is None:
        raise NotANumber(f"{field} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotANumber(f"{field} is {shown(value)}, not a number")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond any float
        raise NotANumber(f"{field} is {shown(value)}, beyond any float") from None
    if not math.isfinite(result):
        raise NotANumber(f"{field} is {shown(value)}, not a finite number")
    return result
