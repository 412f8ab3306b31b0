"""The course's exercises: for every checker, a table of answers. Right answers written the ways learners write
them (other orders, types, libraries) must be "right"; known-wrong answers (the mistakes learners make) must be
"not yet" with a reason that names the mistake, never only the answer. The inputs are the pipeline's own: rows as
the raw CSV gives them, frames as the sinks give them, the template's own counts. Every notebook 01-08 holds at
least two exercises with hidden solutions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from workbench import analysis, course
from workbench.course import EXERCISES, verdict

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTERS = sorted(p.name for p in NOTEBOOKS.glob("0[1-8]_*.ipynb"))
CHECK_CALL = re.compile(r"check\(\s*\"(\d\d\.[a-z0-9_]+)\"")


MINUTE = pd.Timedelta(minutes=1)


@dataclass
class _Window:
    """What `workbench.analysis.collect` reads from the sinks for a window, as frames of the sinks' types."""

    start: datetime
    end: datetime
    bars: pd.DataFrame
    coins: pd.DataFrame
    rates: pd.DataFrame


def _sink_bars(first: str = "2026-11-12T14:31Z", minutes: int = 23, gaps: tuple[str, ...] = ()) -> pd.DataFrame:
    """1-minute bars of two stocks as `analysis.load_bars` returns them (ts = bar start, UTC; floats; int64 volume;
    ordered by symbol and ts), AAA missing the bars that start at `gaps`."""
    frames = []
    for symbol, base in (("AAA", 100.0), ("BBB", 250.0)):
        ts = pd.date_range(first, periods=minutes, freq="1min", tz="UTC")
        close = base + np.sin(np.arange(minutes)) * 0.7 + np.arange(minutes) * 0.05
        frame = pd.DataFrame({"symbol": symbol, "ts": ts, "open": close - 0.2, "high": close + 0.3,
                              "low": close - 0.4, "close": close, "volume": (np.arange(minutes) * 10 + 5)})  # fmt: skip
        if symbol == "AAA":
            frame = frame[~frame["ts"].isin(pd.to_datetime(list(gaps), utc=True))]
        frames.append(frame)
    bars = pd.concat(frames, ignore_index=True)
    bars["volume"] = bars["volume"].astype("int64")
    return bars[list(analysis.BAR_COLUMNS)]


def _prices() -> pd.DataFrame:
    """panel.prices as notebook 08 builds it (`analysis.price_panel`) from sink frames: two stocks (AAA missing a
    bar, so a gap), two coins, a currency published once (flat)."""
    start = datetime(2026, 11, 12, 14, 45, tzinfo=UTC)
    bars = _sink_bars("2026-11-12T14:44Z", 8, gaps=("2026-11-12T14:47Z",))
    minutes = pd.date_range(start, periods=8, freq="1min", tz="UTC")
    listed = (("BTC", 1, 7e4), ("ETH", 2, 3.9e3))
    coins = pd.DataFrame(
        [
            {"symbol": s, "rank": r, "price_usd": p * (1 + 0.001 * np.sin(i + r)), "scheduled_at": m}
            for i, m in enumerate(minutes)
            for s, r, p in listed
        ]
    )
    rates = pd.DataFrame({"base": ["USD"], "currency": ["EUR"], "rate": [0.92], "rate_ts": [minutes[0] - 10 * MINUTE]})
    window = _Window(start, start + 7 * MINUTE, bars, coins, rates)
    return analysis.price_panel(window, stocks=2, coins=2, currencies=("EUR",)).prices


def _period_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame indexed by minute periods (to_period drops the time zone, so the index is made naive first)."""
    return frame.set_axis(frame.index.tz_convert(None).to_period("min"))


def _candles(bars: pd.DataFrame, symbol: str = "AAA", **how: Any) -> pd.DataFrame:
    one = bars[bars["symbol"] == symbol].set_index("ts").sort_index()
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return one.resample("5min", **how).agg(rules).dropna()  # type: ignore[arg-type]


def _page() -> Any:
    from pipeline.contracts import to_utc
    from pipeline.settings import Settings
    from pipeline.sources import get_source

    settings = Settings(mode="simulated", cmc_top_n=10)
    return get_source("coinmarketcap").fetch(settings, to_utc("2026-11-02T14:45Z"), None)


def _broken(page: Any, predicted: Any) -> dict[str, Any]:
    """The page with its layout broken (no listing table, no embedded JSON): the parser refuses it whole."""
    from dataclasses import replace

    return {"page": replace(page, body=page.body.replace("cmc-table", "grid").replace("__NEXT_DATA__", "_")),
            "predicted": predicted}  # fmt: skip


def _price_written(page: Any, written: str, predicted: Any) -> dict[str, Any]:
    """The page with the first coin's price written as `written` and no embedded JSON, so the table is read."""
    from dataclasses import replace

    shown = BeautifulSoup(page.body, "lxml").select_one("table.cmc-table tbody tr").find_all("td", recursive=False)[3]
    body = page.body.replace(shown.get_text(strip=True), written, 1).replace("__NEXT_DATA__", "__APP_STATE__")
    return {"page": replace(page, body=body), "predicted": predicted}


# ----- the learners' functions of 02 and 04, right and wrong -------------------------------------------------------
def _validator(row: dict[str, Any]) -> None:
    if int(row["volume"]) < 0:
        raise ValueError(f"negative volume for {row['symbol']}")


def _validator_float(row: dict[str, Any]) -> None:
    if float(row["volume"]) < 0:
        raise ValueError(f"{row['symbol']} at {row['ts']}: volume {row['volume']} < 0")


def _validator_sign(row: dict[str, Any]) -> None:
    if row["volume"].strip().startswith("-"):
        raise ValueError(f"{row['symbol']}: a negative volume")


def _validator_decimal(row: dict[str, Any]) -> None:
    from decimal import Decimal

    if Decimal(row["volume"]).is_signed():
        raise ValueError(f"{row['symbol']}: a negative volume")


def _refuses_zero(row: dict[str, Any]) -> None:
    if int(row["volume"]) <= 0:
        raise ValueError(f"no volume for {row['symbol']}")


def _compares_text(row: dict[str, Any]) -> None:
    if row["volume"] < 0:
        raise ValueError(f"negative volume for {row['symbol']}")


def _returns_false(row: dict[str, Any]) -> bool:
    return int(row["volume"]) >= 0


def _asserts(row: dict[str, Any]) -> None:
    assert int(row["volume"]) >= 0, row["symbol"]


def _says_no_symbol(row: dict[str, Any]) -> None:
    if int(row["volume"]) < 0:
        raise ValueError("negative volume")


def _wrong_field(row: dict[str, Any]) -> None:
    if int(row["vol"]) < 0:
        raise ValueError(row["symbol"])


def _off_by_one(row: dict[str, Any]) -> None:
    if int(row["volume"]) < -1:
        raise ValueError(f"negative volume for {row['symbol']}")


def _bar_model(row: dict[str, Any]) -> None:
    from pipeline.schemas import Bar

    try:
        Bar.model_validate(row)
    except ValueError as exc:
        raise ValueError(f"{row['symbol']}: {exc}") from None


COIN_MERGE = """MERGE INTO COINS AS t USING COINS_STAGE AS s
ON t.SYMBOL = s.SYMBOL AND t.SCHEDULED_AT = s.SCHEDULED_AT
WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET PRICE_USD = s.PRICE_USD, RAW_KEY = s.RAW_KEY
WHEN NOT MATCHED THEN INSERT (SYMBOL, SCHEDULED_AT, PRICE_USD, RAW_KEY)
VALUES (s.SYMBOL, s.SCHEDULED_AT, s.PRICE_USD, s.RAW_KEY)"""
MERGE_OTHER_WAY = """merge into coins c
using (select symbol, scheduled_at, price_usd, raw_key from coins_stage) n
on n.scheduled_at = c.scheduled_at and n.symbol = c.symbol
when matched and c.raw_key <= n.raw_key then update set raw_key = n.raw_key, price_usd = n.price_usd
when not matched then insert values (n.symbol, n.scheduled_at, n.price_usd, n.raw_key);"""
IFF_GUARD = "IFF(s.RAW_KEY >= t.RAW_KEY, TRUE, FALSE)"
KEYS = {
    "yahoo_finance": ("symbol", "ts"),
    "coinmarketcap": ("symbol",),
    "openexchangerates": ("base", "currency", "rate_ts"),
}
SIZES = [
    {"function": "ingest-yahoo_finance", "code_unzipped": 2 * 2**20, "layer_unzipped": 180 * 2**20,
     "code_zipped": 2**20, "layer_zipped": 60 * 2**20},
    {"function": "process-coinmarketcap", "code_unzipped": 2 * 2**20, "layer_unzipped": 150 * 2**20,
     "code_zipped": 2**20, "layer_zipped": 70 * 2**20},
    {"function": "ingest-openexchangerates", "code_unzipped": 2 * 2**20, "layer_unzipped": 30 * 2**20,
     "code_zipped": 2**20, "layer_zipped": 10 * 2**20},
]  # fmt: skip
SPARE_BYTES = 262_144_000 - 182 * 2**20  # 68 MB of 2**20 bytes, 71.3 MB of 10**6
DROPPED = ("the same object published again", "the same object, its ETag without quotes")


def _dedup(**overrides: Any) -> dict[str, Any]:
    return {**{label: label in DROPPED for label in course.publishes()}, **overrides}


def _annual(kind: str, minutes: int | None = None) -> float:
    from workbench.analysis import MINUTES_PER_YEAR

    return 100 * 2e-4 * math.sqrt(minutes if minutes is not None else MINUTES_PER_YEAR[kind])


def _resources(parameters: dict[str, str] | None = None) -> int:
    return sum(course.resources_created(parameters).values())


def _extra() -> int:
    return _resources({"CreateSqlServer": "true"}) - _resources()


@cache
def _declared() -> int:
    from workbench.cloudformation.template import load_template

    return len(load_template()["Resources"])


def _rules(one: pd.DataFrame, volume: str = "sum") -> pd.DataFrame:
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": volume}
    return one.resample("5min").agg(rules).dropna()  # type: ignore[arg-type]


def _one(bars: pd.DataFrame, symbol: str = "AAA") -> pd.DataFrame:
    return bars[bars["symbol"] == symbol].set_index("ts").sort_index()


Answer = Callable[[dict[str, Any]], Any]
CONTEXT: dict[str, Callable[[], dict[str, Any]]] = {
    "01.broken_price": lambda: {"original": _page(), "at": "2026-11-02T14:45:00Z"},
    "03.dlq_max1": lambda: {"measured": 2},
    "06.runtime_provided": lambda: {"candidates": ("boto3", "pandas", "botocore", "pyarrow", "s3transfer", "pydantic")},
    "06.heaviest": lambda: {"sizes": pd.DataFrame(SIZES)},
    "08.log_returns": lambda: {"prices": _prices()},
    "08.resample": lambda: {
        "bars": _sink_bars(gaps=tuple(f"2026-11-12T14:{m}Z" for m in range(45, 50))),
        "symbol": "AAA",
    },
}

# Right answers, written the ways learners write them: (what it is, the answer from the context).
RIGHT: dict[str, list[tuple[str, Answer]]] = {
    "01.broken_price": [("the solution", lambda c: _price_written(c["original"], "$70.517,58", ("error", 9)))],
    "01.monthly_calls": [("the product", lambda c: 44_640)],
    "01.quota_spacing": [("the ceiling", lambda c: 45)],
    "02.raw_key": [
        ("the key", lambda c: "raw/yahoo_finance/2026/12/31/2359.csv"),
        ("a path of its parts", lambda c: PurePosixPath("raw", "yahoo_finance", "2026", "12", "31", "2359.csv")),
        ("joined", lambda c: "/".join(["raw", "yahoo_finance", "2026", "12", "31", "2359.csv"])),
    ],
    "02.keeps_existing": [
        ("had > new", lambda c: lambda had, new: had > new),
        ("new < had", lambda c: lambda existing, fetched: fetched < existing),
        ("not new >= had", lambda c: lambda had, new: not new >= had),
        ("a numpy bool", lambda c: lambda had, new: np.greater(had, new)),
        ("1 or 0", lambda c: lambda had, new: int(had > new)),
    ],
    "03.dropped": [
        ("a dict of bools", lambda c: _dedup()),
        ("words", lambda c: {label: "dropped" if label in DROPPED else "delivered" for label in course.publishes()}),
        ("a list in order", lambda c: [label in DROPPED for label in course.publishes()]),
        ("the set of the dropped", lambda c: set(DROPPED)),
        ("numpy bools", lambda c: {label: np.bool_(label in DROPPED) for label in course.publishes()}),
        ("1 and 0", lambda c: {label: int(label in DROPPED) for label in course.publishes()}),
    ],
    "03.dlq_max1": [
        ("2", lambda c: 2),
        ("2.0", lambda c: 2.0),
        ("text", lambda c: "2"),
        ("numpy", lambda c: np.int64(2)),
    ],
    "04.volume_validator": [
        ("int()", lambda c: _validator),
        ("float()", lambda c: _validator_float),
        ("the sign of the text", lambda c: _validator_sign),
        ("Decimal", lambda c: _validator_decimal),
        ("the pipeline's own model", lambda c: _bar_model),
    ],
    "04.fifo_reported": [
        ("a list", lambda c: ["m3", "m4", "m5"]),
        ("a tuple", lambda c: ("m3", "m4", "m5")),
        ("batchItemFailures itself", lambda c: [{"itemIdentifier": i} for i in ("m3", "m4", "m5")]),
    ],
    "05.natural_keys": [
        ("tuples", lambda c: KEYS),
        ("lists", lambda c: {s: list(k) for s, k in KEYS.items()}),
        ("sets in any order", lambda c: {s: set(reversed(k)) for s, k in KEYS.items()}),
        ("Snowflake's upper case", lambda c: {s: tuple(f.upper() for f in k) for s, k in KEYS.items()}),
        ("one name for a one-field key", lambda c: {**KEYS, "coinmarketcap": "symbol"}),
        ("pairs", lambda c: list(KEYS.items())),
    ],
    "05.coin_merge": [
        ("the solution", lambda c: COIN_MERGE),
        ("another hand", lambda c: MERGE_OTHER_WAY),
        (
            "SET columns qualified by the target's alias",
            lambda c: COIN_MERGE.replace(
                "SET PRICE_USD = s.PRICE_USD, RAW_KEY", "SET t.PRICE_USD = s.PRICE_USD, t.RAW_KEY"
            ),
        ),
        ("a comment holding a ;, a trailing ;", lambda c: f"-- load one raw file; idempotent\n{COIN_MERGE};"),
        ("a string literal holding a ;", lambda c: COIN_MERGE.replace("s.RAW_KEY >=", "s.RAW_KEY || ';' >=")),
        ("Snowflake's IFF as the guard", lambda c: COIN_MERGE.replace("s.RAW_KEY >= t.RAW_KEY", IFF_GUARD)),
        (
            "Snowflake's DATEADD in the insert",
            lambda c: COIN_MERGE.replace(
                "(s.SYMBOL, s.SCHEDULED_AT,", "(s.SYMBOL, DATEADD(minute, 0, s.SCHEDULED_AT),"
            ),
        ),
    ],
    "06.runtime_provided": [
        ("a set", lambda c: {"boto3", "botocore", "s3transfer"}),
        ("a list", lambda c: ["s3transfer", "botocore", "boto3"]),
        ("any case", lambda c: ("Boto3", "BotoCore", "s3transfer")),
        ("a frozenset", lambda c: frozenset({"boto3", "botocore", "s3transfer"})),
    ],
    "06.heaviest": [
        ("a tuple", lambda c: ("ingest-yahoo_finance", 68)),
        ("a list, unrounded", lambda c: ["ingest-yahoo_finance", SPARE_BYTES / 2**20]),
        ("a dict", lambda c: {"ingest-yahoo_finance": 68}),
        ("MB of 10**6 bytes", lambda c: ("ingest-yahoo_finance", 71)),
        ("numpy", lambda c: ("ingest-yahoo_finance", np.float64(68.0))),
    ],
    "07.default_deploy": [
        ("a dict", lambda c: {"resources": _resources(), "rds_instances": 0}),
        ("a pair", lambda c: (_resources(), 0)),
        ("other cases and types", lambda c: {"Resources": str(_resources()), "RDS_Instances": 0.0}),
    ],
    "07.sqlserver_extra": [
        ("a number", lambda c: _extra()),
        ("text", lambda c: str(_extra())),
        ("a float", lambda c: float(_extra())),
        ("numpy", lambda c: np.int64(_extra())),
    ],
    "08.log_returns": [
        ("shift", lambda c: np.log(c["prices"] / c["prices"].shift(1)).iloc[1:]),
        ("diff, the first row left NaN", lambda c: np.log(c["prices"]).diff()),
        ("log1p of pct_change", lambda c: np.log1p(c["prices"].pct_change(fill_method=None)).iloc[1:]),
        ("other column order", lambda c: np.log(c["prices"]).diff().iloc[1:][list(reversed(c["prices"].columns))]),
        ("a numpy array", lambda c: np.log(c["prices"] / c["prices"].shift(1)).iloc[1:].to_numpy()),
        ("apply", lambda c: (c["prices"].apply(np.log) - c["prices"].shift(1).apply(np.log)).iloc[1:]),
        (
            "the index shifted (freq=), the minutes past the panel dropped",
            lambda c: np.log(c["prices"] / c["prices"].shift(freq="1min")).reindex(c["prices"].index).iloc[1:],
        ),
        ("float32", lambda c: np.log(c["prices"] / c["prices"].shift(1)).iloc[1:].astype("float32")),
        ("newest first", lambda c: np.log(c["prices"] / c["prices"].shift(1)).iloc[1:].iloc[::-1]),
        ("a PeriodIndex of minutes", lambda c: _period_index(np.log(c["prices"] / c["prices"].shift(1)).iloc[1:])),
    ],
    "08.resample": [
        ("the solution", lambda c: _candles(c["bars"])),
        (
            "empty periods kept",
            lambda c: (
                _one(c["bars"])
                .resample("5min")
                .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
            ),
        ),
        ("capitalised, with the symbol", lambda c: _candles(c["bars"]).rename(columns=str.title).assign(symbol="AAA")),
        ("a naive index", lambda c: _candles(c["bars"]).tz_convert(None)),
        ("ts as a column", lambda c: _candles(c["bars"]).reset_index()),
        (
            "a Grouper",
            lambda c: (
                _one(c["bars"])
                .groupby(pd.Grouper(freq="5min"))
                .agg({"volume": "sum", "close": "last", "low": "min", "high": "max", "open": "first"})
                .dropna()
            ),
        ),
    ],
    "08.annualise": [
        ("exact", lambda c: {"stock": _annual("stock"), "crypto": _annual("crypto")}),
        ("rounded", lambda c: {"stock": round(_annual("stock"), 1), "crypto": round(_annual("crypto"), 1)}),
        ("a pair", lambda c: (_annual("stock"), _annual("crypto"))),
        ("other names", lambda c: {"Stocks": np.float64(_annual("stock")), "coins": _annual("crypto")}),
        ("a Series by kind", lambda c: pd.Series({"stock": _annual("stock"), "crypto": _annual("crypto")})),
        ("a numpy array", lambda c: np.array([_annual("stock"), _annual("crypto")])),
    ],
}

# Known-wrong answers, the mistakes learners make: (the mistake, the answer, words its reason must hold).
WRONG: dict[str, list[tuple[str, Answer, str]]] = {
    "01.broken_price": [
        ("a price misread", lambda c: _price_written(c["original"], "$70.517,58", 70.51758), "never stored as another"),
    ],
    "01.monthly_calls": [("a 30-day month", lambda c: 43_200, "30-day month")],
    "01.quota_spacing": [("a minute short", lambda c: 44, "too many")],
    "02.raw_key": [
        ("the wall clock, 90 s late", lambda c: "raw/yahoo_finance/2027/01/01/0000.csv", "wall clock"),
        ("New York time", lambda c: "raw/yahoo_finance/2026/12/31/1859.csv", "off UTC"),
        ("a bucket and scheme", lambda c: "s3://market-data/raw/yahoo_finance/2026/12/31/2359.csv", "no bucket"),
        ("a leading slash", lambda c: "/raw/yahoo_finance/2026/12/31/2359.csv", "no leading slash"),
        ("the date as one folder", lambda c: "raw/yahoo_finance/2026-12-31/2359.csv", "three folders"),
        ("the source's name", lambda c: "raw/yahoo/2026/12/31/2359.csv", "registry's id"),
        ("a colon in the time", lambda c: "raw/yahoo_finance/2026/12/31/23:59.csv", "file name"),
        ("JSON", lambda c: "raw/yahoo_finance/2026/12/31/2359.json", "file name"),
        ("a datetime", lambda c: datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "a key is the text"),
    ],
    "02.keeps_existing": [
        ("a tie keeps", lambda c: lambda had, new: had >= new, "a tie writes anew"),
        ("always keeps", lambda c: lambda had, new: True, "a better answer replaces a worse one"),
        ("never keeps", lambda c: lambda had, new: False, "a worse answer must not replace a better one"),
        ("backwards", lambda c: lambda had, new: new > had, "backwards"),
        ("not a function", lambda c: True, "write it as a function"),
        ("text", lambda c: lambda had, new: str(had > new), "returned the text"),
    ],
    "03.dropped": [
        ("FIFO drops nothing", lambda c: dict.fromkeys(course.publishes(), False), "first publish's deduplication id"),
        ("a key is a duplicate", lambda c: _dedup(**{"the same key with new content": True}), "not only the key"),
        (
            "the quotes matter",
            lambda c: _dedup(**{"the same object, its ETag without quotes": False}),
            "strips the quotes",
        ),
        ("a minute later is a duplicate", lambda c: _dedup(**{"the next minute's object": True}), "another key"),
        ("a prediction missing", lambda c: {"the same object published again": True}, "has no prediction"),
        ("one answer for all", lambda c: True, "publish by publish"),
    ],
    "03.dlq_max1": [
        ("the deliveries only", lambda c: 1, "counts too"),
        ("never delivered", lambda c: 0, "delivered once"),
        ("one more delivery", lambda c: 3, "no delivery follows"),
    ],
    "04.volume_validator": [
        ("accepts everything", lambda c: lambda row: None, "accepts a volume of -1"),
        ("refuses a zero volume", lambda c: _refuses_zero, "refuses a volume of 0"),
        ("compares the CSV's text with a number", lambda c: _compares_text, "every field a string"),
        ("returns False", lambda c: _returns_false, "returning False refuses nothing"),
        ("asserts", lambda c: _asserts, "an assert"),
        ("a message without the symbol", lambda c: _says_no_symbol, "name the row's symbol"),
        ("a field the row lacks", lambda c: _wrong_field, "raised KeyError"),
        ("off by one", lambda c: _off_by_one, "accepts a volume of -1"),
        ("not a function", lambda c: "volume >= 0", "write it as a function"),
        ("two arguments", lambda c: lambda row, strict: None, "it takes one row"),
    ],
    "04.fifo_reported": [
        ("only the failure", lambda c: ["m3"], "not tried"),
        ("without the failure", lambda c: ["m4", "m5"], "failing record itself"),
        ("nothing", lambda c: [], "failing record itself"),
        ("the whole batch", lambda c: ["m1", "m2", "m3", "m4", "m5"], "processed twice"),
        ("reversed", lambda c: ["m5", "m4", "m3"], "batch's order"),
        ("a set", lambda c: {"m3", "m4", "m5"}, "a set has no order"),
        ("one id", lambda c: "m3", "list of their ids"),
        ("some after the failure", lambda c: ["m3", "m4"], "every one of them"),
    ],
    "05.natural_keys": [
        ("the minute in a coin's key", lambda c: {**KEYS, "coinmarketcap": ("symbol", "scheduled_at")}, "object's key"),
        ("a bar without its minute", lambda c: {**KEYS, "yahoo_finance": ("symbol",)}, "differ only in ts"),
        ("provenance in the key", lambda c: {**KEYS, "yahoo_finance": ("symbol", "ts", "raw_key")}, "where or when"),
        (
            "a rate without its base",
            lambda c: {**KEYS, "openexchangerates": ("currency", "rate_ts")},
            "differ only in base",
        ),
        ("a value in the key", lambda c: {**KEYS, "yahoo_finance": ("symbol", "ts", "close")}, "a value"),
        ("a field that does not exist", lambda c: {**KEYS, "yahoo_finance": ("ticker", "ts")}, "not a field"),
        ("a source missing", lambda c: {"yahoo_finance": KEYS["yahoo_finance"]}, "has none"),
        ("one key for all", lambda c: ("symbol", "ts"), "each source has a key of its own"),
    ],
    "05.coin_merge": [
        ("no guard", lambda c: COIN_MERGE.replace(" AND s.RAW_KEY >= t.RAW_KEY", ""), "older raw object undid"),
        (
            "no WHEN MATCHED clause",
            lambda c: (
                COIN_MERGE.split("WHEN MATCHED")[0] + "WHEN NOT MATCHED" + COIN_MERGE.split("WHEN NOT MATCHED")[1]
            ),
            "the matched row was not updated: add WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE",
        ),
        (
            "only RAW_KEY updated",
            lambda c: COIN_MERGE.replace("SET PRICE_USD = s.PRICE_USD, RAW_KEY", "SET RAW_KEY"),
            "PRICE_USD is not updated",
        ),
        (
            "the guard inverted",
            lambda c: COIN_MERGE.replace("s.RAW_KEY >= t.RAW_KEY", "s.RAW_KEY < t.RAW_KEY"),
            "the guard is the wrong way round",
        ),
        ("an empty answer", lambda c: "", "holds no statement"),
        ("a SELECT", lambda c: "SELECT 1", "is a SELECT, not a MERGE"),
        (
            "a constant RAW_KEY inserted",
            lambda c: COIN_MERGE.replace("s.PRICE_USD, s.RAW_KEY)", "s.PRICE_USD, 'x')"),
            "has RAW_KEY 'x', which names no raw file",
        ),
        (
            "unchanged prices skipped",
            lambda c: COIN_MERGE.replace(
                "s.RAW_KEY >= t.RAW_KEY", "s.RAW_KEY >= t.RAW_KEY AND s.PRICE_USD <> t.PRICE_USD"
            ),
            "a condition that skips unchanged prices (such as s.PRICE_USD <> t.PRICE_USD) never advances RAW_KEY",
        ),
        ("an INSERT", lambda c: "INSERT INTO COINS SELECT * FROM COINS_STAGE", "adds its rows again"),
        (
            "on the symbol alone",
            lambda c: COIN_MERGE.replace(" AND t.SCHEDULED_AT = s.SCHEDULED_AT", ""),
            "SYMBOL alone",
        ),
        ("a strict guard", lambda c: COIN_MERGE.replace(">=", ">"), "compare with >="),
        ("the price without its key", lambda c: COIN_MERGE.replace(", RAW_KEY = s.RAW_KEY", ""), "set RAW_KEY"),
        ("no insert", lambda c: COIN_MERGE.split("WHEN NOT MATCHED")[0], "never inserted"),
        (
            "delete then insert",
            lambda c: "DELETE FROM COINS; INSERT INTO COINS SELECT * FROM COINS_STAGE",
            "one statement",
        ),
        ("not SQL", lambda c: "MERGE COINS WITH COINS_STAGE", "fails on the test table"),
        ("not text", lambda c: {"on": ("SYMBOL", "SCHEDULED_AT")}, "text of the SQL"),
        (
            "on the minute alone",
            lambda c: COIN_MERGE.replace("t.SYMBOL = s.SYMBOL AND ", ""),
            "the row ETH 14:45 has PRICE_USD 72720.05, BTC's price of that minute: one coin overwrote another's row, "
            "match on SYMBOL and SCHEDULED_AT",
        ),
        (
            "UPDATE SET *, which Snowflake lacks",
            lambda c: COIN_MERGE.split("SET ")[0] + "SET *\nWHEN NOT MATCHED" + COIN_MERGE.split("WHEN NOT MATCHED")[1],
            "no UPDATE SET *",
        ),
        (
            "INSERT *, which Snowflake lacks",
            lambda c: COIN_MERGE.split("WHEN NOT MATCHED")[0] + "WHEN NOT MATCHED THEN INSERT *",
            "no INSERT *",
        ),
        (
            "an older replay deletes the row",
            lambda c: COIN_MERGE.replace(
                "WHEN NOT MATCHED", "WHEN MATCHED AND s.RAW_KEY < t.RAW_KEY THEN DELETE\nWHEN NOT MATCHED"
            ),
            "the row BTC 14:45 is gone from the table: a MERGE never deletes a row",
        ),
        (
            "RAW_KEY left out of the insert",
            lambda c: COIN_MERGE.replace("PRICE_USD, RAW_KEY)", "PRICE_USD)").replace(
                "s.PRICE_USD, s.RAW_KEY)", "s.PRICE_USD)"
            ),
            "inserted without its RAW_KEY (NULL)",
        ),
        (
            "RAW_KEY inserted as NULL",
            lambda c: COIN_MERGE.replace("s.PRICE_USD, s.RAW_KEY)", "s.PRICE_USD, NULL)"),
            "inserted without its RAW_KEY (NULL)",
        ),
        (
            "a quoted lower-case column",
            lambda c: COIN_MERGE.replace("t.SYMBOL = s.SYMBOL", 't."symbol" = s.SYMBOL'),
            "a quoted identifier is case-sensitive in Snowflake",
        ),
    ],
    "06.runtime_provided": [
        ("the SDK without its core", lambda c: {"boto3"}, "botocore comes with"),
        ("pydantic", lambda c: {"boto3", "botocore", "s3transfer", "pydantic"}, "pydantic is not part"),
        ("pandas", lambda c: {"boto3", "botocore", "s3transfer", "pandas"}, "pandas is not part"),
        ("one not asked", lambda c: {"boto3", "botocore", "s3transfer", "jmespath"}, "not one of the packages"),
        ("a count", lambda c: 3, "as a set of names"),
    ],
    "06.heaviest": [
        ("the heaviest zipped", lambda c: ("process-coinmarketcap", 98), "heaviest zipped"),
        ("a light one", lambda c: ("ingest-openexchangerates", 218), "not the heaviest"),
        ("the code left out", lambda c: ("ingest-yahoo_finance", 70), "left the code package out"),
        ("what it uses", lambda c: ("ingest-yahoo_finance", 182), "what the function uses"),
        ("bytes", lambda c: ("ingest-yahoo_finance", SPARE_BYTES), "in bytes"),
        ("text", lambda c: ("ingest-yahoo_finance", "68"), "a number of MB"),
        ("the name only", lambda c: "ingest-yahoo_finance", "two things are asked"),
        ("not a function", lambda c: ("ingest-everything", 68), "not a function of the table"),
    ],
    "07.default_deploy": [
        ("the RDS instance", lambda c: {"resources": _resources(), "rds_instances": 1}, "CreateSqlServer defaults"),
        ("every declared resource", lambda c: {"resources": _declared(), "rds_instances": 0}, "the template declares"),
        (
            "with SQL Server",
            lambda c: {"resources": _resources({"CreateSqlServer": "true"}), "rds_instances": 0},
            "a deploy with CreateSqlServer=true",
        ),
        ("one short", lambda c: {"resources": _resources() - 1, "rds_instances": 0}, "whose Condition holds"),
        ("one count", lambda c: _resources(), "two counts are asked"),
        ("other names", lambda c: {"total": _resources(), "rds": 0}, "name the two counts"),
    ],
    "07.sqlserver_extra": [
        ("the instance only", lambda c: 1, "not only the RDS instance"),
        ("the total", lambda c: _resources({"CreateSqlServer": "true"}), "how many more than by default"),
        ("every conditional resource", lambda c: _declared() - _resources(), "behind a Condition"),
        ("a guess", lambda c: 5, "count the resources created with"),
        ("words", lambda c: "many", "whole number"),
    ],
    "08.log_returns": [
        ("simple returns", lambda c: c["prices"].pct_change(fill_method=None).iloc[1:], "simple returns"),
        ("upside down", lambda c: np.log(c["prices"].shift(1) / c["prices"]).iloc[1:], "order of the division"),
        ("in percent", lambda c: 100 * np.log(c["prices"]).diff().iloc[1:], "in percent"),
        ("looking ahead", lambda c: np.log(c["prices"].shift(-1) / c["prices"]).iloc[:-1], "shift(-1) looks ahead"),
        ("a gap as 0", lambda c: np.log(c["prices"]).diff().iloc[1:].fillna(0), "not 0"),
        ("a gap filled", lambda c: np.log(c["prices"].ffill()).diff().iloc[1:], "ffill"),
        ("the first minute as 0", lambda c: np.log(c["prices"]).diff().fillna(0), "first minute has no return"),
        ("an instrument dropped", lambda c: np.log(c["prices"]).diff().iloc[1:, 1:], "missing or extra"),
        ("a list", lambda c: np.log(c["prices"]).diff().iloc[1:].to_numpy().tolist(), "pandas gives a table"),
        (
            "the index shifted, freq=",
            lambda c: np.log(c["prices"] / c["prices"].shift(freq="1min")).iloc[1:],
            "a row at 14:53, a minute the panel does not have: shift(freq=...) moves the index",
        ),
        (
            "the index shifted back, freq=",
            lambda c: np.log(c["prices"].shift(freq="-1min") / c["prices"]),
            "a row at 14:44, a minute the panel does not have",
        ),
        (
            "the minutes dropped",
            lambda c: np.log(c["prices"]).diff().iloc[1:].reset_index(drop=True),
            "the minutes are lost",
        ),
    ],
    "08.resample": [
        (
            "right-closed, right-labelled",
            lambda c: _candles(c["bars"], closed="right", label="right"),
            "closed on the right",
        ),
        ("right-labelled", lambda c: _candles(c["bars"], label="right"), "each period's end"),
        ("right-closed", lambda c: _candles(c["bars"], closed="right"), "moves each period's first bar"),
        (
            "on the bars' ends",
            lambda c: _rules(_one(c["bars"]).set_axis(_one(c["bars"]).index + MINUTE, axis=0)),
            "moved to its end",
        ),
        (
            "every symbol",
            lambda c: _rules(c["bars"].set_index("ts").sort_index()[["open", "high", "low", "close", "volume"]]),
            "mix every symbol",
        ),
        ("a mean volume", lambda c: _rules(_one(c["bars"]), volume="mean"), "not their mean"),
        (
            "a last high",
            lambda c: _candles(c["bars"]).assign(high=_rules(_one(c["bars"]))["close"]),
            "max of its 1-minute highs",
        ),
        (
            "candles of closes",
            lambda c: _one(c["bars"])["close"].resample("5min").ohlc().dropna().join(_rules(_one(c["bars"]))["volume"]),
            "not its close",
        ),
        (
            "not resampled",
            lambda c: _one(c["bars"])[["open", "high", "low", "close", "volume"]],
            "1-minute bars themselves",
        ),
        ("no volume", lambda c: _candles(c["bars"]).drop(columns="volume"), "lacks volume"),
        ("an array", lambda c: _candles(c["bars"]).to_numpy(), "has no periods"),
    ],
    "08.annualise": [
        ("trading days", lambda c: {"stock": _annual("stock", 252), "crypto": _annual("crypto")}, "trading days"),
        (
            "a one-value Series",
            lambda c: {"stock": pd.Series([6.27]), "crypto": _annual("crypto")},
            "as a number of %, not a Series of [6.27]",
        ),
        (
            "no square root",
            lambda c: {"stock": _annual("stock"), "crypto": 100 * 2e-4 * 525_600},
            "square root of time",
        ),
        ("a fraction", lambda c: {"stock": _annual("stock") / 100, "crypto": _annual("crypto")}, "a fraction"),
        ("basis points", lambda c: {"stock": _annual("stock") * 100, "crypto": _annual("crypto")}, "basis points"),
        (
            "a stock around the clock",
            lambda c: {"stock": _annual("crypto"), "crypto": _annual("crypto")},
            "crypto's trading minutes",
        ),
        ("one number", lambda c: _annual("stock"), "give both"),
        ("text", lambda c: {"stock": "4.0 %", "crypto": "14.5 %"}, "as a number of %"),
        (
            "a stock every day",
            lambda c: {"stock": _annual("stock", 390 * 365), "crypto": _annual("crypto")},
            "every day of the year",
        ),
        (
            "a stock every weekday",
            lambda c: {"stock": round(_annual("stock", 390 * 260), 1), "crypto": _annual("crypto")},
            "every weekday",
        ),
        (
            "a coin on weekdays",
            lambda c: {"stock": _annual("stock"), "crypto": _annual("crypto", 1440 * 260)},
            "trades on weekends too",
        ),
        ("a day's volatility", lambda c: {"stock": _annual("stock", 390), "crypto": _annual("crypto")}, "a day's"),
        ("2 % for 2 bp", lambda c: {"stock": 100 * _annual("stock"), "crypto": _annual("crypto")}, "2 bp is 0.02 %"),
        (
            "the variance",
            lambda c: {"stock": 100 * (2e-4) ** 2 * 98_280, "crypto": _annual("crypto")},
            "the year's variance",
        ),
        ("whole percents", lambda c: {"stock": 6, "crypto": 15}, "rounded to a whole %"),
        ("tickers as names", lambda c: {"AAPL": _annual("stock"), "BTC": _annual("crypto")}, "no key of your dict"),
        ("NaN", lambda c: {"stock": float("nan"), "crypto": float("nan")}, "a volatility is a finite, positive number"),
        (
            "numpy's nan (the root of a negative)",
            lambda c: {"stock": _annual("stock"), "crypto": np.float64("nan")},
            "crypto's volatility is nan",
        ),
        ("infinite", lambda c: {"stock": float("inf"), "crypto": float("inf")}, "a volatility is a finite, positive"),
    ],
}


def _context(exercise_id: str) -> dict[str, Any]:
    return CONTEXT.get(exercise_id, dict)()


def _rows(table: dict[str, list[Any]]) -> list[Any]:
    return [pytest.param(exercise_id, *row, id=f"{exercise_id}: {row[0]}") for exercise_id, rows in table.items()
            for row in rows]  # fmt: skip


def test_every_exercise_has_a_table_of_answers() -> None:
    """Every exercise has right answers written other ways, and (from chapter 02 on) at least three known-wrong
    answers; a checker is proven by the wrong answers it refuses."""
    # the capstone's (09) table is in test_capstone.py
    assert sorted(RIGHT) == sorted(WRONG) == sorted(e for e in EXERCISES if not e.startswith("09."))
    for exercise_id in RIGHT:
        assert RIGHT[exercise_id], exercise_id
        assert len(WRONG[exercise_id]) >= (3 if exercise_id >= "02" else 1), exercise_id
        if exercise_id >= "02":
            assert len(RIGHT[exercise_id]) >= 2, exercise_id


@pytest.mark.parametrize(("exercise_id", "form", "answer"), _rows(RIGHT))
def test_a_right_answer_written_any_way_is_right(exercise_id: str, form: str, answer: Answer) -> None:
    context = _context(exercise_id)
    result = verdict(exercise_id, answer(context), **context)
    assert result.ok, f"{form}: {result.reason}"


@pytest.mark.parametrize(("exercise_id", "mistake", "answer", "words"), _rows(WRONG))
def test_a_known_mistake_is_not_yet_with_a_reason_that_names_it(
    exercise_id: str, mistake: str, answer: Answer, words: str
) -> None:
    context = _context(exercise_id)
    result = verdict(exercise_id, answer(context), **context)
    assert not result.ok, mistake
    assert words in result.reason, f"{mistake}: {result.reason}"
    assert "\n" not in result.reason and result.reason.endswith((".", "!", "'")), result.reason
    assert "should be a dict" not in result.reason and "the answer should be" not in result.reason, result.reason
    # never only the answer: a reason is a sentence about the mistake, not a value with a few words around it
    prose = re.sub(r"[^A-Za-z ]+", " ", result.reason).split()
    assert len([w for w in prose if len(w) > 2]) >= 6, result.reason


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_stub_is_not_yet_and_never_raises(exercise_id: str) -> None:
    for stub in (..., None, {"page": ..., "predicted": ...}):
        result = course.check(exercise_id, stub, **_context(exercise_id))
        expected = course.exercises.STUB_NONE if stub is None else "replace the `...`"
        assert not result.ok and "not yet" in str(result) and expected in result.reason


def test_an_answer_that_raises_is_not_yet() -> None:
    def broken(row: dict[str, Any]) -> None:
        raise KeyError("volume")

    result = verdict("04.volume_validator", broken)
    assert not result.ok and result.reason.startswith("for a good bar your validator raised KeyError")


def test_the_validator_is_fed_the_rows_as_the_raw_csv_gives_them() -> None:
    """The rows a learner's validator gets are the pipeline's own: written to a raw CSV and read back, all text."""
    from workbench.course.chapter04 import raw_bar_rows

    rows = raw_bar_rows()
    assert {row["volume"] for row in rows.values()} == {"100", "0", "-1", "-500", "1000000000"}
    assert all(isinstance(value, str) for row in rows.values() for value in row.values())


def _tagged(cells: list[Any], tag: str) -> list[Any]:
    return [c for c in cells if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_chapter_has_exercises_with_hidden_solutions(name: str) -> None:
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    exercises, solutions = _tagged(cells, "exercise"), _tagged(cells, "solution")
    assert len(exercises) >= 2 and len(solutions) >= 2, name
    asked = [m for c in exercises for m in CHECK_CALL.findall(c.source)]
    solved = [m for c in solutions for m in CHECK_CALL.findall(c.source)]
    assert asked and sorted(set(asked)) == sorted(set(solved)), (asked, solved)
    assert all(a.startswith(name[:2] + ".") and a in EXERCISES for a in asked), asked
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") is True for c in solutions)
    # the exercises' heading links to the chapter's checkers, a path that opens on GitHub and in JupyterLab
    turn = next(c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("## Your turn"))
    link = f"(../workbench/course/chapter{name[:2]}.py)"
    assert link in turn and (NOTEBOOKS / link.strip("()")).resolve().is_file(), turn
    assert all("..." in c.source or "None" in c.source for c in exercises)
    # The solution comes after its exercise.
    for exercise_id in asked:
        first_exercise = next(i for i, c in enumerate(cells) if exercise_id in c.source)
        solution = next(i for i, c in enumerate(cells) if c in solutions and exercise_id in c.source)
        assert solution > first_exercise
        # The committed notebook keeps the answer hidden: no output of a solution, no verdict on it (the test
        # that runs the notebook checks that every solution is right)
        assert cells[solution].get("outputs") == [], (name, exercise_id)


# What the learner breaks and predicts in 01, and what the checker says: a European price (the lesson: an error row
# for that coin with the reason, the others kept) predicted right in other forms, and the mistakes learners make.
BROKEN_PRICE_RIGHT = [
    ("$70.517,58", ("error", 9)),
    ("$70.517,58", ["Error", "9"]),
    ("$70.517,58", {"status": "error row", "success_rows": np.int64(9)}),
    ("$70.517,58", (" ERROR ", 9.0)),
    ("$70 517,58", ("error", 9)),  # a space as thousands separator
    ("70517.58", ("error", 9)),  # no currency sign: the cell is not a dollar price
]
BROKEN_PRICE_WRONG = [
    ("$70.517,58", "not a number", "did not refuse the page"),  # the whole page refused: the old behaviour
    ("$70.517,58", 70517.58, "never stored as another number"),  # a price read anyway
    ("$70.517,58", 70.51758, "never stored as another number"),  # a price misread
    ("$70.517,58", ("success", 10), "not a success row"),
    ("$70.517,58", ("error", 0), "costs only"),  # one bad value costing every coin
    ("$70.517,58", ("error", 10), "not a success row"),
    ("$70.517,58", ("error", 8), "count the success rows again"),
    ("$70.517,58", ("error", True), "count the success rows again"),
    ("$70.517,58", {"first": "error"}, "predict a pair"),
    ("$70517.58", ("error", 9), "still reads the first coin's price"),  # not broken: no separator is fine
]


@pytest.mark.parametrize(("written", "predicted"), BROKEN_PRICE_RIGHT)
def test_a_broken_price_predicted_right_in_any_form_is_right(written: str, predicted: Any) -> None:
    page = _page()
    result = verdict("01.broken_price", _price_written(page, written, predicted), original=page)
    assert result.ok, result.reason
    assert "became an error row" in result.reason and "9 other coins stayed success rows" in result.reason


@pytest.mark.parametrize(("written", "predicted", "words"), BROKEN_PRICE_WRONG)
def test_a_broken_price_predicted_wrong_is_not_yet_with_why(written: str, predicted: Any, words: str) -> None:
    page = _page()
    result = verdict("01.broken_price", _price_written(page, written, predicted), original=page)
    assert not result.ok and words in result.reason, result.reason
    assert "\n" not in result.reason and result.reason.endswith("."), result.reason


def test_a_broken_layout_is_refused_whole_and_its_message_predicted() -> None:
    page = _page()
    assert verdict("01.broken_price", _broken(page, "no listing"), original=page).ok
    result = verdict("01.broken_price", _broken(page, ("error", 9)), original=page)
    assert not result.ok and "refused it whole" in result.reason, result.reason


# ----------------------------------------------------------------------------------------------------------------
# Chapters 02, 03 and 04: the learner builds a piece of the pipeline, and the chapter runs the pipeline with it (the
# raw key function, a subscription's filter policy, the partial-batch response); those chapters' links and outputs.
# ----------------------------------------------------------------------------------------------------------------

BUILT_CHAPTERS = ("02_raw_layer.ipynb", "03_fanout_sns_sqs_fifo.ipynb", "04_processing.ipynb")
MARKETS = ["yahoo_finance", "coinmarketcap"]


def _key_fstring(source: str, at: datetime) -> str:
    return f"raw/{source}/{at:%Y/%m/%d/%H%M}.csv"


def _key_parts(source: str, at: datetime) -> str:
    return f"raw/{source}/{at.year:04d}/{at.month:02d}/{at.day:02d}/{at.hour:02d}{at.minute:02d}.csv"


def _first_on(event: dict[str, Any], failed: set[str]) -> dict[str, Any]:
    ids = [r["messageId"] for r in event["Records"]]
    first = next((n for n, i in enumerate(ids) if i in failed), len(ids))
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids[first:]]}


def _with_a_flag(event: dict[str, Any], failed: set[str]) -> dict[str, Any]:
    reported, stopped = [], False
    for record in event["Records"]:
        stopped = stopped or record["messageId"] in failed
        if stopped:
            reported.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": reported}


def _dropwhile(event: dict[str, Any], failed: set[str]) -> dict[str, Any] | None:
    from itertools import dropwhile

    rest = list(dropwhile(lambda r: r["messageId"] not in failed, event["Records"]))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in rest]} if rest else None


def _only_failed(event: dict[str, Any], failed: set[str]) -> dict[str, Any]:
    return {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["messageId"] in failed]
    }


def _response(transform: Callable[[list[dict[str, Any]]], list[Any]]) -> Callable[..., dict[str, Any]]:
    """A response that reports transform(the records from the first failure on)."""

    def respond(event: dict[str, Any], failed: set[str]) -> dict[str, Any]:
        ids = [item["itemIdentifier"] for item in _first_on(event, failed)["batchItemFailures"]]
        records = [r for r in event["Records"] if r["messageId"] in ids]
        return {"batchItemFailures": transform(records)}

    return respond


BUILD_RIGHT: dict[str, list[tuple[str, Answer]]] = {
    "02.key_function": [
        ("an f-string with a date format", lambda c: _key_fstring),
        ("each part zero-padded", lambda c: _key_parts),
        ("strftime", lambda c: lambda source, at: at.strftime(f"raw/{source}/%Y/%m/%d/%H%M.csv")),
        ("the text of a path", lambda c: lambda s, at: str(PurePosixPath("raw", s, f"{at:%Y/%m/%d/%H%M}.csv"))),
        ("pandas", lambda c: lambda source, at: f"raw/{source}/{pd.Timestamp(at):%Y/%m/%d/%H%M}.csv"),
    ],
    "03.filter_policy": [
        ("a dict", lambda c: {"source": MARKETS}),
        ("its JSON text", lambda c: '{"source": ["coinmarketcap", "yahoo_finance"]}'),
        ("a tuple of values", lambda c: {"source": tuple(MARKETS)}),
        (
            "equals-ignore-case, in another case",
            lambda c: {"source": [{"equals-ignore-case": "Yahoo_Finance"}, {"equals-ignore-case": "COINMARKETCAP"}]},
        ),
        ("$or of the two", lambda c: {"$or": [{"source": ["yahoo_finance"]}, {"source": ["coinmarketcap"]}]}),
        ("an attribute the events lack, exists false", lambda c: {"source": MARKETS, "other": [{"exists": False}]}),
        (
            "$or as JSON text, a value and equals-ignore-case",
            lambda c: '{"$or": [{"source": [{"equals-ignore-case": "coinmarketcap"}]}, {"source": ["yahoo_finance"]}]}',
        ),
    ],
    "04.batch_response": [
        ("from the first failure on", lambda c: _first_on),
        ("a loop with a flag", lambda c: _with_a_flag),
        ("itertools, None without a failure", lambda c: _dropwhile),
    ],
}

BUILD_WRONG: dict[str, list[tuple[str, Answer, str]]] = {
    "02.key_function": [
        ("the wall clock", lambda c: lambda source, at: _key_fstring(source, datetime.now(UTC)), "wall clock"),
        ("the ISO week's year", lambda c: lambda source, at: f"raw/{source}/{at:%G/%m/%d/%H%M}.csv", "ISO week's year"),
        ("the wall clock, naive", lambda c: lambda source, at: _key_fstring(source, datetime.now()), "wall clock"),
        ("90 s late", lambda c: lambda source, at: _key_fstring(source, at + pd.Timedelta(seconds=90)), "later minute"),
        ("New York time", lambda c: lambda source, at: _key_fstring(source, at - pd.Timedelta(hours=5)), "off UTC"),
        ("a 12-hour clock", lambda c: lambda source, at: f"raw/{source}/{at:%Y/%m/%d/%I%M}.csv", "12-hour clock"),
        (
            "no zero padding",
            lambda c: lambda s, at: f"raw/{s}/{at.year}/{at.month}/{at.day}/{at.hour}{at.minute}.csv",
            "zero-padded",
        ),
        ("one source for all", lambda c: lambda source, at: _key_fstring("yahoo_finance", at), "`source` argument"),
        (
            "the date as one folder",
            lambda c: lambda source, at: f"raw/{source}/{at:%Y-%m-%d/%H%M}.csv",
            "three folders",
        ),
        (
            "a bucket and scheme",
            lambda c: lambda source, at: "s3://market-data/" + _key_fstring(source, at),
            "no bucket",
        ),
        ("a datetime", lambda c: lambda source, at: at, "a key is the text"),
        ("a path", lambda c: lambda s, at: PurePosixPath("raw", s, f"{at:%Y/%m/%d/%H%M}.csv"), "which takes text"),
        ("one argument", lambda c: lambda at: _key_fstring("yahoo_finance", at), "two arguments"),
        ("the key itself", lambda c: "raw/yahoo_finance/2026/12/31/2359.csv", "write it as a function"),
        ("the pipeline's own", lambda c: __import__("pipeline.contracts").contracts.raw_key, "pipeline's own raw_key"),
    ],
    "03.filter_policy": [
        ("one source", lambda c: {"source": ["yahoo_finance"]}, "events of coinmarketcap would not arrive"),
        ("a string, not a list", lambda c: {"source": "yahoo_finance"}, "SNS refuses it"),
        ("every source", lambda c: {"source": [*MARKETS, "openexchangerates"]}, "rates' events would arrive"),
        (
            "a source the queue does not want, by its id",
            lambda c: {"source": [*MARKETS, "us_treasury"]},
            "names us_treasury, a source the queue does not want",
        ),
        ("a Python set", lambda c: {"source": set(MARKETS)}, "lists its values in a JSON list"),
        ("a None in the list", lambda c: {"source": [*MARKETS, None]}, "holds a None, JSON's null"),
        ("an empty list", lambda c: {"source": []}, "SNS refuses an empty list"),
        ("excluding the rates", lambda c: {"source": [{"anything-but": ["openexchangerates"]}]}, "added later"),
        ("two prefixes", lambda c: {"source": [{"prefix": "y"}, {"prefix": "c"}]}, "(yahoo_options) would arrive"),
        ("one id and a prefix", lambda c: {"source": ["coinmarketcap", {"prefix": "yahoo"}]}, "added later"),
        ("a prefix with its underscore", lambda c: {"source": [{"prefix": "yahoo_"}, "coinmarketcap"]}, "added later"),
        ("no policy", lambda c: {}, "filters nothing"),
        ("the attribute capitalised", lambda c: {"Source": MARKETS}, "case-sensitive"),
        ("the source's name", lambda c: {"source": ["yahoo", "coinmarketcap"]}, "'yahoo' is not a source id"),
        ("one value with a comma", lambda c: {"source": ["yahoo_finance,coinmarketcap"]}, "not a source id"),
        ("Python's repr, not JSON", lambda c: "{'source': ['yahoo_finance', 'coinmarketcap']}", "not JSON"),
        ("a list of sources", lambda c: MARKETS, "JSON object"),
        (
            "$or with the rates in place of a market",
            lambda c: {"$or": [{"source": ["yahoo_finance"]}, {"source": ["openexchangerates"]}]},
            "events of coinmarketcap would not arrive",
        ),
        (
            "$or with a prefix",
            lambda c: {"$or": [{"source": [{"prefix": "yahoo"}]}, {"source": ["coinmarketcap"]}]},
            "added later",
        ),
        ("$or of one object", lambda c: {"$or": [{"source": MARKETS}]}, "two objects or more"),
        (
            "$or on an attribute events lack",
            lambda c: {"$or": [{"source": MARKETS}, {"kind": ["crypto"]}]},
            "an event has no 'kind'",
        ),
        (
            "equals-ignore-case of the source's name",
            lambda c: {"source": [{"equals-ignore-case": "Yahoo"}, "coinmarketcap"]},
            "'yahoo' is not a source id",
        ),
        (
            "equals-ignore-case and a suffix",
            lambda c: {"source": [{"equals-ignore-case": "coinmarketcap"}, {"suffix": "finance"}]},
            "added later",
        ),
        ("a match type SNS lacks", lambda c: {"source": [{"wildcard": "yahoo*"}, "coinmarketcap"]}, "no match type"),
        (
            "anything-but a prefix",
            lambda c: {"source": [{"anything-but": {"prefix": "openexchange"}}]},
            "added later",
        ),
    ],
    "04.batch_response": [
        ("only the failed records", lambda c: _only_failed, "records after the failed record 3"),
        (
            "a generator of failures",
            lambda c: (
                lambda event, failed: {"batchItemFailures": (i for i in _first_on(event, failed)["batchItemFailures"])}
            ),
            "cannot be sent back as JSON",
        ),
        (
            "ids sorted, every id from the first failed one",
            lambda c: (
                lambda event, failed: {
                    "batchItemFailures": [
                        {"itemIdentifier": i}
                        for i in sorted(r["messageId"] for r in event["Records"])
                        if failed and i >= min(failed)
                    ]
                }
            ),
            "record",
        ),
        (
            "the whole batch",
            lambda c: lambda event, failed: _first_on(event, {event["Records"][0]["messageId"]}),
            "nothing failed",
        ),
        ("nothing", lambda c: lambda event, failed: {"batchItemFailures": []}, "is not reported"),
        (
            "reversed",
            lambda c: _response(lambda rs: [{"itemIdentifier": r["messageId"]} for r in reversed(rs)]),
            "out of order",
        ),
        ("plain ids", lambda c: _response(lambda rs: [r["messageId"] for r in rs]), "each failure is a dict"),
        (
            "receipt handles",
            lambda c: _response(lambda rs: [{"itemIdentifier": r["receiptHandle"]} for r in rs]),
            "not its receiptHandle",
        ),
        (
            "another key",
            lambda c: lambda event, failed: {"BatchItemFailures": _first_on(event, failed)["batchItemFailures"]},
            "reads only 'batchItemFailures'",
        ),
        ("a list", lambda c: lambda event, failed: _first_on(event, failed)["batchItemFailures"], "returns a dict"),
        (
            "from the last failure",
            lambda c: lambda event, failed: _first_on(event, {max(failed)} if failed else set()),
            "is not reported",
        ),
        ("not a function", lambda c: {"batchItemFailures": []}, "write it as a function"),
    ],
}
RIGHT.update(BUILD_RIGHT)  # so the table test above finds these exercises' tables too
WRONG.update(BUILD_WRONG)


def test_the_built_pieces_are_run_on_the_pipelines_own_inputs() -> None:
    """The key function gets the minutes `scheduled_minute` reads from EventBridge's events, for every source; the
    policy is tried on the attributes `publish` sets; the response on events built as the event source mapping
    builds them."""
    from pipeline.constants import SOURCE_ATTRIBUTE
    from pipeline.registry import source_ids
    from workbench.course.chapter02 import key_cases
    from workbench.course.chapter03 import policy_cases
    from workbench.course.chapter04 import response_cases

    cases = key_cases()
    assert {source for source, _, _ in cases} == set(source_ids())
    assert all(minute.tzinfo is not None and minute.second == 0 for _, minute, _ in cases)
    assert "raw/yahoo_finance/2026/12/31/2359.csv" in {key for _, _, key in cases}
    assert set(source_ids()) < set(policy_cases())
    assert all(set(attributes) == {SOURCE_ATTRIBUTE} for attributes in policy_cases().values())
    for event, _ in response_cases().values():
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(".fifo") for r in event["Records"])


@pytest.mark.parametrize(("form", "answer"), BUILD_RIGHT["03.filter_policy"])
def test_the_policy_checker_agrees_with_sns_on_a_subscribed_queue(form: str, answer: Answer) -> None:
    """What the checker says arrives is what SNS (moto, as the local stack runs it) delivers to a FIFO queue
    subscribed with the policy as the chapter's cell gives it (`for_the_local_stack`), for events published by the
    pipeline's own `publish`."""
    import json

    import boto3
    from moto import mock_aws

    from pipeline.contracts import Event
    from pipeline.events import publish
    from workbench.course.chapter03 import for_the_local_stack

    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        queue = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": for_the_local_stack(answer({})), "RawMessageDelivery": "true"}
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        for source in ("yahoo_finance", "coinmarketcap", "openexchangerates"):
            key = f"raw/{source}/2026/11/06/1604.csv"
            publish(
                sns, topic, Event(bucket="b", key=key, source=source, scheduled_at="2026-11-06T16:04:00Z", rows=1), "e"
            )
        bodies = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(json.loads(m["Body"])["source"] for m in bodies) == sorted(MARKETS), form
    assert verdict("03.filter_policy", answer({})).ok


def test_the_keeps_checker_logs_nothing_about_its_stand_in_key(caplog: pytest.LogCaptureFixture) -> None:
    """The checker runs write_raw on a key the learner never saw: its "kept ..." warnings stay out of the cell."""
    caplog.set_level("DEBUG")
    assert verdict("02.keeps_existing", lambda had, new: had > new).ok
    assert not [r for r in caplog.records if r.name == "pipeline.raw"], caplog.text


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", BUILT_CHAPTERS)
def test_every_link_of_the_chapter_opens_a_file_and_the_runtime_code_is_in_sight(name: str) -> None:
    """Relative links (GitHub and JupyterLab rooted at the repository open them) to files that exist, among them
    the runtime modules the chapter teaches; and the chapter shows once how to read a function's source."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    links = [link for c in cells if c.cell_type == "markdown" for link in LINK.findall(c.source)]
    files = [link.split("#")[0] for link in links if not link.startswith(("http://", "https://", "#"))]
    assert files and all((NOTEBOOKS / f).resolve().is_file() for f in files), [
        f for f in files if not (NOTEBOOKS / f).is_file()
    ]
    assert len({f for f in files if f.startswith("../pipeline/") and f.endswith(".py")}) >= 3, files
    assert any("inspect.getsource(" in c.source for c in cells if c.cell_type == "code")
    assert any("??" in c.source for c in cells if c.cell_type == "markdown")


@pytest.mark.parametrize("name", BUILT_CHAPTERS)
def test_no_function_log_line_in_the_chapters_outputs(name: str) -> None:
    """The functions' JSON log lines (for CloudWatch) are kept out of what a learner reads."""
    from workbench.course import output_texts

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert not [i for i, text in output_texts(notebook) if '{"level":' in text], name


def test_a_course_kernel_keeps_the_functions_logs_to_errors() -> None:
    import logging
    import os

    from workbench.course.bootstrap import FUNCTION_LOGGERS, quiet_function_logs

    saved = os.environ.get("POWERTOOLS_LOG_LEVEL")
    try:
        quiet_function_logs()
        assert os.environ["POWERTOOLS_LOG_LEVEL"] == "ERROR"
        assert all(logging.getLogger(name).level == logging.ERROR for name in FUNCTION_LOGGERS)
    finally:
        for name in FUNCTION_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        if saved is None:
            os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
        else:
            os.environ["POWERTOOLS_LOG_LEVEL"] = saved


@pytest.mark.parametrize("name", BUILT_CHAPTERS)
def test_the_built_piece_runs_in_the_pipeline_after_its_solution_and_shows_nothing_stored(name: str) -> None:
    """The cell that runs the pipeline with the learner's piece follows the piece's solution, and the committed
    notebook keeps no output of it (it would show what the answer does before the learner tried)."""
    from workbench.course.runner import RUNS_ANSWER_TAG

    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    built = {"02": "02.key_function", "03": "03.filter_policy", "04": "04.batch_response"}[name[:2]]
    solution = next(i for i, c in enumerate(_tagged(cells, "solution")) if built in c.source)
    solution_index = cells.index(_tagged(cells, "solution")[solution])
    runs = [i for i, c in enumerate(cells) if RUNS_ANSWER_TAG in c.get("metadata", {}).get("tags", [])]
    assert len(runs) == 1 and runs[0] > solution_index, (runs, solution_index)
    assert cells[runs[0]].get("outputs") == []


def test_an_output_of_a_cell_that_runs_the_answer_is_refused_and_make_notebooks_removes_it() -> None:
    from workbench.course.runner import RUNS_ANSWER_TAG, answer_problems, hide_solutions

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(yours)", metadata={"tags": [RUNS_ANSWER_TAG]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="reported failed: 1642, 1643, 1644")]
    notebook.cells.append(cell)
    assert answer_problems(notebook) == ["cell 0: the output of a cell that runs the learner's answer"]
    assert answer_problems(hide_solutions(notebook)) == [] and notebook.cells[0].outputs == []


# ---------------------------------------------------------------------------------------------------------------
# Chapters 05-07: the learner builds a piece of the pipeline (the bars' MERGE, a layer's requirement set, a template
# resource); the chapter then runs the pipeline with it. Their tables, and the links of those notebooks.
# ---------------------------------------------------------------------------------------------------------------

BARS_MERGE = """MERGE INTO BARS_1M AS t USING BARS_STAGE AS s ON t.SYMBOL = s.SYMBOL AND t.TS = s.TS
WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE SET OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE,
VOLUME = s.VOLUME, RAW_KEY = s.RAW_KEY, LOADED_AT = s.LOADED_AT
WHEN NOT MATCHED THEN INSERT (SYMBOL, TS, OPEN, HIGH, LOW, CLOSE, VOLUME, RAW_KEY, LOADED_AT)
VALUES (s.SYMBOL, s.TS, s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME, s.RAW_KEY, s.LOADED_AT)"""
BARS_MERGE_OTHER_WAY = """merge into bars_1m b using (select * from bars_stage) n on n.ts = b.ts and n.symbol = b.symbol
when not matched then insert values (n.symbol, n.ts, n.open, n.high, n.low, n.close, n.volume, n.raw_key, n.loaded_at)
when matched and b.raw_key <= n.raw_key then update set open = n.open, high = n.high, low = n.low, close = n.close,
volume = n.volume, raw_key = n.raw_key, loaded_at = n.loaded_at;"""
LAYER = {"boto3", "pydantic", "pydantic-settings", "aws-lambda-powertools", "sqlalchemy", "pymssql"}
QUEUE: dict[str, Any] = {
    "Type": "AWS::SQS::Queue",
    "Properties": {
        "QueueName": {"Fn::Sub": "${AWS::StackName}-yahoo_finance.fifo"},
        "FifoQueue": True,
        "VisibilityTimeout": {"Ref": "QueueVisibilityTimeoutSeconds"},
        "RedrivePolicy": {
            "deadLetterTargetArn": {"Fn::GetAtt": ["YahooFinanceDeadLetterQueue", "Arn"]},
            "maxReceiveCount": {"Ref": "MaxReceiveCount"},
        },
    },
}
QUEUE_YAML = """
Type: AWS::SQS::Queue
Properties:
  QueueName: !Sub "${AWS::StackName}-yahoo_finance.fifo"
  FifoQueue: "true"
  VisibilityTimeout: 360
  MessageRetentionPeriod: 345600
  RedrivePolicy:
    deadLetterTargetArn: !GetAtt YahooFinanceDeadLetterQueue.Arn
    maxReceiveCount: 12
"""


def _qualified_set(before: str, after: str = "") -> str:
    """BARS_MERGE with each column its UPDATE SET assigns written `before`COLUMN`after` (t.OPEN = s.OPEN)."""
    head, rest = BARS_MERGE.split("UPDATE SET ")
    sets, tail = rest.split("\nWHEN NOT MATCHED")
    sets = re.sub(r"(^|, |\n)([A-Z_]+) =", lambda m: f"{m[1]}{before}{m[2]}{after} =", sets)
    return f"{head}UPDATE SET {sets}\nWHEN NOT MATCHED{tail}"


DLQ_ARN = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-yahoo_finance-dlq.fifo"
QUEUE_JOIN_YAML = """
Type: AWS::SQS::Queue
Properties:
  QueueName: !Join ["-", [!Ref "AWS::StackName", "yahoo_finance.fifo"]]
  FifoQueue: true
  VisibilityTimeout: !Ref QueueVisibilityTimeoutSeconds
  RedrivePolicy:
    deadLetterTargetArn: !Sub "${YahooFinanceDeadLetterQueue.Arn}"
    maxReceiveCount: !Ref MaxReceiveCount
"""

QUEUE_JSON_REDRIVE_YAML = (
    """
Type: AWS::SQS::Queue
Properties:
  QueueName: !Sub "${AWS::StackName}-yahoo_finance.fifo"
  FifoQueue: true
  VisibilityTimeout: !Ref QueueVisibilityTimeoutSeconds
"""
    + (  # the policy on one line, as a learner copies it
        """  RedrivePolicy: !Sub '{"deadLetterTargetArn": "${YahooFinanceDeadLetterQueue.Arn}", """
        """"maxReceiveCount": ${MaxReceiveCount}}'\n"""
    )
)


def _queue(**properties: Any) -> dict[str, Any]:
    """QUEUE with properties replaced (None: removed)."""
    changed = {**QUEUE["Properties"], **properties}
    return {"Type": "AWS::SQS::Queue", "Properties": {k: v for k, v in changed.items() if v is not None}}


def _redrive(**policy: Any) -> dict[str, Any]:
    return _queue(RedrivePolicy={**QUEUE["Properties"]["RedrivePolicy"], **policy})


BUILD_RIGHT_05_07: dict[str, list[tuple[str, Answer]]] = {
    "05.bars_merge": [
        ("the solution", lambda c: BARS_MERGE),
        ("lower case, a subquery, the clauses swapped, <= the other way round", lambda c: BARS_MERGE_OTHER_WAY),
        ("SET columns qualified by the target's alias", lambda c: _qualified_set("t.")),
        ("SET columns qualified by the table's name, quoted", lambda c: _qualified_set('BARS_1M."', '"')),
        (
            "a CASE in the SET list",
            lambda c: _qualified_set("t.").replace(
                "= s.CLOSE,", "= CASE WHEN t.CLOSE = 0 THEN s.CLOSE ELSE s.CLOSE END,"
            ),
        ),
        ("a comment holding a ;, a trailing ;", lambda c: f"-- load one raw file; idempotent\n{BARS_MERGE};"),
        (
            "CURRENT_TIMESTAMP() as LOADED_AT",
            lambda c: BARS_MERGE.replace("s.RAW_KEY, s.LOADED_AT)", "s.RAW_KEY, CURRENT_TIMESTAMP())"),
        ),
        ("SYSDATE() as LOADED_AT", lambda c: BARS_MERGE.replace("s.RAW_KEY, s.LOADED_AT)", "s.RAW_KEY, SYSDATE())")),
        ("Snowflake's IFF as the guard", lambda c: BARS_MERGE.replace("s.RAW_KEY >= t.RAW_KEY", IFF_GUARD)),
    ],
    "06.layer_requirements": [
        ("a set of names", lambda c: LAYER),
        (
            "a list with version ranges, other cases and _",
            lambda c: [
                "Boto3>=1.34",
                "pydantic",
                "pydantic_settings",
                "aws-lambda-powertools>=3.0,<4",
                "SQLAlchemy",
                "pymssql",
            ],
        ),
        ("the lines of a requirements file", lambda c: "\n".join(sorted(LAYER)) + "\n"),
        (
            "pyproject's lines, version ranges with commas",
            lambda c: (
                "aws-lambda-powertools>=3.0,<4\nboto3>=1.34\npydantic>=2.7\npydantic-settings>=2.3\n"
                "pymssql>=2.3  # the driver\nsqlalchemy>=2.0\n"
            ),
        ),
        ("a narrower range than pyproject's", lambda c: (LAYER - {"boto3"}) | {"boto3>=1.35"}),
        ("a range from a development release", lambda c: (LAYER - {"pymssql"}) | {"pymssql>=2.3.0.dev0"}),
        ("a range from a post-release", lambda c: (LAYER - {"pymssql"}) | {"pymssql>=2.3.post1"}),
        ("a marker true on Lambda", lambda c: (LAYER - {"pymssql"}) | {'pymssql>=2.3; sys_platform == "linux"'}),
    ],
    "07.fifo_queue": [
        ("a dict with Ref and GetAtt", lambda c: QUEUE),
        ("YAML with short tags, numbers instead of the parameters", lambda c: QUEUE_YAML),
        (
            "under its logical id, GetAtt as one string",
            lambda c: {
                "YahooFinanceQueue": _redrive(deadLetterTargetArn={"Fn::GetAtt": "YahooFinanceDeadLetterQueue.Arn"})
            },
        ),
        ("YAML, the name and the ARN by !Join and !Sub", lambda c: QUEUE_JOIN_YAML),
        (
            "Fn::Sub with a variable map, the ARN built from the pseudo parameters",
            lambda c: _queue(
                QueueName={"Fn::Sub": ["${AWS::StackName}-${Source}.fifo", {"Source": "yahoo_finance"}]},
                RedrivePolicy={**QUEUE["Properties"]["RedrivePolicy"], "deadLetterTargetArn": {"Fn::Sub": DLQ_ARN}},
            ),
        ),
        ("YAML, RedrivePolicy as JSON text by !Sub", lambda c: QUEUE_JSON_REDRIVE_YAML),
        ("tags as a list of Key and Value", lambda c: _queue(Tags=[{"Key": "team", "Value": "data"}])),
    ],
}
BUILD_WRONG_05_07: dict[str, list[tuple[str, Answer, str]]] = {
    "05.bars_merge": [
        ("a plain INSERT", lambda c: "INSERT INTO BARS_1M SELECT * FROM BARS_STAGE", "added its bars again"),
        (
            "a tuple assignment, which Snowflake lacks",
            lambda c: (
                BARS_MERGE.split("UPDATE SET")[0]
                + "UPDATE SET (OPEN, HIGH, LOW, CLOSE, VOLUME, RAW_KEY, LOADED_AT) = (s.OPEN, s.HIGH, s.LOW, s.CLOSE, "
                + "s.VOLUME, s.RAW_KEY, s.LOADED_AT)\nWHEN NOT MATCHED"
                + BARS_MERGE.split("WHEN NOT MATCHED")[1]
            ),
            "no UPDATE SET (A, B) = (s.A, s.B) (a tuple assignment",
        ),
        (
            "WHEN NOT MATCHED BY TARGET, which Snowflake lacks",
            lambda c: BARS_MERGE.replace("WHEN NOT MATCHED", "WHEN NOT MATCHED BY TARGET"),
            "no WHEN NOT MATCHED BY TARGET",
        ),
        (
            "bars whose CLOSE and VOLUME are unchanged skipped",
            lambda c: BARS_MERGE.replace(
                "s.RAW_KEY >= t.RAW_KEY", "s.RAW_KEY >= t.RAW_KEY AND (s.CLOSE <> t.CLOSE OR s.VOLUME <> t.VOLUME)"
            ),
            "a later raw file that changed only OPEN was not applied",
        ),
        (
            "unchanged bars skipped",
            lambda c: BARS_MERGE.replace(
                "s.RAW_KEY >= t.RAW_KEY",
                "s.RAW_KEY >= t.RAW_KEY AND (s.OPEN <> t.OPEN OR s.HIGH <> t.HIGH OR s.LOW <> t.LOW "
                "OR s.CLOSE <> t.CLOSE OR s.VOLUME <> t.VOLUME)",
            ),
            "a later raw file with the same values did not advance RAW_KEY",
        ),
        (
            "an older replay deletes the bar",
            lambda c: BARS_MERGE.replace(
                "WHEN NOT MATCHED", "WHEN MATCHED AND s.RAW_KEY < t.RAW_KEY THEN DELETE\nWHEN NOT MATCHED"
            ),
            "a MERGE never deletes a bar",
        ),
        (
            "HIGH and LOW swapped in the insert",
            lambda c: BARS_MERGE.replace("s.OPEN, s.HIGH, s.LOW, s.CLOSE", "s.OPEN, s.LOW, s.HIGH, s.CLOSE"),
            "has HIGH",
        ),
        (
            "a volume of 0 inserted",
            lambda c: BARS_MERGE.replace("s.CLOSE, s.VOLUME, s.RAW_KEY", "s.CLOSE, 0, s.RAW_KEY"),
            "has VOLUME 0 where its raw file says",
        ),
        ("on the symbol alone", lambda c: BARS_MERGE.replace(" AND t.TS = s.TS", ""), "not SYMBOL alone"),
        ("on the minute alone", lambda c: BARS_MERGE.replace("t.SYMBOL = s.SYMBOL AND ", ""), "not TS alone"),
        ("no insert", lambda c: BARS_MERGE.split("WHEN NOT MATCHED")[0], "never inserted"),
        (
            "no update",
            lambda c: (
                BARS_MERGE.split("WHEN MATCHED")[0] + "WHEN NOT MATCHED" + BARS_MERGE.split("WHEN NOT MATCHED")[1]
            ),
            "did not update it",
        ),
        ("no guard", lambda c: BARS_MERGE.replace(" AND s.RAW_KEY >= t.RAW_KEY", ""), "replay of an older raw file"),
        ("a strict guard", lambda c: BARS_MERGE.replace(">=", ">"), "compare with >="),
        ("the volume not updated", lambda c: BARS_MERGE.replace("\nVOLUME = s.VOLUME, ", "\n"), "kept its old VOLUME"),
        ("the raw key not updated", lambda c: BARS_MERGE.replace(" RAW_KEY = s.RAW_KEY,", ""), "set RAW_KEY"),
        (
            "an insert without a column",
            lambda c: BARS_MERGE.replace(", LOADED_AT)\nVALUES", ")\nVALUES").replace(", s.LOADED_AT)", ")"),
            "without one of its columns",
        ),
        (
            "delete then insert",
            lambda c: "DELETE FROM BARS_1M; INSERT INTO BARS_1M SELECT * FROM BARS_STAGE",
            "one statement",
        ),
        ("not SQL text", lambda c: {"on": ("SYMBOL", "TS")}, "text of the SQL"),
        (
            "UPDATE SET *, which Snowflake lacks",
            lambda c: BARS_MERGE.split("SET ")[0] + "SET *\nWHEN NOT MATCHED" + BARS_MERGE.split("WHEN NOT MATCHED")[1],
            "no UPDATE SET *",
        ),
        (
            "INSERT *, which Snowflake lacks",
            lambda c: BARS_MERGE.split("WHEN NOT MATCHED")[0] + "WHEN NOT MATCHED THEN INSERT *",
            "no INSERT *",
        ),
        ("SET columns qualified by the stage", lambda c: _qualified_set("s."), "s is not the target"),
        (
            "the guard in ON",
            lambda c: BARS_MERGE.replace("t.TS = s.TS", "t.TS = s.TS AND s.RAW_KEY >= t.RAW_KEY"),
            "the table holds two rows for the bar A 14:44",
        ),
        (
            "a quoted lower-case column",
            lambda c: BARS_MERGE.replace("t.SYMBOL = s.SYMBOL", 't."symbol" = s.SYMBOL'),
            "a quoted identifier is case-sensitive in Snowflake",
        ),
    ],
    "06.layer_requirements": [
        ("boto3 left out", lambda c: LAYER - {"boto3"}, "versions of what boto3 shares"),
        ("a base dependency left out", lambda c: LAYER - {"pydantic"}, "base dependency"),
        ("the driver left out", lambda c: LAYER - {"pymssql"}, "what the extra 'sqlserver' adds"),
        ("another extra's package", lambda c: LAYER | {"pandas"}, "does not use"),
        ("the Snowflake connector", lambda c: LAYER | {"snowflake-connector-python"}, "extra 'snowflake'"),
        ("what boto3 brings", lambda c: LAYER | {"botocore"}, "comes with boto3"),
        ("a dependency of a dependency", lambda c: LAYER | {"greenlet"}, "pip resolves what those depend on"),
        ("the extra's name", lambda c: {"sqlserver"}, "name of the extra"),
        (
            "the source's extra too",
            lambda c: LAYER | {"requests", "numpy", "tzdata"},
            "the extra 'openexchangerates', the one that fetches the source",
        ),
        ("the project itself", lambda c: LAYER | {"market-data-pipeline[sqlserver]"}, "the project itself"),
        ("a number", lambda c: 6, "distribution names"),
        (
            "a range outside pyproject's",
            lambda c: (LAYER - {"pymssql"}) | {"pymssql<2"},
            "pymssql<2 leaves no version pyproject.toml allows (pymssql>=2.3)",
        ),
        (
            "an extra pyproject does not ask for",
            lambda c: (LAYER - {"sqlalchemy"}) | {"sqlalchemy[asyncio]"},
            "asks for the extra 'asyncio' of sqlalchemy",
        ),
        ("names on one line", lambda c: ", ".join(sorted(LAYER)), "one a line"),
        (
            "a marker false on Lambda",
            lambda c: (LAYER - {"pymssql"}) | {'pymssql>=2.3; sys_platform == "win32"'},
            'holds the marker sys_platform == "win32", which is false where the layer runs',
        ),
        ("what a requirement brings", lambda c: LAYER | {"pydantic-core"}, "already in the layer through pydantic"),
    ],
    "07.fifo_queue": [
        ("an unknown property", lambda c: _queue(FooBar=1), "has no property 'FooBar'"),
        ("the AWS managed key", lambda c: _queue(KmsMasterKeyId="alias/aws/sqs"), "SNS cannot deliver"),
        ("a visibility of more than 12 hours", lambda c: _queue(VisibilityTimeout=100_000), "at most 43,200"),
        (
            "YAML indented with a tab",
            lambda c: QUEUE_YAML.replace("  FifoQueue", "\tFifoQueue"),
            "found character '\\t' that cannot start any token at line 5, column 1; YAML indents with spaces",
        ),
        (
            "YAML with a quote left open",
            lambda c: QUEUE_YAML.rstrip() + '\n  Tags: "team\n',
            "found unexpected end of stream at line 12, column 1; the quote opened at line 11 is never closed",
        ),
        (
            "YAML with Properties' keys not indented",
            lambda c: QUEUE_YAML.replace("Properties:\n  QueueName", "Properties:\nQueueName"),
            "at line 5, column 3; a key is not indented under the mapping it belongs to",
        ),
        ("a fractional maxReceiveCount", lambda c: _redrive(maxReceiveCount=5.5), "SQS refuses 5.5"),
        ("a fractional visibility timeout", lambda c: _queue(VisibilityTimeout=360.5), "SQS refuses 360.5"),
        ("a retention under a minute", lambda c: _queue(MessageRetentionPeriod=30), "between 60 seconds and 1,209,600"),
        ("a standard queue", lambda c: _queue(FifoQueue=None), "FifoQueue: true"),
        ("no redrive policy", lambda c: _queue(RedrivePolicy=None), "comes back forever"),
        (
            "the dead-letter queue by Ref",
            lambda c: _redrive(deadLetterTargetArn={"Ref": "YahooFinanceDeadLetterQueue"}),
            "gives its URL",
        ),
        (
            "another source's dead-letter queue",
            lambda c: _redrive(deadLetterTargetArn={"Fn::GetAtt": ["CoinMarketCapDeadLetterQueue", "Arn"]}),
            "another source's",
        ),
        (
            "a standard dead-letter queue",
            lambda c: _redrive(deadLetterTargetArn={"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}),
            "must be FIFO too",
        ),
        ("one receive", lambda c: _redrive(maxReceiveCount=1), "AWS advises at least 5"),
        ("the default visibility", lambda c: _queue(VisibilityTimeout=None), "shorter than six times"),
        ("a name without .fifo", lambda c: _queue(QueueName="yahoo_finance"), "ends in .fifo"),
        (
            "the name written out for one stack",
            lambda c: _queue(QueueName="market-data-pipeline-yahoo_finance.fifo"),
            "from the stack's name",
        ),
        (
            "a !Join without the stack's name",
            lambda c: _queue(QueueName={"Fn::Join": ["-", ["market-data", "yahoo_finance.fifo"]]}),
            "from the stack's name",
        ),
        (
            "the ARN written out for one account",
            lambda c: _redrive(
                deadLetterTargetArn="arn:aws:sqs:us-east-1:123456789012:market-data-pipeline-yahoo_finance-dlq.fifo"
            ),
            "written out for one stack, region and account",
        ),
        (
            "another source's dead-letter queue by !Sub",
            lambda c: _redrive(deadLetterTargetArn={"Fn::Sub": "${CoinMarketCapDeadLetterQueue.Arn}"}),
            "another source's",
        ),
        (
            "the dead-letter queue's URL by !Sub",
            lambda c: _redrive(deadLetterTargetArn={"Fn::Sub": "${YahooFinanceDeadLetterQueue}"}),
            "the dead-letter queue's ARN",
        ),
        (
            "the ARN written out for the notebook's stack",
            lambda c: _redrive(
                deadLetterTargetArn="arn:aws:sqs:us-east-1:123456789012:course-pipeline-yahoo_finance-dlq.fifo"
            ),
            "written out for one stack",
        ),
        (
            "the stack's name written out in a !Sub",
            lambda c: _redrive(
                deadLetterTargetArn={
                    "Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:course-pipeline-yahoo_finance-dlq.fifo"
                }
            ),
            "written out for one stack",
        ),
        (
            "the redrive policy's key capitalised",
            lambda c: _queue(
                RedrivePolicy={
                    "DeadLetterTargetArn": {"Fn::GetAtt": ["YahooFinanceDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": {"Ref": "MaxReceiveCount"},
                }
            ),
            "the key is deadLetterTargetArn, not DeadLetterTargetArn",
        ),
        (
            "the queue as its own dead-letter queue",
            lambda c: _redrive(deadLetterTargetArn={"Fn::GetAtt": ["YahooFinanceQueue", "Arn"]}),
            "YahooFinanceQueue is the queue itself",
        ),
        (
            "the subscriptions' dead-letter queue",
            lambda c: _redrive(deadLetterTargetArn={"Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]}),
            "EventDeliveryDeadLetterQueue is not this source's dead-letter queue",
        ),
        ("tags as a mapping", lambda c: _queue(Tags={"team": "data"}), "Tags is a list of Key and Value pairs"),
        ("more receives than SQS allows", lambda c: _redrive(maxReceiveCount=5000), "at most 1,000"),
        ("a topic", lambda c: {"Type": "AWS::SNS::Topic", "Properties": {}}, "AWS::SQS::Queue"),
        ("only the properties", lambda c: QUEUE["Properties"], "a Type and its Properties"),
    ],
}
RIGHT.update(BUILD_RIGHT_05_07)  # the tables above, so that every exercise has one
WRONG.update(BUILD_WRONG_05_07)


# The tests above were parametrized before these tables existed: the built pieces of 02-07 get the same two here.
@pytest.mark.parametrize(("exercise_id", "form", "answer"), _rows(BUILD_RIGHT | BUILD_RIGHT_05_07))
def test_a_built_piece_written_any_way_is_right(exercise_id: str, form: str, answer: Answer) -> None:
    test_a_right_answer_written_any_way_is_right(exercise_id, form, answer)


@pytest.mark.parametrize(("exercise_id", "mistake", "answer", "words"), _rows(BUILD_WRONG | BUILD_WRONG_05_07))
def test_a_built_piece_with_a_known_mistake_is_not_yet_with_why(
    exercise_id: str, mistake: str, answer: Answer, words: str
) -> None:
    test_a_known_mistake_is_not_yet_with_a_reason_that_names_it(exercise_id, mistake, answer, words)


@pytest.mark.parametrize("exercise_id", sorted(BUILD_RIGHT_05_07))
def test_a_built_piece_stub_is_not_yet(exercise_id: str) -> None:
    test_the_stub_is_not_yet_and_never_raises(exercise_id)


def test_a_right_layer_set_is_the_layer_the_pipeline_derives() -> None:
    """The layer the chapter builds from the learner's set is the pipeline's own: the same cache key."""
    from workbench.course.chapter06 import DEFAULT_FUNCTION, your_layer
    from workbench.deploy.functions import get_function
    from workbench.deploy.layers import LayerSpec

    derived = LayerSpec.for_function(get_function(DEFAULT_FUNCTION))
    for _, answer in BUILD_RIGHT_05_07["06.layer_requirements"]:
        assert your_layer(DEFAULT_FUNCTION, answer({})).cache_key(bytecode=False) == derived.cache_key(bytecode=False)
    noted = verdict("06.layer_requirements", (LAYER - {"boto3"}) | {"boto3>=1.35"})
    assert "pyproject's version ranges, not yours: boto3>=1.35 (boto3>=1.34 in pyproject.toml)" in noted.reason
    assert your_layer(DEFAULT_FUNCTION, LAYER - {"boto3"}).cache_key(bytecode=False) != derived.cache_key(
        bytecode=False
    )


def test_a_package_another_extra_lists_but_a_requirement_brings_is_named_as_brought() -> None:
    """numpy is listed by other extras, and ingest-yahoo_finance's layer has it through pandas: not yet, but the
    reason says it is there already (not that the function never imports it)."""
    from workbench.course.chapter06 import _derived

    wanted, _, _ = _derived("ingest-yahoo_finance")
    result = verdict("06.layer_requirements", wanted | {"numpy"}, function="ingest-yahoo_finance")
    assert not result.ok and "numpy is already in the layer through" in result.reason and "pandas" in result.reason
    assert "never imports" not in result.reason, result.reason


def test_numbers_where_the_template_has_parameters_are_right_with_a_note() -> None:
    """A queue with the parameters' values written out deploys the same queue today: right, with a note that names
    each number and the parameter it stands for; a queue that refers to the parameters gets no note."""
    noted = verdict("07.fifo_queue", QUEUE_YAML)
    assert noted.ok and "VisibilityTimeout 360 (!Ref QueueVisibilityTimeoutSeconds)" in noted.reason, noted.reason
    assert "maxReceiveCount 12 (!Ref MaxReceiveCount)" in noted.reason and "\n" not in noted.reason
    for answer in (QUEUE, QUEUE_JOIN_YAML):
        result = verdict("07.fifo_queue", answer)
        assert result.ok and "One thing to change" not in result.reason, result.reason


def test_the_learners_queue_goes_into_the_template(tmp_path: Path) -> None:
    """The template the chapter deploys holds the learner's queue in place of the template's own, and the rest."""
    import json

    from workbench.cloudformation.template import load_template
    from workbench.course.chapter07 import template_with

    written = json.loads(template_with(QUEUE_YAML, tmp_path / "t.json").read_text())
    own = load_template()
    assert written["Resources"]["YahooFinanceQueue"]["Properties"]["VisibilityTimeout"] == 360
    assert set(written["Resources"]) == set(own["Resources"]) and written["Parameters"] == own["Parameters"]
    assert load_template(tmp_path / "t.json")["Resources"]["YahooFinanceQueue"]["Type"] == "AWS::SQS::Queue"


BUILDING_CHAPTERS = ("05_sinks.ipynb", "06_lambda_layers.ipynb", "07_deploy_cloudformation.ipynb")


@pytest.mark.parametrize("name", BUILDING_CHAPTERS)
def test_every_relative_link_of_05_07_resolves_to_a_file(name: str) -> None:
    """Every relative link of the notebook's text opens a file of the repository (on GitHub and in JupyterLab,
    rooted at the repository); the chapter links to a module of the package or the tooling it teaches, and shows
    how to read a function's source in the notebook."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    links = [link for c in cells if c.cell_type == "markdown" for link in LINK.findall(c.source)]
    relative = [link.split("#")[0] for link in links if not link.startswith(("http://", "https://", "#"))]
    assert relative, name
    broken = [link for link in relative if not (NOTEBOOKS / link).resolve().is_file()]
    assert not broken, broken
    assert any(link.startswith(("../pipeline/", "../workbench/deploy", "../workbench/verify")) for link in relative)
    assert any("??" in c.source for c in cells if c.cell_type == "markdown"), name


@pytest.mark.parametrize("name", BUILDING_CHAPTERS)
def test_the_chapter_runs_the_pipeline_with_what_the_learner_built(name: str) -> None:
    """The build step: a stub, its collapsed solution after it, then a cell that runs the pipeline with the answer
    only once the checker calls it right (a stub leaves the notebook running to its end)."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    built = {"05": "05.bars_merge", "06": "06.layer_requirements", "07": "07.fifo_queue"}[name[:2]]
    stub = next(i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", []) and built in c.source)
    solution = next(i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", []) and built in c.source)
    runs = next(i for i, c in enumerate(cells) if c.cell_type == "code" and f'verdict("{built}"' in c.source)
    assert stub < solution < runs
    assert cells[solution].source.startswith(course.SOLUTION_FIRST_LINE + "\n")
    assert cells[solution].metadata["jupyter"]["source_hidden"] is True and cells[solution].outputs == []
    assert ".ok" in cells[runs].source and "else:" in cells[runs].source
