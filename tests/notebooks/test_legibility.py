"""The course as a learner reads it in JupyterLab (or on GitHub): links that open, text that is not typeset as
math by accident, figures that fit a notebook column with letters one can read, tables that fit, and the code a
chapter teaches one click away.

These tests read the committed notebooks (no kernel, no stack), except the figure tests, which draw every figure of
`workbench.plots` on small frames. A chapter whose committed notebook breaks a rule and is being fixed on another
branch is listed in `PENDING`: its test is expected to fail (strictly: once fixed, the entry must go).
"""

from __future__ import annotations

import base64
import html
import io
import re
import struct
from collections.abc import Callable, Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

# The column a notebook's outputs get in JupyterLab on a laptop screen, and the smallest type worth reading there.
COLUMN_PIXELS = 1000
SMALLEST_POINTS = 9.0
DPI = 100  # the inline backend's (`figure.dpi`): a 10-inch figure is a 1,000-pixel image
TABLE_CHARACTERS = 100  # a Rich table (a <pre> that does not wrap) wider than this is cut off on screen

# (notebook, rule) pairs broken in a chapter another branch is fixing: reported there, not edited here. Strict: an
# entry whose chapter has been fixed fails as XPASS until it is removed.
PENDING: dict[tuple[str, str], str] = {}


def pending(name: str, rule: str) -> list[Any]:
    reason = PENDING.get((name[:2], rule))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def each(rule: str, names: list[str] = ALL) -> list[Any]:
    return [pytest.param(name, id=name[:2], marks=pending(name, rule)) for name in names]


@cache
def notebook(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def markdown(name: str) -> Iterator[tuple[int, str]]:
    for index, cell in enumerate(notebook(name).cells):
        if cell.cell_type == "markdown":
            yield index, cell.source


# --- links ----------------------------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.IGNORECASE)  # https:, mailto:, an anchor in the page


def relative_links(name: str) -> list[tuple[int, str]]:
    """(cell, target) of every relative Markdown link in a notebook's text, without its #anchor."""
    return [
        (index, match["target"].split("#", 1)[0])
        for index, source in markdown(name)
        for match in LINK.finditer(source)
        if not EXTERNAL.match(match["target"])
    ]


def test_links_are_found_the_way_jupyterlab_reads_them() -> None:
    text = "See [parse.py](../pipeline/sources/base.py#L10), [moto](https://docs.getmoto.org), ![x](a.png)"
    found = [(m["target"]) for m in LINK.finditer(text) if not EXTERNAL.match(m["target"])]
    assert found == ["../pipeline/sources/base.py#L10"]


@pytest.mark.parametrize("name", each("links"))
def test_every_relative_link_opens_a_file_of_the_repository(name: str) -> None:
    """Relative to the notebook (JupyterLab is rooted at the repository, and GitHub resolves them the same way): a
    file that exists, inside the repository. A link to a folder opens nothing in JupyterLab: link a file in it."""
    broken = []
    for index, target in relative_links(name):
        path = (NOTEBOOKS / target).resolve()
        if not path.is_file() or not path.is_relative_to(ROOT):
            broken.append(f"cell {index}: {target}")
    assert not broken, f"{name}: links to no file of the repository: {broken}"


def test_the_courses_readme_links_open_files_too() -> None:
    text = (NOTEBOOKS / "README.md").read_text()
    targets = [m["target"].split("#")[0] for m in LINK.finditer(text) if not EXTERNAL.match(m["target"])]
    assert targets, "notebooks/README.md links no notebook"
    assert [t for t in targets if not (NOTEBOOKS / t).resolve().is_file()] == []


# The modules each of these chapters teaches: it links every one of them.
TAUGHT = {
    "00": [
        "pipeline/handlers/ingest.py",
        "pipeline/handlers/process.py",
        "pipeline/ingest.py",
        "pipeline/process.py",
        "pipeline/registry.py",
        "pipeline/sources/__init__.py",
        "pipeline/sinks/__init__.py",
        "infra/cloudformation/template.yaml",
        "workbench/local/demo.py",
        "workbench/plots.py",
    ],
    "01": [
        *(
            f"pipeline/sources/{source}/{module}.py"
            for source in ("yahoo_finance", "coinmarketcap", "openexchangerates")
            for module in ("fetch", "parse", "simulated", "budget")
        ),
        "pipeline/sources/numbers.py",
        "pipeline/schemas.py",
        "pipeline/sources/base.py",
        "workbench/course/chapter01.py",
    ],
    "08": [
        "workbench/analysis/sinks.py",
        "workbench/analysis/frames.py",
        "workbench/plots.py",
        "workbench/backfill.py",
        "workbench/course/chapter08.py",
        "docs/analysis.md",
    ],
}


@pytest.mark.parametrize("chapter", sorted(TAUGHT))
def test_a_chapter_links_the_modules_it_teaches(chapter: str) -> None:
    name = next(n for n in ALL if n.startswith(chapter))
    linked = {(NOTEBOOKS / target).resolve().relative_to(ROOT).as_posix() for _, target in relative_links(name)}
    assert [m for m in TAUGHT[chapter] if m not in linked] == []


@pytest.mark.parametrize("name", each("package link", [n for n in ALL if "00" < n[:2] < "10"]))
def test_every_chapter_links_a_file_of_the_package_it_teaches(name: str) -> None:
    linked = [t for _, t in relative_links(name) if re.match(r"\.\./(pipeline|workbench)/.+\.py$", t)]
    assert linked, f"{name}: no link to a module of pipeline/ or workbench/"


def test_the_course_shows_once_how_to_read_a_functions_source() -> None:
    """`??` (IPython) or `inspect.getsource`, explained in the text of 00 or 01 and used in a cell there."""
    texts = [c.source for n in ALL[:2] for c in notebook(n).cells if c.cell_type == "markdown"]
    code = [c.source for n in ALL[:2] for c in notebook(n).cells if c.cell_type == "code"]
    assert any("??" in t for t in texts) and any("inspect.getsource" in t for t in texts)
    assert any("inspect.getsource(" in c for c in code)


# --- dollars read as math -------------------------------------------------------------------------------------------

# JupyterLab typesets a Markdown cell in two steps. First (@jupyterlab/rendermime, latex.ts `removeMath`) it cuts the
# source at these and keeps what lies between two `$` (or `$$`) of one paragraph (a line break does not end it, a
# blank line does) as math, unless they are in code (a code span or a fenced block); `\$` is not a delimiter there.
# Then the Markdown is rendered and MathJax typesets the HTML: the Markdown renderer has turned `\$` into `$`, so two
# dollars in one run of text are math again (jupyterlab/jupyterlab#8645: only `\\$` escapes, which GitHub shows as
# `\$`). A dollar amount in the text must therefore stand alone in its paragraph, or be written otherwise.
MATH_SPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))", re.IGNORECASE
)
FENCED = re.compile(r"^(?P<fence>`{3,}|~{3,})[^`\n]*\n[\s\S]*?^(?P=fence)`*$", re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)([\s\S]*?[^`])\1(?!`)")
MATHJAX_SKIPS = {"code", "pre", "script", "style", "textarea", "noscript", "annotation", "annotation-xml"}
INLINE_TAGS = {"br", "wbr"}  # MathJax reads math across these (`includeHtmlTags`), not across other tags


def math_in_source(text: str) -> list[str]:
    """The pieces JupyterLab's first step keeps as `$...$` or `$$...$$` math."""
    if "`" in text or "~~~" in text:
        blank = lambda m: m.group(0).replace("$", "D")  # noqa: E731 - code keeps its dollars literal
        text = CODE_SPAN.sub(blank, FENCED.sub(blank, text))
    blocks = MATH_SPLIT.split(text.replace("\r\n", "\n"))
    found, start, end, braces, last = [], None, None, 0, None
    for i in range(1, len(blocks), 2):
        block = blocks[i]
        if start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    found.append("".join(blocks[start : i + 1]))
                    start, end, last = None, None, None
            elif re.search(r"\n.*\n", block):  # a paragraph ends: math does not cross it
                if last is not None:
                    found.append("".join(blocks[start : last + 1]))
                start, end, last, braces = None, None, None, 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
    return found


class _Runs(HTMLParser):
    """The runs of text MathJax reads in rendered HTML: not in code, and not across elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[str] = [""]
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in MATHJAX_SKIPS:
            self.skipping += 1
        if tag not in INLINE_TAGS:
            self.runs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in MATHJAX_SKIPS:
            self.skipping = max(0, self.skipping - 1)
        self.runs.append("")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.runs[-1] += data


def math_in_rendered(text: str) -> list[str]:
    r"""The pieces MathJax typesets once the Markdown is rendered: two dollars in one run of text (`\$` in the
    rendered text, which only `\\$` in the source gives, is a literal dollar)."""
    from markdown_it import MarkdownIt

    runs = _Runs()
    runs.feed(MarkdownIt("commonmark").enable("table").render(text))
    found = []
    for run in runs.runs:
        opened = None
        for delimiter in re.finditer(r"(?<!\\)\$\$?", run):  # `$` closes `$`, `$$` closes `$$`
            if opened is None:
                opened = delimiter
            elif delimiter.group() == opened.group():
                found.append(run[opened.start() : delimiter.end()])
                opened = None
    return found


def typeset_as_math(text: str) -> list[str]:
    return math_in_source(text) + [m for m in math_in_rendered(text) if m not in math_in_source(text)]


@pytest.mark.parametrize(
    ("text", "math"),
    [
        ("so that a $4,000 coin and a $1 currency share an axis", ["$4,000 coin and a $"]),
        ("a $4,000 coin\nand a $1 currency", ["$4,000 coin\nand a $"]),  # a line break does not end it
        ("a $4,000 coin\n\nand a $1 currency", []),  # a blank line does
        (r"a \$4,000 coin and a \$1 currency", ["$4,000 coin and a $"]),  # the renderer unescapes them first
        ("a $4,000 coin and a **$1** currency", ["$4,000 coin and a **$"]),
        ("the European `$72.720,05` for `$72,720.05`", []),
        ("```bash\necho $HOME $PATH\n```", []),
        ("one price: $0.12, printed to the cent", []),
        (r"one price: \$0.12, printed to the cent", []),
        ("a 70,000-dollar coin and a one-dollar currency", []),
        ("$x^2$ and $$y$$", ["$x^2$", "$$y$$"]),
    ],
)
def test_what_jupyterlab_typesets_as_math(text: str, math: list[str]) -> None:
    assert typeset_as_math(text) == math


@pytest.mark.parametrize("name", each("dollars"))
def test_no_dollar_amount_is_typeset_as_math(name: str) -> None:
    """A "$4,000 coin and a $1 currency" renders as "4,000coinanda1" in italics, and `\\$` does not prevent it."""
    found = [f"cell {index}: {piece[:60]!r}" for index, source in markdown(name) for piece in typeset_as_math(source)]
    assert not found, f"{name}: text JupyterLab would typeset as math (one dollar amount a paragraph): {found}"


# --- figures --------------------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def stored_images(name: str) -> Iterator[tuple[int, bytes]]:
    for index, cell in enumerate(notebook(name).cells):
        for output in cell.get("outputs", []):
            encoded = output.get("data", {}).get("image/png")
            if encoded:
                yield index, base64.b64decode("".join(encoded) if isinstance(encoded, list) else encoded)


@pytest.mark.parametrize("name", each("figures"))
def test_every_stored_figure_fits_a_notebook_column(name: str) -> None:
    """A wider image is shrunk to the column, and its letters with it (a 1,680-pixel figure's 7-point legend is
    read at 4 points)."""
    wide = [f"cell {i}: {png_size(data)[0]} px" for i, data in stored_images(name) if png_size(data)[0] > COLUMN_PIXELS]
    assert not wide, f"{name}: figures wider than {COLUMN_PIXELS} px: {wide}"


def _minutes(n: int, start: str = "2026-11-12 14:45") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="min", tz="UTC")


def _kinds() -> dict[str, str]:
    names = {
        "stock": ["AAPL", "MSFT", "ABBV", "ACN", "ADBE", "ABNB"],
        "crypto": ["BTC", "ETH", "XRP", "DOGE", "TRX", "XLM"],
        "fx": ["EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD"],
    }
    return {symbol: kind for kind, symbols in names.items() for symbol in symbols}


def _figures() -> dict[str, Callable[[], Any]]:
    """Every figure of workbench.plots, drawn on frames of the shape (and the size) the course gives it."""
    from workbench import plots

    rng = np.random.default_rng(7)
    kinds = _kinds()
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, (30, 18)), axis=0)), _minutes(30), list(kinds))
    returns = np.log(prices).diff().iloc[1:]
    volatility = returns.rolling(10, min_periods=5).std() * np.sqrt(98280)
    session = pd.DataFrame(rng.uniform(5, 20, (13, 25)), pd.date_range("2026-11-12 14:30", periods=13, freq="30min"))
    close = prices["AAPL"].tz_convert(None)
    ohlc = pd.DataFrame({"Open": close, "High": close + 0.2, "Low": close - 0.2, "Close": close + 0.1,
                         "Volume": rng.integers(1_000, 9_000, 30)})  # fmt: skip
    sizes = pd.DataFrame({"function": [f"market-data-{n}" for n in ("yahoo-ingest", "yahoo-process", "cmc-ingest",
                                                                  "cmc-process", "oxr-ingest", "oxr-process")],
                          "code_unzipped": 2e6, "layer_unzipped": [180e6, 120e6, 40e6, 120e6, 20e6, 60e6],
                          "layer": ["yahoo", "bars", "cmc", "coins", "oxr", "rates"]})  # fmt: skip
    return {
        "architecture": lambda: plots.architecture(max_receives=5),
        "prices": lambda: plots.prices(prices, kinds),
        "return_distribution": lambda: plots.return_distribution(returns, kinds),
        "volatility": lambda: plots.volatility(volatility, kinds, window=10),
        "intraday_profile": lambda: plots.intraday_profile(session),
        "correlation": lambda: plots.correlation(returns.corr(), kinds),
        "correlation of 12": lambda: plots.correlation(returns.iloc[:, :12].corr(), kinds),
        "candlestick": lambda: plots.candlestick(ohlc, "AAPL, 1-minute bars from Snowflake (UTC)"),
        "package_sizes": lambda: plots.package_sizes(sizes, 262_144_000),
    }


def test_every_figure_of_the_plots_module_is_drawn_here() -> None:
    from matplotlib.figure import Figure

    from workbench import plots

    returns = {n: getattr(f, "__annotations__", {}).get("return") for n, f in vars(plots).items() if callable(f)}
    drawing = {n for n, kind in returns.items() if kind in ("Figure", Figure) and not n.startswith("_")}
    assert drawing <= {name.split(" ")[0] for name in _figures()}


@pytest.mark.parametrize("figure", sorted(_figures()))
def test_a_figure_fits_the_column_and_its_letters_are_legible(figure: str) -> None:
    """Drawn as the notebook shows it (the inline backend saves at the figure's dpi, cropped to what it draws),
    the image is at most a column wide, and every letter in it is at least 9 points as seen in the column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    fig = _figures()[figure]()
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        width, _ = png_size(buffer.getvalue())
        assert width <= COLUMN_PIXELS, f"{figure}: {width} px wide (figure {fig.get_size_inches()} in)"
        shrink = min(1.0, COLUMN_PIXELS / width)
        small = sorted(
            {
                (round(t.get_fontsize() * shrink, 1), t.get_text()[:30])
                for t in fig.findobj(Text)
                if t.get_visible() and t.get_text().strip() and t.get_fontsize() * shrink < SMALLEST_POINTS
            }
        )
        assert not small, f"{figure}: text smaller than {SMALLEST_POINTS} pt in the column: {small[:8]}"
    finally:
        plt.close(fig)


# --- tables ---------------------------------------------------------------------------------------------------------


def rich_tables(name: str) -> Iterator[tuple[int, list[str]]]:
    """The lines of every Rich output (an HTML <pre> that does not wrap: a wider line is cut off on screen)."""
    for index, cell in enumerate(notebook(name).cells):
        for output in cell.get("outputs", []):
            page = output.get("data", {}).get("text/html", "")
            page = "".join(page) if isinstance(page, list) else page
            if page.startswith("<pre") and "white-space:pre" in page:
                text = html.unescape(re.sub(r"<[^>]+>", "", page))
                yield index, text.splitlines()


@pytest.mark.parametrize("name", each("tables"))
def test_every_rich_table_fits_the_column(name: str) -> None:
    wide = [f"cell {i}: {max(map(len, lines))} characters" for i, lines in rich_tables(name)
            if max(map(len, lines), default=0) > TABLE_CHARACTERS]  # fmt: skip
    assert not wide, f"{name}: Rich outputs wider than {TABLE_CHARACTERS} characters: {wide}"


# --- text against output --------------------------------------------------------------------------------------------


def output_text(name: str) -> str:
    texts = []
    for cell in notebook(name).cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join("".join(t) if isinstance(t, list) else t for t in texts)


def prose(name: str) -> str:
    return "\n".join(source for _, source in markdown(name))


def european(amount: str) -> str:
    return amount.replace(",", "_").replace(".", ",").replace("_", ".")


def test_the_prices_01_quotes_are_the_ones_its_page_shows() -> None:
    """Every dollar amount 01's text quotes from the page (`$70,517.58`, `$1.44T`, and the European form of the
    first price) is printed by a cell of 01: a new simulated page changes the text with it."""
    name = next(n for n in ALL if n.startswith("01"))
    shown = output_text(name)
    quoted = re.findall(r"`\\?\$([\d.,]+[KMBT]?)`", prose(name))
    assert quoted
    missing = [q for q in quoted if f"${q}" not in shown and f"${european(q)}" not in shown]
    assert missing == [], f"{name} quotes prices its outputs do not show: {missing}"
    precise = re.findall(r"\b\d+\.\d{6}\b", prose(name))  # "the row holds 70517.578947"
    assert precise and [p for p in precise if p not in shown] == []


def test_08s_quoted_counts_are_its_outputs() -> None:
    """The counts 08's text quotes: the session's five-minute returns and the window's one-minute ones."""
    name = next(n for n in ALL if n.startswith("08"))
    shown, text = output_text(name), prose(name)
    five = re.search(r"estimated from (\d+)\s+five-minute returns", text)
    assert five and f"the session's {five.group(1)} five-minute returns" in shown
    window = re.search(r"give (\d+) one-minute returns", text)
    assert window and f"over the window's {window.group(1)} one-minute returns" in shown
