"""The stock universe the `yahoo_finance` source fetches: the S&P 500 file the package ships.

`pipeline/data/sp500.csv` holds one row per constituent (`symbol, name, sector`), symbols in Yahoo's spelling
(share classes take a dash: BRK-B, BF-B, where the index lists BRK.B, BF.B). It was derived from the
constituents list of 2026-08 (503 symbols: a few companies list two share classes).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files


@dataclass(frozen=True)
class Listing:
    symbol: str
    name: str
    sector: str


def yahoo_symbol(symbol: str) -> str:
    """Yahoo's spelling of an exchange symbol: a share-class dot becomes a dash (BRK.B -> BRK-B)."""
    return symbol.strip().upper().replace(".", "-")


@lru_cache(maxsize=1)
def sp500() -> tuple[Listing, ...]:
    text = files("pipeline").joinpath("data", "sp500.csv").read_text(encoding="utf-8")
    return tuple(
        Listing(yahoo_symbol(row["symbol"]), row["name"], row["sector"]) for row in csv.DictReader(io.StringIO(text))
    )


def universe(limit: int | None = None) -> tuple[str, ...]:
    """The symbols to fetch, in file order; `limit` keeps the first N (`PIPELINE_UNIVERSE_LIMIT`)."""
    symbols = tuple(listing.symbol for listing in sp500())
    return symbols[:limit] if limit else symbols
