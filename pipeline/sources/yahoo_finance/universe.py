"""The stock universe the `yahoo_finance` source fetches: the S&P 500 file the package ships, and its upkeep.

`pipeline/data/sp500.csv` holds one row per constituent (`symbol, name, sector`), symbols in Yahoo's spelling
(share classes take a dash: BRK-B, BF-B, where the index lists BRK.B, BF.B). It was derived from the
constituents list of 2026-08 (503 symbols: a few companies list two share classes), the table Wikipedia keeps
("List of S&P 500 companies", table `constituents`: Symbol, Security, GICS Sector, ...).

`python -m pipeline universe refresh` reads that table again (or a CSV in either form with `--from-csv`), shows
what joined and what left the index, and rewrites the file in Yahoo's spelling.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from pipeline.sources.base import PayloadError, UpstreamError

WIKIPEDIA_URL: Final = "https://en.wikipedia.org/wiki/List_of_S%26P_500_companies"
# Wikipedia asks automated clients to say who they are.
USER_AGENT: Final = "market-data-pipeline/0.1 (universe refresh; https://github.com/market-data-pipeline)"
FILE_COLUMNS: Final = ("symbol", "name", "sector")
# A list much shorter or longer than the index is a changed page, not an index change.
PLAUSIBLE: Final = range(450, 561)


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


def universe_file() -> Path:
    """The shipped universe file (in a checkout: the source tree's pipeline/data/sp500.csv)."""
    return Path(__file__).resolve().parents[2] / "data" / "sp500.csv"


_ALIASES: Final = {"symbol": ("symbol", "ticker"), "name": ("name", "security", "company"),
                   "sector": ("sector", "gics sector")}  # fmt: skip


def _listings(header: Sequence[str], rows: Iterable[Sequence[str]], where: str) -> list[Listing]:
    """Listings from a table with a header: ours (symbol, name, sector) or Wikipedia's (Symbol, Security, GICS
    Sector, ...); symbols in Yahoo's spelling, in the table's order, each once."""
    names = [h.strip().lower() for h in header]
    position: dict[str, int] = {}
    for column, aliases in _ALIASES.items():
        found = next((names.index(a) for a in aliases if a in names), None)
        if found is None:
            raise PayloadError(f"{where}: no {column!r} column (columns: {', '.join(header)})")
        position[column] = found
    out: dict[str, Listing] = {}
    for row in rows:
        if len(row) <= max(position.values()) or not row[position["symbol"]].strip():
            continue
        symbol = yahoo_symbol(row[position["symbol"]])
        out.setdefault(symbol, Listing(symbol, row[position["name"]].strip(), row[position["sector"]].strip()))
    if len(out) not in PLAUSIBLE:
        raise PayloadError(
            f"{where}: {len(out)} constituents, expected {PLAUSIBLE.start}-{PLAUSIBLE.stop - 1}: "
            "not the S&P 500 list (a changed page or the wrong file?)"
        )
    return list(out.values())


def read_constituents_csv(path: Path) -> list[Listing]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise PayloadError(f"{path}: empty file")
    return _listings(rows[0], rows[1:], str(path))


def parse_constituents_html(html: str, where: str = WIKIPEDIA_URL) -> list[Listing]:
    """The constituents table of Wikipedia's "List of S&P 500 companies" page (table id `constituents`)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    table = soup.find("table", id="constituents")
    if table is None:
        raise PayloadError(f"{where}: no table with id 'constituents' (the page's layout changed)")
    lines = [[cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])] for tr in table.find_all("tr")]
    lines = [line for line in lines if line]
    if not lines:
        raise PayloadError(f"{where}: the constituents table is empty")
    return _listings(lines[0], lines[1:], where)


def fetch_constituents(url: str = WIKIPEDIA_URL, session: Any = None, timeout: float = 30) -> list[Listing]:
    """The index's constituents, live from Wikipedia's table (as the shipped file was made)."""
    import requests

    http = session or requests.Session()
    try:
        response = http.get(url, headers={"User-Agent": USER_AGENT}, timeout=timeout)
    except requests.RequestException as exc:
        raise UpstreamError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise UpstreamError(f"{url}: HTTP {response.status_code} {response.reason}")
    return parse_constituents_html(response.text, url)


@dataclass(frozen=True)
class Change:
    """What a refresh changes: symbols that joined, symbols that left, and listings whose name or sector moved."""

    added: list[Listing] = field(default_factory=list)
    removed: list[Listing] = field(default_factory=list)
    changed: list[tuple[Listing, Listing]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def compare(old: Sequence[Listing], new: Sequence[Listing]) -> Change:
    before = {listing.symbol: listing for listing in old}
    after = {listing.symbol: listing for listing in new}
    return Change(
        added=[listing for s, listing in after.items() if s not in before],
        removed=[listing for s, listing in before.items() if s not in after],
        changed=[(before[s], listing) for s, listing in after.items() if s in before and before[s] != listing],
    )


def read_universe_file(path: Path) -> list[Listing]:
    if not Path(path).exists():
        return []
    with Path(path).open(encoding="utf-8", newline="") as f:
        return [Listing(yahoo_symbol(r["symbol"]), r["name"], r["sector"]) for r in csv.DictReader(f)]


def write_universe_file(listings: Sequence[Listing], path: Path) -> None:
    """The universe file, in the order given (the index's order), symbols in Yahoo's spelling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FILE_COLUMNS)
    writer.writerows((listing.symbol, listing.name, listing.sector) for listing in listings)
    Path(path).write_text(buffer.getvalue(), encoding="utf-8")
    sp500.cache_clear()
