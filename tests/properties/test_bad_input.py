"""Bad input, generated: random and mutated payloads through the three parsers and the event parser.

Whatever arrives (truncated, wrong types, huge numbers, NaN and infinities, hostile strings, other encodings), a
parser either returns raw rows or raises the package's `PipelineError` (one line, a kind), never anything else;
and every row it calls a success is a valid row of its model once it has been through the raw CSV, as the process
function reads it (`registry.get(id).model()`): a value the model refuses is an error row in the raw layer, never a
success row quarantined later.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline import registry
from pipeline.contracts import Event
from pipeline.errors import PipelineError
from pipeline.process import parse_event
from pipeline.raw import csv_to_rows, rows_to_csv, success_rows
from pipeline.schemas import describe
from pipeline.sources import coinmarketcap, openexchangerates, simulator, yahoo_finance

AT = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values a hostile or broken service could put anywhere.
hostile_text = st.sampled_from(
    ["", " ", "null", "NaN", "-inf", "1e309", "0", "-1", "'; DROP TABLE bars;--", "<script>alert(1)</script>",
     "\x00", "\u202e", "é", "💥", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), "1,2,3",
     "\n", '"', "a" * 5000]
)  # fmt: skip
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=40), hostile_text)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=5)), max_leaves=20
)  # fmt: skip


def check(source: str, parse: Any) -> None:
    """Parse: rows or a PipelineError; every success row survives the raw CSV and validates against the row model
    (a value the model refuses is the parser's error row, naming the field, never a success row)."""
    try:
        rows = parse()
    except PipelineError as exc:
        assert str(exc).strip(), "a PipelineError without a message"
        return
    model = registry.get(source).model()
    for line, row in enumerate(success_rows(csv_to_rows(source, rows_to_csv(source, rows))), start=2):
        try:
            model.model_validate(row)
        except ValidationError as exc:
            message = f"{source}: success row {line} breaks {model.__name__}: {describe(exc)}; row={row}"
            raise AssertionError(message) from None


def mutate(document: Any, path_choice: int, value: Any) -> Any:
    """Replace one node of a JSON document (chosen by index over a walk of it) with `value`."""
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in node:
                nodes.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                nodes.append((node, i))
                walk(node[i])

    walk(document)
    if nodes:
        parent, key = nodes[path_choice % len(nodes)]
        parent[key] = value
    return document


# --- Open Exchange Rates -------------------------------------------------------------------------------------


def oxr(body: Any) -> Any:
    return lambda: openexchangerates.SOURCE.parse(body, scheduled_at=AT, ingested_at=AT)


@FAST
@given(body=json_values)
def test_open_exchange_rates_random_bodies(body):
    check("openexchangerates", oxr(body))


@FAST
@given(choice=st.integers(min_value=0, max_value=10_000), value=json_values)
@example(choice=1, value=float("nan"))
@example(choice=1, value=1e309)
def test_open_exchange_rates_mutated_bodies(choice, value):
    body = mutate(openexchangerates.simulate(42, AT), choice, value)
    check("openexchangerates", oxr(body))


# --- CoinMarketCap ---------------------------------------------------------------------------------------------


def cmc(kind: str, text: str) -> Any:
    payload = coinmarketcap.CmcPayload(kind, text, 10)  # type: ignore[arg-type]
    return lambda: coinmarketcap.SOURCE.parse(payload, scheduled_at=AT, ingested_at=AT)


def api_body() -> dict[str, Any]:
    data = [
        {"cmc_rank": i, "name": q.coin.name, "symbol": q.coin.symbol, "circulating_supply": q.circulating_supply,
         "quote": {"USD": {"price": q.price, "volume_24h": q.volume_24h, "market_cap": q.market_cap,
                           "percent_change_1h": q.change_1h_pct, "percent_change_24h": q.change_24h_pct,
                           "percent_change_7d": q.change_7d_pct}}}
        for i, q in enumerate(simulator.crypto_quotes(42, AT)[:10], start=1)
    ]  # fmt: skip
    return {"status": {"error_code": 0}, "data": data}


@FAST
@given(choice=st.integers(min_value=0, max_value=10_000), value=json_values)
def test_coinmarketcap_api_mutated_bodies(choice, value):
    check("coinmarketcap", cmc("api", json.dumps(mutate(api_body(), choice, value), allow_nan=True)))


PAGE = coinmarketcap.simulate(42, AT, 10).body


@FAST
@given(
    cut=st.integers(min_value=0, max_value=len(PAGE)),
    at=st.integers(min_value=0, max_value=len(PAGE)),
    insert=st.one_of(hostile_text, st.text(max_size=30)),
)
def test_coinmarketcap_pages_truncated_and_spliced(cut, at, insert):
    page = PAGE[:cut] if cut % 2 else PAGE[:at] + insert + PAGE[at:]
    check("coinmarketcap", cmc("html", page))


@FAST
@given(body=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_coinmarketcap_random_text(body):
    check("coinmarketcap", cmc("html", body))
    check("coinmarketcap", cmc("api", body))


# --- Yahoo Finance ---------------------------------------------------------------------------------------------


def yahoo(bars: pd.DataFrame) -> Any:
    start = AT - timedelta(minutes=5)
    payload = yahoo_finance.YahooPayload(start, AT, ("AAA", "BBB"), bars, {})
    return lambda: yahoo_finance.SOURCE.parse(payload, scheduled_at=AT, ingested_at=AT)


prices = st.one_of(numbers, st.none())
bar_rows = st.lists(
    st.fixed_dictionaries(
        {
            "symbol": st.one_of(st.sampled_from(["AAA", "BBB", "BRK-B"]), st.text(max_size=40), hostile_text),
            "ts": st.one_of(
                st.integers(min_value=-10, max_value=10).map(lambda m: AT + timedelta(minutes=m)),
                st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
            ),
            "open": prices, "high": prices, "low": prices, "close": prices,
            "volume": st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.just(0)),
        }
    ),
    max_size=8,
)  # fmt: skip


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return yahoo_finance.empty_bars()
    df = pd.DataFrame(rows)
    for c in yahoo_finance.PRICE_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df


@FAST
@given(rows=bar_rows)
def test_yahoo_random_bars(rows):
    check("yahoo_finance", yahoo(frame(rows)))


CHART = FIXTURES / "yahoo" / "chart_MSFT_1m_2024-10-02.json"


@FAST
@given(choice=st.integers(min_value=0, max_value=100_000), value=json_values)
def test_yahoo_mutated_chart_bodies(choice, value, tmp_path_factory):
    if not CHART.exists():
        pytest.skip("no recorded chart")
    document = mutate(json.loads(CHART.read_text()), choice, value)
    path = tmp_path_factory.mktemp("chart") / "chart.json"
    path.write_text(json.dumps(document, allow_nan=True))

    def parse() -> Any:
        payload = yahoo_finance.SOURCE.load_payload(path)
        return yahoo_finance.SOURCE.parse(payload, scheduled_at=payload.end, ingested_at=payload.end)

    check("yahoo_finance", parse)


# --- the event parser ------------------------------------------------------------------------------------------

GOOD_EVENT = Event(bucket="b", key="raw/coinmarketcap/2026/11/17/1500.csv", source="coinmarketcap",
                   scheduled_at="2026-11-17T15:00:00Z", rows=10).model_dump()  # fmt: skip


@FAST
@given(
    body=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
        json_values.map(lambda v: json.dumps(v, allow_nan=True)),
        st.tuples(st.integers(min_value=0, max_value=100), json_values).map(
            lambda t: json.dumps(mutate(dict(GOOD_EVENT), t[0], t[1]), allow_nan=True)
        ),
    )
)
def test_event_parser_takes_anything_as_an_event_or_a_one_line_contract_error(body):
    try:
        event = parse_event(body, "coinmarketcap")
    except PipelineError as exc:
        assert exc.kind == "terminal" and "\n" not in str(exc)
        return
    assert isinstance(event, Event) and event.source == "coinmarketcap"


def test_a_crash_would_be_caught():
    """Negative control: `check` fails on an exception that is not a PipelineError and on any success row the model
    refuses; the same row as an error row passes."""
    with pytest.raises(ZeroDivisionError):
        check("openexchangerates", lambda: 1 / 0)
    tail = {"status": "success", "error": "", "scheduled_at": "2026-11-17T15:00:00Z",
            "ingested_at": "2026-11-17T15:00:05Z"}  # fmt: skip
    bar = {"symbol": "AAA", "ts": "2026-11-17T14:59:00Z", "open": 10.0, "high": 9.0, "low": 8.0, "close": 9.0,
           "volume": 1, **tail}  # fmt: skip
    with pytest.raises(AssertionError, match="breaks Bar"):
        check("yahoo_finance", lambda: [bar])
    nan = {"base": "USD", "currency": "EUR", "rate": math.nan, "rate_ts": "2026-11-17T15:00:00Z", **tail}
    with pytest.raises(AssertionError, match="breaks Rate: rate"):
        check("openexchangerates", lambda: [nan])
    check("openexchangerates", lambda: [{**nan, "status": "error", "error": "rate: not a number"}])
