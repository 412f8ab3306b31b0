"""The row models refuse what is not a value, naming the field in one line, and take a right value written any
of the ways a raw file or a sink round trip writes it (the process function quarantines what they refuse)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from pipeline.process import type_rows
from pipeline.schemas import Bar, Coin, Rate, describe

TAIL = {"status": "success", "error": "", "scheduled_at": "2026-11-02T14:45:00Z", "ingested_at": "2026-11-02T14:45:04Z"}
BAR = {"symbol": "AAPL", "ts": "2026-11-02T14:44:00Z", "open": "10.0", "high": "11.0", "low": "9.0", "close": "10.5",
       "volume": "1200", **TAIL}  # fmt: skip
COIN = {"rank": "1", "name": "Bitcoin", "symbol": "BTC", "price_usd": "70517.58", "change_1h_pct": "-0.16",
        "change_24h_pct": "1.2", "change_7d_pct": "", "market_cap_usd": "1.39e12", "volume_24h_usd": "3.5E10",
        "circulating_supply": "19800000", "coin_id": "1", "last_updated": "2026-11-02T14:44:10Z", **TAIL}  # fmt: skip
RATE = {"base": "USD", "currency": "EUR", "rate": "0.9214", "rate_ts": "2026-11-02T14:00:00Z", **TAIL}
GOOD: dict[type[BaseModel], dict[str, str]] = {Bar: BAR, Coin: COIN, Rate: RATE}

NON_FINITE = ["inf", "-inf", "Infinity", "nan", "NaN", "1e309", "-1e309", "1E400"]
NOT_NUMBERS = ["abc", "1_000", "0x10", "1,5", "١٢", "12$", "--1", "True", "\t10", "10\n", "=1+1"]
BAD_TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:00Z", "1969-12-31T23:59:00Z", "2100-01-01T00:00:00Z",
             "1750885200", "yesterday", "2026-13-01T00:00:00Z", "\n2026-11-02T14:44:00Z"]  # fmt: skip
CONTROL = ["A\x00B", "A\x01B", "A\x1fB", "A\x7fB", "A\x85B", "A\x9bB", "A\nB", "A\rB", "A\u2028B", "A\u202eB",
           "A\u2066B", "A\u200bB", "A\ufeffB"]  # fmt: skip

WRONG: list[tuple[type[BaseModel], str, Any]] = [
    *[(Bar, f, v) for f in ("open", "high", "low", "close") for v in [*NON_FINITE, *NOT_NUMBERS, "0", "-1.5"]],
    *[(Bar, "volume", v) for v in [*NON_FINITE, *NOT_NUMBERS, "-1", "100.5", "1e38", str(2**63), "9" * 60]],
    *[(Bar, "ts", v) for v in [*BAD_TIMES, "2026-11-02T14:44:30Z", "2026-11-02T14:44:00.5Z"]],
    (Bar, "ts", "2026-11-02T14:45:00Z"),  # the bar of the scheduled minute itself has not closed
    (Bar, "ts", "2026-11-02T15:44:00Z"),  # later than the fetch
    (Bar, "scheduled_at", "2026-11-02T14:45:30Z"),  # off the minute
    (Bar, "scheduled_at", "2029-11-02T14:45:00Z"),  # years after the fetch
    (Bar, "scheduled_at", "2027-02-02T14:45:00Z"),  # a bar months older than the minute that fetched it
    *[(Bar, "symbol", v) for v in [*CONTROL, "", "   ", "X" * 33]],
    *[(Coin, f, v) for f in ("price_usd",) for v in [*NON_FINITE, *NOT_NUMBERS, "0", "-3"]],
    *[(Coin, f, v) for f in ("market_cap_usd", "volume_24h_usd", "circulating_supply") for v in [*NON_FINITE, "-1"]],
    *[(Coin, f, v) for f in ("change_1h_pct", "change_24h_pct", "change_7d_pct") for v in [*NON_FINITE, "-100.5"]],
    *[(Coin, "rank", v) for v in ["0", "-1", "1.5", "inf", str(2**31), "first"]],
    *[(Coin, "coin_id", v) for v in ["0", str(2**63), "1.5", "nan"]],
    *[(Coin, "last_updated", v) for v in [*BAD_TIMES, "2026-11-02T15:00:00Z"]],
    *[(Coin, "scheduled_at", v) for v in [*BAD_TIMES, "2026-11-02T14:45:01Z", "2026-11-02T15:00:00Z"]],
    *[(Coin, f, v) for f in ("symbol", "name") for v in [*CONTROL, ""]],
    (Coin, "symbol", "X" * 33),
    (Coin, "name", "X" * 201),
    *[(Rate, "rate", v) for v in [*NON_FINITE, *NOT_NUMBERS, "0", "-0.92", "5e-324", "1e-310"]],
    *[(Rate, f, v) for f in ("base", "currency") for v in [*CONTROL, "eur", "EURO", "EU", "E1R", "ÉUR", "x');--"]],
    *[(Rate, "rate_ts", v) for v in [*BAD_TIMES, "2026-11-02T15:00:00Z"]],
    (Rate, "scheduled_at", "2028-11-02T14:45:00Z"),  # after the fetch
    (Rate, "scheduled_at", "2026-12-24T14:45:00Z"),  # a month and more after the rates it fetched
]


def refusal(model: type[BaseModel], row: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as failure:
        model.model_validate(row)
    return describe(failure.value)


@pytest.mark.parametrize(("model", "field", "value"), WRONG, ids=lambda x: repr(x)[:40])
def test_a_wrong_value_is_refused_naming_its_field_in_one_line(model, field, value):
    row = {**GOOD[model], field: value}
    if field == "scheduled_at" and model is not Coin and value.startswith(("2027", "2026-12")):
        row["ingested_at"] = value  # a later fetch, so only the distance to the row's own time is wrong
    reason = refusal(model, row)
    assert reason.startswith(f"{field}: "), reason
    assert "\n" not in reason and len(reason) < 300


@pytest.mark.parametrize("model", [Bar, Coin, Rate])
def test_the_good_rows_pass(model):
    model.model_validate(GOOD[model])


RIGHT: list[tuple[type[BaseModel], str, Any, Any]] = [
    (Bar, "close", "1.05E+1", 10.5),
    (Bar, "close", "1.05e1", 10.5),
    (Bar, "close", "  10.5 ", 10.5),
    (Bar, "close", 10.5, 10.5),
    (Bar, "close", "+10.5", 10.5),
    (Bar, "volume", "1.2E+3", 1200),
    (Bar, "volume", "  1200 ", 1200),
    (Bar, "volume", "1200.0", 1200),
    (Bar, "volume", 1200.0, 1200),
    (Bar, "volume", "0", 0),
    (Bar, "volume", str(2**63 - 1), 2**63 - 1),
    (Bar, "volume", "9.2e18", 9_200_000_000_000_000_000),
    (Bar, "ts", "2026-11-02T14:44:00+00:00", datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    (Bar, "ts", "2026-11-02 14:44:00+00:00", datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    (Bar, "ts", "2026-11-02T09:44:00-05:00", datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    (Bar, "ts", "2026-11-02T14:44:00", datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    (Bar, "ts", datetime(2026, 11, 2, 14, 44, tzinfo=UTC), datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    (Bar, "ts", "2026-11-02T14:44:00.000Z", datetime(2026, 11, 2, 14, 44, tzinfo=UTC)),
    *[(Bar, "symbol", s, s) for s in ("BRK-B", "BF-B", "A", "MSFT", "X" * 32)],
    *[(Coin, "symbol", s, s) for s in ("1INCH", "stETH", "USDC.e", "BTC.b", "WBTC")],
    *[(Coin, "name", s, s) for s in ("Crypto.com Coin", "Bitcoin Cash", "Ænima Ünïcode", "Lido Staked ETH")],
    (Coin, "change_1h_pct", "-100", -100.0),
    (Coin, "change_7d_pct", "", None),
    (Coin, "market_cap_usd", "0", 0.0),
    (Coin, "price_usd", "5e-324", 5e-324),  # Parquet's float64 holds it
    (Coin, "coin_id", "1.0", 1),
    (Coin, "rank", " 3 ", 3),
    (Rate, "rate", "9.273581e-06", 9.273581e-06),
    (Rate, "rate", "89555.273809", 89555.273809),
    (Rate, "rate", "1.5E+2", 150.0),
    (Rate, "currency", " BTC ", "BTC"),
    (Rate, "rate_ts", "2026-11-02T14:49:00Z", datetime(2026, 11, 2, 14, 49, tzinfo=UTC)),  # within the clock skew
]


@pytest.mark.parametrize(("model", "field", "value", "expected"), RIGHT, ids=lambda x: repr(x)[:40])
def test_a_right_value_written_another_way_passes(model, field, value, expected):
    row = model.model_validate({**GOOD[model], field: value})
    assert getattr(row, field) == expected


def test_a_typed_row_validates_again_as_the_sinks_check_it():
    for model, raw in GOOD.items():
        typed = model.model_validate(raw)
        assert model.model_validate(typed.__dict__) == typed


@settings(max_examples=200, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False, min_value=1e-300, max_value=1e300))
def test_any_finite_positive_price_passes_in_every_spelling(value):
    for spelled in (value, repr(value), f"{value:E}", f"{value:e}", f"  {value!r} "):
        assert math.isclose(Rate.model_validate({**RATE, "rate": spelled}).rate, value, rel_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.sampled_from([math.inf, -math.inf, math.nan]),
        st.integers(min_value=309, max_value=5000).map(lambda e: f"1e{e}"),
        st.integers(min_value=309, max_value=5000).map(lambda e: f"-9.9E+{e}"),
    ),
    field=st.sampled_from(["open", "high", "low", "close"]),
)
def test_no_non_finite_number_passes_in_any_spelling(value, field):
    bar = {**BAR, "open": "10.0", "high": "10.0", "low": "10.0", "close": "10.0", field: value}
    assert refusal(Bar, bar).startswith(f"{field}: ")


@settings(max_examples=200, deadline=None)
@given(char=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), at=st.integers(min_value=0, max_value=4))
def test_no_control_or_format_character_passes_in_an_identifier(char, at):
    symbol = "MSFT"[:at] + char + "MSFT"[at:]
    assert refusal(Bar, {**BAR, "symbol": symbol}).startswith("symbol: ")
    assert refusal(Coin, {**COIN, "name": symbol}).startswith("name: ")


def test_the_process_function_keeps_the_good_rows_and_rejects_the_bad_by_line_and_field():
    rows = [
        {**RATE, "currency": "EUR"},
        {**RATE, "currency": "GBP", "rate": "inf"},
        {**RATE, "currency": "JPY", "rate": "1e309"},
        {**RATE, "currency": "CH\x00F"},
        {**RATE, "currency": "CAD", "rate_ts": "9999-12-31T00:00:00Z"},
        {**RATE, "currency": "AUD", "status": "error", "rate": ""},
        {**RATE, "currency": "SEK", "rate": " 1.1E+1 "},
    ]
    typed, rejected = type_rows("openexchangerates", rows)
    assert [r.currency for r in typed] == ["EUR", "SEK"]
    assert [(r.line, r.reason.partition(":")[0]) for r in rejected] == [
        (3, "rate"), (4, "rate"), (5, "currency"), (6, "rate_ts"),
    ]  # fmt: skip


def test_a_time_later_than_the_fetch_within_the_skew_passes_and_beyond_it_is_refused():
    fetched = datetime(2026, 11, 2, 14, 45, 4, tzinfo=UTC)
    within = fetched + timedelta(minutes=4)
    beyond = fetched + timedelta(minutes=6)
    Rate.model_validate({**RATE, "rate_ts": within.isoformat()})
    assert refusal(Rate, {**RATE, "rate_ts": beyond.isoformat()}).startswith("rate_ts: ")
