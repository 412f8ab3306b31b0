"""One set of numbers: every figure the README and the notebooks' text quote is the code's.

Each figure below names where it is written (the README, or the text of a notebook's cells), a pattern that finds
it, and the value the code gives it. Every pattern must be found (a rewritten sentence updates its figure here),
and every number it finds must be the code's: a changed default, template or cost model fails here until the
text says the same. The figures a notebook prints are computed by its cells and need no check here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import nbformat
import pytest

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # the recorded responses beside the clone, when present
WORDS = {
    "thirty": 30,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}


def number(text: str) -> float:
    text = text.strip().lower()
    return float(WORDS[text]) if text in WORDS else float(text.replace(",", ""))


@cache
def document(name: str) -> str:
    """The README, or a notebook's text: its cells' sources (markdown and code), not its outputs."""
    if name == "README.md":
        return (ROOT / name).read_text()
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells)


def defaults() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def twin_currencies() -> int:
    from pipeline.sources.simulator import CURRENCIES

    return len(CURRENCIES)


def universe_size() -> int:
    from pipeline.sources.yahoo_finance.universe import universe

    return len(universe())


def functions() -> int:
    from workbench.deploy.functions import all_functions

    return len(all_functions())


@cache
def bill() -> dict[str, float]:
    from workbench.deploy.cost import compute

    computed = compute(durations={})  # `pipeline cost --assumed-durations`: the same on every machine
    return {
        "aws": computed.total,
        "after_free_tier": computed.total_after_free_tier,
        "snowflake": float(computed.snowflake["usd"]),
        "credit": float(computed.snowflake["credit_price_usd"]),
    }


def calls_a_31_day_month(every_seconds: int) -> int:
    return 31 * 24 * 60 * 60 // every_seconds


def makefile_minutes() -> int:
    """`make demo`'s default minutes (the Makefile's MINUTES), which must be the demo command's default too."""
    import inspect

    from workbench.cli import demo

    made = re.search(r"^MINUTES \?= (\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert made, "the Makefile no longer sets MINUTES"
    assert inspect.signature(demo).parameters["minutes"].default == int(made.group(1))
    return int(made.group(1))


def notebook_parameter(name: str, parameter: str) -> int:
    """A number a notebook's parameters cell sets by default."""
    cell = next(
        c
        for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
        if "parameters" in c.metadata.get("tags", [])
    )
    found = re.search(rf"^{parameter} = (\d+)", cell.source, re.MULTILINE)
    assert found, f"{name}: no parameter {parameter}"
    return int(found.group(1))


def session_minutes() -> int:
    """The minutes of the NYSE session from the demo's default start to the close (the exchange's calendar)."""
    from pipeline.calendar import XNYS, is_open
    from workbench.local.demo import DEFAULT_START

    minutes = 0
    while is_open(XNYS, DEFAULT_START + timedelta(minutes=minutes)):
        minutes += 1
    return minutes


def last_session_minute() -> float:
    """The demo's last scheduled minute over the rest of the session, as HH.MM for the comparison."""
    from workbench.local.demo import DEFAULT_START

    last = DEFAULT_START + timedelta(minutes=session_minutes() - 1)
    return last.hour + last.minute / 100


def minutes_per_year(kind: str, per: str) -> int:
    from workbench.analysis import MINUTES_PER_YEAR

    day = {"stock": 390, "crypto": 1440, "fx": 1440}[kind]
    return day if per == "day" else MINUTES_PER_YEAR[kind] // day


# A table, one figure a line
# fmt: off
FIGURES: list[tuple[str, str, str, Callable[[], float]]] = [
    ("README.md", "the demo's minutes", r"runs (\d+) simulated minutes end to end", lambda: makefile_minutes()),
    ("README.md", "the demo's minutes", r"\*\*(\d+) scheduled minutes\*\*", lambda: makefile_minutes()),
    # (where, what, pattern with one number group, the code's value)
    ("README.md", "tickers in the universe", r"S&P 500 \(([\d,]+) tickers\)", universe_size),
    ("README.md", "coins read", r"the top ([\d,]+) cryptocurrencies", lambda: defaults().cmc_top_n),
    ("README.md", "currencies of the twin", r"\((\d+) in the simulated twin\)", twin_currencies),
    ("README.md", "Lambda functions", r"a schedule per source, (\w+)\s+Lambda functions", functions),
    ("README.md", "rotation K", r"`PIPELINE_YAHOO_ROTATION_MINUTES` \(K, (\d+)\)", lambda: defaults().yahoo_rotation_minutes),
    ("README.md", "rotation K", r"every ticker every K = (\d+)\s+minutes", lambda: defaults().yahoo_rotation_minutes),
    ("README.md", "rotation share", r"fetches a (fifth) of the universe", lambda: defaults().yahoo_rotation_minutes),
    ("README.md", "lookback", r"`PIPELINE_YAHOO_LOOKBACK_MINUTES` \((\d+)\)", lambda: defaults().yahoo_lookback_minutes),
    ("README.md", "lookback", r"a window reaching (\d+) minutes back", lambda: defaults().yahoo_lookback_minutes),
    ("README.md", "requests a minute", r"`PIPELINE_YAHOO_REQUESTS_PER_MINUTE` \((\d+)\)", lambda: defaults().yahoo_requests_per_minute),
    ("README.md", "requests a minute", r"at most (\d+) symbols a minute", lambda: defaults().yahoo_requests_per_minute),
    ("README.md", "requests a second", r"\((\d+) requests a second\)", lambda: defaults().yahoo_requests_per_minute / 60),
    ("README.md", "time budget", r"`PIPELINE_YAHOO_TIME_BUDGET_SECONDS` \((\d+)\)", lambda: defaults().yahoo_time_budget_seconds),
    ("README.md", "429s to trip", r"`PIPELINE_YAHOO_BREAKER_429S` \((\d+)\)", lambda: defaults().yahoo_breaker_429s),
    ("README.md", "429s to trip", r"After (\w+) HTTP 429s", lambda: defaults().yahoo_breaker_429s),
    ("README.md", "cool-down", r"`PIPELINE_YAHOO_COOLDOWN_MINUTES` \((\d+), doubling", lambda: defaults().yahoo_cooldown_minutes),
    ("README.md", "cool-down cap", r"`\.\.\._COOLDOWN_MAX_MINUTES`, (\d+)\)", lambda: defaults().yahoo_cooldown_max_minutes),
    ("README.md", "OXR quota", r"free plan\]\([^)]*\): ([\d,]+) requests a month", lambda: defaults().oxr_monthly_quota),
    ("README.md", "OXR calls a month, hourly", r"uses ~([\d,]+) requests a month", lambda: calls_a_31_day_month(defaults().oxr_refresh_seconds)),
    ("README.md", "OXR calls a month, every minute", r"on the free plan instead of ([\d,]+)\.", lambda: calls_a_31_day_month(60)),
    ("README.md", "CMC spacing", r"`PIPELINE_CMC_MIN_INTERVAL_SECONDS`, default ([\d,]+)\)", lambda: defaults().cmc_min_interval_seconds),
    ("README.md", "CMC credits", r"`PIPELINE_CMC_MONTHLY_CREDITS`,\s+default ([\d,]+),", lambda: defaults().cmc_monthly_credits),
    ("README.md", "AWS a month", r"AWS bill is about \$([\d,]+) a month", lambda: round(bill()["aws"])),
    ("README.md", "AWS after the free tier", r"\(about \$([\d,]+) after the free tier\)", lambda: round(bill()["after_free_tier"])),
    ("README.md", "Snowflake a month", r"every market minute costs about \$([\d,]+) a month", lambda: round(bill()["snowflake"])),
    ("README.md", "Snowflake credit", r"a month\s+at \$([\d.]+) a credit", lambda: bill()["credit"]),
    ("00_overview_and_local_stack.ipynb", "tickers", r"the S&P 500: ([\d,]+) tickers", universe_size),
    ("01_sources.ipynb", "OXR quota", r"\*\*([\d,]+) requests a month\*\*", lambda: defaults().oxr_monthly_quota),
    ("01_sources.ipynb", "OXR quota", r"settings \(([\d,]+) calls a\s+month\)", lambda: defaults().oxr_monthly_quota),
    ("01_sources.ipynb", "OXR refresh", r"`PIPELINE_OXR_REFRESH_SECONDS`, default ([\d,]+)\)", lambda: defaults().oxr_refresh_seconds),
    ("01_sources.ipynb", "the twins' seed", r"`PIPELINE_SEED`, default (\d+)\)", lambda: defaults().seed),
    ("08_analysis.ipynb", "stock minutes a day", r"a stock trades (\d+) minutes a day", lambda: minutes_per_year("stock", "day")),
    ("08_analysis.ipynb", "stock days", r"minutes a day on (\d+) days", lambda: minutes_per_year("stock", "year")),
    ("08_analysis.ipynb", "coin days", r"a coin [\d,]+ minutes on (\d+) days", lambda: minutes_per_year("crypto", "year")),
    ("08_analysis.ipynb", "currency days", r"a\s+currency [\d,]+ minutes on (\d+) weekdays", lambda: minutes_per_year("fx", "year")),
    ("08_analysis.ipynb", "stock minutes a year", r"the square root of (\d+) x \d+", lambda: minutes_per_year("stock", "day")),
    ("08_analysis.ipynb", "the session's minutes", r"`make demo MINUTES=(\d+)` runs the rest", lambda: session_minutes()),
    ("08_analysis.ipynb", "the session's last minute", r"\(14:45 to (\d\d:\d\d) UTC\)", lambda: last_session_minute()),
    ("README.md", "the session's minutes", r"`make demo MINUTES=(\d+)` runs the rest", lambda: session_minutes()),
    ("08_analysis.ipynb", "a cent's step at $0.12", r"printed to the cent moves in steps of (\d+) %", lambda: round(100 * 0.01 / 0.12)),
    ("08_analysis.ipynb", "minutes in the window", r"(\w+) minutes give \d+ one-minute returns", lambda: notebook_parameter("08_analysis.ipynb", "minutes")),
    ("08_analysis.ipynb", "returns in the window", r"\w+ minutes give (\d+) one-minute returns", lambda: notebook_parameter("08_analysis.ipynb", "minutes") - 1),
    ("08_analysis.ipynb", "their standard error", r"a standard error of about ([\d.]+)", lambda: round((notebook_parameter("08_analysis.ipynb", "minutes") - 1) ** -0.5, 2)),
    ("08_analysis.ipynb", "the square root under it", r"about 0\.\d+ \(1/sqrt\((\d+)\)\)", lambda: notebook_parameter("08_analysis.ipynb", "minutes") - 1),
    ("08_analysis.ipynb", "the volatility window", r"only `vol_window` = (\d+) returns", lambda: notebook_parameter("08_analysis.ipynb", "vol_window")),
    ("08_analysis.ipynb", "the volatility window", r"about 1/sqrt\(2 x (\d+)\)", lambda: notebook_parameter("08_analysis.ipynb", "vol_window")),
    ("08_analysis.ipynb", "the volatility window", r"so a (\d+)-minute window shows the level", lambda: notebook_parameter("08_analysis.ipynb", "vol_window")),
]
# fmt: on


@pytest.mark.parametrize(("where", "what", "pattern", "expected"), FIGURES, ids=[f"{f[0][:9]}:{f[1]}" for f in FIGURES])
def test_the_text_quotes_the_codes_figure(where: str, what: str, pattern: str, expected: Callable[[], float]) -> None:
    text = document(where)
    found = [m.group(1) for m in re.finditer(pattern, text)]
    assert found, f"{where}: no longer says {what} ({pattern!r}): update the figure's pattern in this test"
    value = expected()
    for quoted in found:
        shown = 5.0 if quoted == "fifth" else float(quoted.replace(":", ".")) if ":" in quoted else number(quoted)
        assert shown == pytest.approx(value), f"{where} says {what} is {quoted}; the code says {value}"


def test_the_live_rates_figure_is_what_open_exchange_rates_answers() -> None:
    """The README's ~170 rates, against a recorded answer of the live API (when the recordings are here)."""
    recorded = FIXTURES / "openexchangerates" / "latest_2025-06-25.json"
    if not recorded.is_file():
        pytest.skip("no recorded Open Exchange Rates answer on this machine")
    rates = len(json.loads(recorded.read_text())["rates"])
    quoted = re.search(r"~(\d+) exchange rates against USD", document("README.md"))
    assert quoted and int(quoted.group(1)) == round(rates, -1), (rates, quoted)


def test_the_measured_layer_sizes_are_a_full_build_for_the_runtime() -> None:
    """workbench/data/layer_sizes.json, which notebook 06 shows: every function, the runtime's Python, dated."""
    from workbench.course import measured_layer_sizes
    from workbench.deploy.functions import all_functions
    from workbench.deploy.runtime import DEFAULT_RUNTIME, lambda_runtime

    sizes = measured_layer_sizes()
    measured = sizes["measured"]
    assert measured["runtime"] == DEFAULT_RUNTIME and measured["python"] == lambda_runtime().python_version
    assert f"Python {measured['python']}" in measured["bytecode_by"]
    assert date.fromisoformat(measured["on"]) <= date.today()
    assert {f["function"] for f in sizes["functions"]} == {f.name for f in all_functions()}
    assert {f["layer"] for f in sizes["functions"]} == set(sizes["layers"])
    for entry in sizes["functions"]:
        layer = sizes["layers"][entry["layer"]]
        assert (entry["layer_unzipped"], entry["code_unzipped"]) == (layer["unzipped"], sizes["code"]["unzipped"])
    assert sizes["one_layer"]["unzipped"] >= max(layer["unzipped"] for layer in sizes["layers"].values())


def notebook_days() -> dict[str, int]:
    """The day of November 2026 each notebook's default window starts on (its parameters cell), and the demo's."""
    from workbench.local.demo import DEFAULT_START

    days = {"make demo": DEFAULT_START.day}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        found = re.search(r'"2026-11-(\d{2})T', cell.source)
        if found:
            days[path.name[:2]] = int(found.group(1))
    return days


@pytest.mark.parametrize("where", ["00_overview_and_local_stack.ipynb", "notebooks/README.md"])
def test_the_days_of_the_notebooks_are_their_windows(where: str) -> None:
    """ "Each notebook works on a day of its own (00 on 3 November, 01 on the 4th, ...; `make demo` on the 2nd)"."""
    text = (ROOT / where).read_text() if where.endswith(".md") else document(where)
    quoted = {m.group(1).strip("`"): int(m.group(2)) for m in re.finditer(r"(\d\d|`make demo`) on\s+the\s+(\d+)", text)}
    first = re.search(r"00 on (\d+) November", text)  # "00 on 3 November, 01 on the 4th" or "00 on the 3rd"
    if first:
        quoted["00"] = int(first.group(1))
    assert quoted, f"{where}: no longer names the notebooks' days"
    assert quoted == notebook_days()


def test_notebook_06_builds_the_smallest_layer_to_download() -> None:
    """06 builds the layer of its `build_function` because it is the smallest zip: so the measured sizes say."""
    from workbench.course import measured_layer_sizes
    from workbench.deploy.functions import get_function

    cell = next(
        c
        for c in nbformat.read(ROOT / "notebooks" / "06_lambda_layers.ipynb", as_version=4).cells
        if "parameters" in c.metadata.get("tags", [])
    )
    found = re.search(r'^build_function = "([^"]+)"', cell.source, re.MULTILINE)
    assert found
    layers = measured_layer_sizes()["layers"]
    assert get_function(found.group(1)).layer_name == min(layers, key=lambda name: layers[name]["zipped"])


def test_the_demos_output_in_the_readme_adds_up() -> None:
    """The README's `make demo` output: its minutes are the demo's, a coin row per coin and a rate row per currency
    of the twin every minute (the demo's rates refresh every minute), and the reconciliation finds every raw row."""
    from pipeline.constants import Env
    from workbench.local.demo import SIMULATED_OXR_PLAN

    text = document("README.md")
    minutes = makefile_minutes()
    assert int(SIMULATED_OXR_PLAN[Env.OXR_REFRESH_SECONDS]) == 60  # so every minute writes the rates
    from workbench.local.demo import DEFAULT_START

    start = DEFAULT_START.strftime("%Y-%m-%dT%H:%MZ").replace("Z", ":00Z")
    assert f"{minutes} scheduled minutes from {start} (" in text
    assert f"NYSE calendar: {minutes} of {minutes} minute(s) have stock bars to fetch" in text
    per_minute = {"coinmarketcap": defaults().cmc_top_n, "openexchangerates": twin_currencies()}
    for source, rows in per_minute.items():
        run = re.search(rf"^ {source} +(\d+) +(\d+) +(\d+) +(\d+) +0 +0 ", text, re.MULTILINE)
        assert run, f"README.md: the demo's run table has no {source} row"
        assert [int(n) for n in run.groups()] == [minutes, 0, minutes, minutes * rows], source
        check = re.search(rf"^ {source} +[A-Za-z ]+? +(\d+) +(\d+) +(\d+) +0 +0 +0 +ok$", text, re.MULTILINE)
        assert check, f"README.md: the demo's reconciliation has no {source} row"
        assert [int(n) for n in check.groups()] == [minutes, minutes * rows, minutes * rows], source
