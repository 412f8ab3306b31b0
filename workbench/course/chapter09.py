"""09 · Capstone: the checkers of the five exercises of notebooks/09_capstone.ipynb (the parser, the row model, the
natural key, the sink's upsert and the queue's filter policy), in the course's exercise framework: a checker never
raises, it says "right" or "not yet" and why, and every expected value is computed from the package and from
`workbench.course.capstone` (the feed, the sink and the wiring a real source would find already there).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pipeline import registry
from pipeline.contracts import ContractError, iso, to_utc
from pipeline.registry import COMMON_TAIL, SourceSpec
from workbench.course import capstone
from workbench.course.capstone import COLUMNS, CREATE_TABLE, ID, TABLE, TENORS, UNPUBLISHED_EVERY, feed_minutes, spec
from workbench.course.exercises import NotYet, exercise

if TYPE_CHECKING:
    from pydantic import BaseModel


# ---------------------------------------------------------------------------------------------------------
# What a right answer does: the reference the checkers compare with (never shown in the notebook)
# ---------------------------------------------------------------------------------------------------------
def _reference_model() -> type[BaseModel]:
    from pydantic import Field

    from pipeline.schemas import UtcDatetime, _Row

    class ReferenceYield(_Row):
        tenor: str = Field(min_length=2, max_length=3)
        yield_pct: float = Field(gt=-5, lt=50)
        quote_ts: UtcDatetime

    return ReferenceYield


ReferenceYield = _reference_model()


def _raw_trip(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The rows as the raw CSV gives them back to the process function (every value text)."""
    from pipeline.raw import csv_to_rows, rows_to_csv

    with _declared_for_a_check():
        return csv_to_rows(ID, rows_to_csv(ID, rows))


@contextmanager
def _declared_for_a_check() -> Iterator[SourceSpec]:
    """The source declared for the time of a check: the learner's declaration if there is one, else a default one
    (its columns are what the raw CSV needs) that is gone again afterwards."""
    if ID in registry.source_ids():
        yield registry.get(ID)
        return
    with registry.registered(spec(row_model="workbench.course.chapter09:ReferenceYield")) as declared:
        yield declared


# ---------------------------------------------------------------------------------------------------------
# The checkers
# ---------------------------------------------------------------------------------------------------------
CHECK_FIRST: Final = datetime(2026, 11, 13, 15, 0, tzinfo=UTC)  # 15:04 has the 20Y "N/A"
FETCH_DELAY: Final = timedelta(seconds=3)


def _parsed(parse: Callable[..., Any], payload: Any, minute: datetime) -> list[dict[str, Any]]:
    from pipeline.sources.base import PayloadError

    unreadable = [q["tenor"] for q in payload["curve"] if _number(q["yield"]) is None]
    try:
        rows = parse(payload, scheduled_at=minute, ingested_at=minute + FETCH_DELAY)
    except PayloadError as exc:
        if not unreadable:
            raise NotYet(f"parse refused the good payload of {minute:%H:%M} ({exc}): it quotes every tenor.") from None
        raise NotYet(
            f"parse refused the whole payload of {minute:%H:%M} because the {unreadable[0]} is quoted "
            f"{'N/A'!r}: a bad value costs only itself, an error row beside the good ones."
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        if not unreadable:
            raise
        raise NotYet(
            f"parse raised {type(exc).__name__} on the payload of {minute:%H:%M}, whose {unreadable[0]} is quoted "
            "'N/A': a value that is not a number becomes an error row, it never stops the parser."
        ) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise NotYet(f"parse should return a list of row dicts (one per tenor), not a {type(rows).__name__}.")
    return rows


def _same_time(value: Any, expected: datetime) -> bool:
    try:
        return to_utc(value if isinstance(value, datetime | str) else str(value)) == expected
    except (ContractError, ValueError, TypeError):
        return False


def _check_columns(rows: list[dict[str, Any]]) -> None:
    wanted = (*COLUMNS, *COMMON_TAIL)
    for row in rows:
        missing = [c for c in wanted if c not in row]
        if missing:
            raise NotYet(
                f"a row lacks {', '.join(missing)}: every raw row has the declared columns {', '.join(COLUMNS)} and "
                f"the common tail {', '.join(COMMON_TAIL)}."
            )
        extra = [c for c in row if c not in wanted]
        if extra:
            raise NotYet(f"a row has {', '.join(extra)}, which the declaration does not name: keep to its columns.")


def _check_times(rows: list[dict[str, Any]], payload: dict[str, Any], minute: datetime) -> None:
    published = to_utc(payload["as_of"])
    for row in rows:
        if not _same_time(row["scheduled_at"], minute):
            said = (
                "the fetch's time"
                if _same_time(row["scheduled_at"], minute + FETCH_DELAY)
                else repr(row["scheduled_at"])
            )
            raise NotYet(
                f"scheduled_at is {said}, not the scheduled minute {iso(minute)}: it is the minute the schedule "
                "asked for, given to parse, never a clock."
            )
        if not _same_time(row["ingested_at"], minute + FETCH_DELAY):
            raise NotYet("ingested_at is the time of the fetch, given to parse as `ingested_at`.")
        if not _same_time(row["quote_ts"], published):
            if _same_time(row["quote_ts"], usual := minute - capstone.PUBLISHED_BEFORE):
                raise NotYet(f"quote_ts is {iso(usual)} where this payload's as_of is {payload['as_of']}: quote_ts "
                             "must come from the payload's as_of, not from the scheduled minute.")  # fmt: skip
            said = "the scheduled minute" if _same_time(row["quote_ts"], minute) else repr(row["quote_ts"])
            raise NotYet(
                f"quote_ts is {said}: it is the time the service published the curve, the payload's as_of "
                f"({payload['as_of']})."
            )


def _check_values(rows: list[dict[str, Any]], payload: dict[str, Any]) -> None:
    curve = payload["curve"]
    if len(rows) < len(curve):
        gone = sorted({q["tenor"] for q in curve} - {r.get("tenor") for r in rows})
        raise NotYet(
            f"the payload quotes {len(curve)} tenors and parse returned {len(rows)} rows ({', '.join(gone)} dropped): "
            "a quote that is not a number becomes an error row beside the good ones, never a lost row."
        )
    if len(rows) > len(curve):
        raise NotYet(f"the payload quotes {len(curve)} tenors and parse returned {len(rows)} rows: one row a tenor.")
    by_tenor = {r["tenor"]: r for r in rows}
    for quote in curve:
        row = by_tenor.get(quote["tenor"])
        if row is None:
            raise NotYet(f"no row has the tenor {quote['tenor']!r}: copy the tenor as the payload writes it.")
        _check_value(row, quote)


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _check_value(row: dict[str, Any], quote: dict[str, Any]) -> None:
    tenor, published = quote["tenor"], quote["yield"]
    number = _number(published)
    if number is None:
        if row["status"] != "error":
            raise NotYet(
                f"the {tenor} is quoted {published!r}: a value that is not a number makes an error row "
                f"(status 'error', and why in `error`), never a {row['status']!r} row."
            )
        if not str(row["error"] or "").strip():
            raise NotYet(f"the {tenor}'s error row says nothing in `error`: write why it is one.")
        if row["yield_pct"] not in ("", None):
            raise NotYet(f"the {tenor}'s error row holds a yield_pct of {row['yield_pct']!r}: leave it empty.")
        return
    if row["status"] != "success" or str(row["error"] or "").strip():
        raise NotYet(f"the {tenor} is quoted {published}: its row is a success row, with an empty error.")
    given = _number(row["yield_pct"])
    if given is None or not math.isclose(given, number, abs_tol=1e-9):
        raise NotYet(
            f"the {tenor}'s yield_pct is {row['yield_pct']!r} where the payload says {published}: copy the value "
            "as published, in percent (no scaling, no rounding)."
        )


def _check_refuses_a_broken_payload(parse: Callable[..., Any]) -> None:
    from pipeline.sources.base import PayloadError

    broken = {"as_of": iso(CHECK_FIRST), "record_date": "2026-11-13", "message": "Service Unavailable"}
    try:
        rows = parse(broken, scheduled_at=CHECK_FIRST, ingested_at=CHECK_FIRST + FETCH_DELAY)
    except PayloadError:
        return
    except Exception as exc:
        raise NotYet(
            f"a payload with no curve raised {type(exc).__name__}: raise pipeline.sources.base.PayloadError, which "
            "tells the ingest the payload is unreadable (the code is not broken)."
        ) from None
    raise NotYet(
        f"a payload with no curve gave {len(rows) if isinstance(rows, list) else rows!r} rows: raise PayloadError, "
        "or an outage would look like a quiet minute."
    )


def _published_off_time() -> list[tuple[datetime, dict[str, Any]]]:
    """Two minutes whose curve was published 7 s and 43 s before the minute, not the feed's usual 20 s."""
    minutes = zip(feed_minutes(CHECK_FIRST + timedelta(minutes=20), 2), (7, 43), strict=True)
    return [(at, {**payload, "as_of": iso(at - timedelta(seconds=early))}) for (at, payload), early in minutes]


@exercise("09.parse", "parse(payload, *, scheduled_at, ingested_at): the feed's curve as raw rows, one per tenor")
def _parse(answer: Any, **_: Any) -> str:
    if not callable(answer):
        raise NotYet(f"the answer should be the function parse(payload, *, scheduled_at, ingested_at), not a "
                     f"{type(answer).__name__}.")  # fmt: skip
    for minute, payload in [*feed_minutes(CHECK_FIRST, UNPUBLISHED_EVERY), *_published_off_time()]:
        rows = _parsed(answer, payload, minute)
        _check_columns(rows)
        _check_values(rows, payload)
        _check_times(rows, payload, minute)
        _raw_trip(rows)  # the raw CSV writes and reads them back
    _check_refuses_a_broken_payload(answer)
    return (
        f"one row per tenor, the {len(TENORS)} of every minute, with the declared columns and the common tail; "
        "the 20Y quoted N/A is an error row beside the good ones, and a payload with no curve is a PayloadError."
    )


def _validates(model: Any, row: Mapping[str, Any]) -> str | None:
    """None if `model` accepts the row, else why not (one line)."""
    from pydantic import ValidationError

    from pipeline.schemas import describe

    try:
        model.model_validate(dict(row))
    except ValidationError as exc:
        return describe(exc)
    return None


def _good_rows() -> list[dict[str, str]]:
    """Success rows of the feed as the raw CSV gives them to the row model (every value text)."""
    rows = []
    for minute, payload in feed_minutes(CHECK_FIRST, 3):
        published = payload["as_of"]
        for quote in payload["curve"]:
            if quote["yield"] != "N/A":
                rows.append({"tenor": quote["tenor"], "yield_pct": quote["yield"], "quote_ts": published,
                             "status": "success", "error": "", "scheduled_at": iso(minute),
                             "ingested_at": iso(minute + FETCH_DELAY)})  # fmt: skip
    return _raw_trip(rows)


def _row(**changes: str) -> dict[str, str]:
    row = {"tenor": "10Y", "yield_pct": "4.310", "quote_ts": "2026-11-13T14:59:40Z", "status": "success", "error": "",
           "scheduled_at": "2026-11-13T15:00:00Z", "ingested_at": "2026-11-13T15:00:03Z"}  # fmt: skip
    return {**row, **changes}


def _column_width(column: str) -> int:  # a VARCHAR column's width in the sink's table, as CREATE_TABLE has it
    found = re.search(rf"\b{column}\s+VARCHAR\((\d+)\)", CREATE_TABLE, re.IGNORECASE)
    if found is None:
        raise LookupError(f"{TABLE}.{column} is not a VARCHAR in CREATE_TABLE")
    return int(found.group(1))


TENOR_WIDTH: Final = _column_width("tenor")
LONG_TENOR: Final = ("10Y" * TENOR_WIDTH)[: TENOR_WIDTH + 1]
NAIVE_TIME: Final = "2026-11-13T14:59:40"

# (row, why it must be refused) and (row, why it must be accepted): rows as the raw CSV gives them
MUST_REFUSE: Final = (
    (_row(yield_pct="431"), "a yield of 431 % (basis points written as percent): bound yield_pct"),
    (_row(yield_pct="-75"), "a yield of -75 %: bound yield_pct below too"),
    (_row(yield_pct="N/A"), "a yield that is not a number"),
    (_row(yield_pct="nan"), "a NaN yield"),
    (_row(tenor=""), "a row without a tenor (it has no natural key)"),
    (_row(tenor=LONG_TENOR), f"a tenor of {len(LONG_TENOR)} characters ({LONG_TENOR!r}), which the sink's column "
     f"(tenor VARCHAR({TENOR_WIDTH})) cannot hold: bound the tenor's length"),
    (_row(yield_pct=""), "a success row whose yield is blank (the raw CSV's empty string): a success row's yield "
     "cannot be missing (the sink's yield_pct is NOT NULL, the load would fail)"),
    (_row(quote_ts="1763045980"), "a quote time written as a bare number (seconds? milliseconds?): use UtcDatetime"),
    (_row(quote_ts="yesterday"), "a quote time that is not a time"),
)  # fmt: skip
MUST_ACCEPT: Final = (
    (_row(yield_pct="-0.02"), "a slightly negative yield (US bills traded below zero in March 2020)"),
    (_row(yield_pct="15.8"), "a yield of 15.8 % (the 1-year's in 1981)"),
    (_row(quote_ts="2026-11-13T09:59:40-05:00"), "a quote time with an offset (the same instant)"),
)


def _check_zone(model: Any) -> None:
    """NotYet if the model gives a time written without an offset back without a time zone."""
    try:
        typed = model.model_validate(_row(quote_ts=NAIVE_TIME))
    except ValueError:
        return  # refused: the model wants the zone written
    if isinstance(typed.quote_ts, datetime) and typed.quote_ts.tzinfo is None:
        raise NotYet(f"quote_ts {NAIVE_TIME!r} comes out as a datetime with no time zone (UTC? New York?): type it "
                     "UtcDatetime, which gives every time its zone, UTC.")  # fmt: skip


@exercise("09.row_model", "the pydantic row model Yield: what the sink must never store is refused")
def _row_model(answer: Any, **_: Any) -> str:
    from pydantic import BaseModel

    from pipeline.schemas import _Row

    if not isinstance(answer, type) or not issubclass(answer, BaseModel):
        raise NotYet(f"the answer should be a pydantic model class (class Yield(_Row): ...), not {answer!r}.")
    if not issubclass(answer, _Row):
        raise NotYet("derive it from pipeline.schemas._Row: it makes rows frozen and blanks None, and refuses NaN.")
    missing = [c for c in COLUMNS if c not in answer.model_fields]
    if missing:
        raise NotYet(f"the model has no field {', '.join(missing)}: a field for each declared column.")
    for row in _good_rows():
        why = _validates(answer, row)
        if why is not None:
            raise NotYet(f"it refuses a good row of the feed ({row['tenor']} at {row['quote_ts']}): {why}.")
    for row, what in MUST_ACCEPT:
        why = _validates(answer, row)
        if why is not None:
            raise NotYet(f"it refuses {what}: {why}.")
    _check_zone(answer)
    for row, what in MUST_REFUSE:
        if _validates(answer, row) is None:
            raise NotYet(f"it accepts {what}.")
    typed = answer.model_validate(_good_rows()[0])
    if not isinstance(typed.quote_ts, datetime) or not isinstance(typed.yield_pct, int | float):  # type: ignore[attr-defined]
        raise NotYet(
            "type quote_ts as a time (UtcDatetime) and yield_pct as a float: the sink's column is a FLOAT, and the "
            "sink checks each value it is given against it."
        )
    return "it takes the feed's rows as the raw CSV gives them and refuses what the sink must never store."


def _key_fields(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _check_key_fields(key: tuple[str, ...]) -> None:
    twice = sorted({field for field in key if key.count(field) > 1})
    if twice:
        raise NotYet(f"natural_key names {', '.join(twice)} twice: each field of the key once.")
    fetch_fields = sorted(set(key) & set(COMMON_TAIL))
    if fetch_fields:
        raise NotYet(
            f"{', '.join(fetch_fields)} is not a field of the row model ({', '.join(COLUMNS)}): scheduled_at and the "
            "tail are the fetch's, not the quote's, and a quote fetched again in another minute would be stored twice."
        )
    unknown = [field for field in key if field not in COLUMNS]
    if unknown:
        raise NotYet(f"{unknown[0]} is not a field of the row model: a key is made of the model's fields, "
                     f"{', '.join(COLUMNS)}.")  # fmt: skip


@exercise("09.natural_key", "the declaration's natural key and natural time: what identifies a yield in its sink")
def _natural_key(answer: Any, **_: Any) -> str:
    if not isinstance(answer, dict) or not {"natural_key", "natural_time"} <= set(answer):
        raise NotYet('the answer should be a dict {"natural_key": (field, ...), "natural_time": field}.')
    key = _key_fields(answer["natural_key"])
    if key is None:
        raise NotYet('natural_key is a tuple of field names of the row model, e.g. ("field", "field").')
    fields = set(key)
    _check_key_fields(key)
    if "yield_pct" in fields:
        raise NotYet("yield_pct is a value, not what identifies it: a corrected quote would sit beside the wrong one.")
    if fields == {"tenor"}:
        raise NotYet("every minute quotes every tenor: keyed on the tenor alone, each curve would overwrite the last.")
    if fields == {"quote_ts"}:
        raise NotYet("every tenor of a curve shares its quote_ts: keyed on the time alone, one tenor would survive.")
    if answer["natural_time"] != "quote_ts":
        raise NotYet(
            f"natural_time is {answer['natural_time']!r}: the field that places a row in time is the quote's own "
            "time, quote_ts."
        )
    return "(tenor, quote_ts): one row per tenor per published curve, whichever minute fetched it; placed by quote_ts."


# A replay-safe upsert, run through the cases that matter on a table like the sink's
_UPSERT_CASES: Final = (
    ("loading two new yields into an empty table should insert both", "raw/treasury_yields/2026/11/13/1500.csv",
     [("2Y", 4.05), ("10Y", 4.31)], {"2Y": 4.05, "10Y": 4.31}),
    ("loading the same raw object twice should leave one row per (tenor, quote_ts), neither failing nor duplicating",
     "raw/treasury_yields/2026/11/13/1500.csv", [("2Y", 4.05), ("10Y", 4.31)], {"2Y": 4.05, "10Y": 4.31}),
    ("a row from a later raw key should update the yield (a corrected quote)",
     "raw/treasury_yields/2026/11/13/1501.csv", [("10Y", 4.33)], {"2Y": 4.05, "10Y": 4.33}),
    ("a replay of an older raw key must not undo a later correction: compare raw_key",
     "raw/treasury_yields/2026/11/13/1459.csv", [("10Y", 1.0)], {"2Y": 4.05, "10Y": 4.33}),
    ("a new tenor from 1500 should be inserted", "raw/treasury_yields/2026/11/13/1500.csv", [("30Y", 4.10)],
     {"2Y": 4.05, "10Y": 4.33, "30Y": 4.10}),
    ("its correction from 1502 should update it", "raw/treasury_yields/2026/11/13/1502.csv", [("30Y", 4.30)],
     {"2Y": 4.05, "10Y": 4.33, "30Y": 4.30}),
    ("a replay of 1501 after 1502 must not win: the update must set raw_key too, or the row keeps the raw_key of its "
     "first load (1500) and a later replay of an older file wins", "raw/treasury_yields/2026/11/13/1501.csv",
     [("30Y", 4.20)], {"2Y": 4.05, "10Y": 4.33, "30Y": 4.30}),
)  # fmt: skip


def _run_upsert(statement: str) -> str | None:
    """None if the statement passes every case, else the first rule it breaks."""
    db = sqlite3.connect(":memory:")
    db.execute(CREATE_TABLE)
    for rule, raw_key, rows, expected in _UPSERT_CASES:
        params = [{"tenor": t, "quote_ts": "2026-11-13 14:59:40", "yield_pct": y, "raw_key": raw_key,
                   "loaded_at": "2026-11-13 15:00:05"} for t, y in rows]  # fmt: skip
        try:
            with db:
                db.executemany(statement, params)
        except sqlite3.IntegrityError as exc:
            return f"{rule} ({exc})"
        held = db.execute(f"SELECT tenor, yield_pct FROM {TABLE}").fetchall()  # noqa: S608
        if len(held) != len(expected) or dict(held) != expected:
            return rule
    return None


@exercise("09.upsert", "the sink's upsert: idempotent on (tenor, quote_ts), replay-safe by raw_key (SQLite)")
def _upsert(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str) or "insert" not in answer.lower():
        raise NotYet(f"the answer should be the text of one INSERT INTO {TABLE} ... statement (SQLite).")
    try:
        broken = _run_upsert(answer)
    except sqlite3.Error as exc:
        raise NotYet(f"SQLite refuses the statement: {exc} (the parameters are :tenor, :quote_ts, :yield_pct, "
                     ":raw_key and :loaded_at).") from None  # fmt: skip
    if broken is not None:
        raise NotYet(f"run on a test table, your upsert breaks a rule: {broken}.")
    return "idempotent by (tenor, quote_ts), and a row is replaced only by one from a raw key at least as recent."


# Sources that are not declared (yet), of every shape a policy could let through by mistake: one that ends like the
# fourth's id, one that starts like it, near misses and a second version. A policy must let none of them in.
OTHER_SOURCES: Final = (
    "treasury_yields_v2", "treasury_yields_eu", "us_treasury_yields", "corporate_yields", "treasury", "treasury_yield",
    "treasury_bills", "treasuryyields", "bond_futures",
)  # fmt: skip


def _valid_policy(policy: Any) -> dict[str, Any]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError as exc:
            raise NotYet(f"the policy is not JSON: {exc}.") from None
    if not isinstance(policy, dict) or not policy:
        raise NotYet('a filter policy is a JSON object of message attributes, e.g. {"attribute": ["value"]}.')
    try:
        sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]._validate_filter_policy(policy, "MessageAttributes")
    except Exception as exc:  # SNS's own validation, as the emulator runs it
        first = str(exc).removeprefix("InvalidParameter: ").strip()
        raise NotYet(f"SNS refuses it: {first} (a list of the values the attribute may take).") from None
    return policy


@exercise("09.filter_policy", "the filter policy of the queue's subscription: its own source's events, no other")
def _filter_policy(answer: Any, **_: Any) -> str:
    from moto.sns.utils import FilterPolicyMatcher

    from pipeline.constants import SOURCE_ATTRIBUTE

    policy = _valid_policy(answer)
    matcher = FilterPolicyMatcher(policy, "MessageAttributes")

    def lets_in(source: str) -> bool:
        return matcher.matches({SOURCE_ATTRIBUTE: {"Type": "String", "Value": source}}, "{}")

    if not lets_in(ID):
        raise NotYet(
            f"no event of {ID} gets through: the ingest publishes its source id in the message attribute "
            f"{SOURCE_ATTRIBUTE!r}, and the policy must match it."
        )
    declared = [s for s in registry.source_ids() if s != ID and lets_in(s)]
    if declared:
        raise NotYet(f"it lets in {declared[0]}'s events too: its process function would get rows it cannot read.")
    later = [s for s in OTHER_SOURCES if lets_in(s)]
    if later:
        raise NotYet(
            f"it would let in a source declared later, {later[0]!r}: this queue would get that source's events, "
            f"which this process function cannot read. List {ID!r} alone, exactly: no prefix, suffix or "
            "anything-but the sources of today, no other id."
        )
    return f"the subscription delivers {ID}'s events only, whatever sources are declared later."
