"""05.coin_merge's test table: the loads a coin MERGE is run through, what the table must hold after each, and the
mistake when it does not (a probe of one row tells a strict guard, an inverted one and a missing update apart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from workbench.course.merge_text import duplicate_rows, merge_text_mistake

_COIN_TABLE = "CREATE TABLE {name} (SYMBOL VARCHAR, SCHEDULED_AT TIMESTAMP, PRICE_USD DOUBLE, RAW_KEY VARCHAR)"
_COIN_COLUMNS: Final = ("SYMBOL", "SCHEDULED_AT", "PRICE_USD", "RAW_KEY")


def _coin_loads() -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The loads the MERGE is run through, in order: (what the load is, the stage's rows); raw keys as the pipeline
    names them (`raw_key`), one minute's snapshot re-published by later objects."""
    from pipeline.contracts import raw_key

    at = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)
    k45, k46, k47, k48 = (raw_key("coinmarketcap", at + timedelta(minutes=m)) for m in range(4))
    t45, t46 = "2026-11-02 14:45:00", "2026-11-02 14:46:00"
    first = [("BTC", t45, 72720.05, k45), ("ETH", t45, 3900.10, k45)]
    return [
        ("two new coins", first),
        ("the same file again", first),
        ("the next minute", [("BTC", t46, 72750.0, k46), ("ETH", t46, 3901.0, k46)]),
        ("the same file fixed", [("BTC", t45, 72721.0, k45)]),
        ("a later file's correction", [("BTC", t45, 72800.0, k47)]),
        ("a replay of an older file", [("BTC", t45, 1.0, k46)]),
        ("a later file with the same price", [("BTC", t45, 72800.0, k48)]),
        ("a replay of the file before it, fixed", [("BTC", t45, 2.0, k47)]),
    ]


def _expected_coins(loads: list[tuple[str, list[tuple[Any, ...]]]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every coin's row of the loads so far, by (symbol, "HH:MM"): (price, raw key) of the newest raw key that holds
    it (a tie: the later load)."""
    kept: dict[tuple[str, str], tuple[Any, ...]] = {}
    for _, stage in loads:
        for symbol, at, price, key in stage:
            if (symbol, at[11:16]) not in kept or key >= kept[(symbol, at[11:16])][1]:
                kept[(symbol, at[11:16])] = (price, key)
    return kept


def _rows_mistake(step: int, rows: list[tuple[Any, ...]], got: dict[tuple[str, str], tuple[Any, ...]]) -> str | None:
    """The table after load `step`: no rows, a key twice, a RAW_KEY that is NULL or names no raw file."""
    loads = _coin_loads()
    what = loads[step][0]
    if not rows:
        return "new coins are never inserted: add WHEN NOT MATCHED THEN INSERT"
    if len(rows) > len(got):
        if step == 1:
            return (
                "loading the same file twice adds its rows again: a plain INSERT does, so does a MERGE whose ON "
                "misses a key field; match on (SYMBOL, SCHEDULED_AT)"
            )
        return duplicate_rows(what, rows, "row", "(SYMBOL, SCHEDULED_AT)")
    if any(key is None for _, key in got.values()):
        return (
            "a new row is inserted without its RAW_KEY (NULL), so the guard s.RAW_KEY >= t.RAW_KEY is never true and "
            "no later raw object can update the row: insert RAW_KEY with the other columns"
        )
    known = {load[3] for _, rows_of in loads for load in rows_of}
    for (symbol, minute), (_, raw) in sorted(got.items()):
        if raw not in known:
            return (
                f"after {what}, the row {symbol} {minute} has RAW_KEY {raw!r}, which names no raw file: a row keeps "
                "the key of the raw object it came from, insert and set s.RAW_KEY"
            )
    return None


def _coin_mistake(step: int, rows: list[tuple[Any, ...]], before: set[tuple[str, str]], sql: str) -> str | None:
    """The table after load `step` of `_coin_loads` (`before`: its rows' keys after the load before), compared with
    what the raw files say; the first mistake."""
    loads = _coin_loads()
    what, stage = loads[step]
    expected = _expected_coins(loads[: step + 1])
    got = {(str(r[0]), str(r[1])): (r[2], r[3]) for r in rows}
    if (mistake := _rows_mistake(step, rows, got)) is not None:
        return mistake
    for symbol, minute in sorted(expected.keys() - got.keys()):
        if (symbol, minute) not in before and any(s == symbol for s, _ in got):
            return "two minutes of one coin must be two rows: match on SYMBOL and SCHEDULED_AT, not SYMBOL alone"
        return f"after {what}, the row {symbol} {minute} is gone from the table: a MERGE never deletes a row"
    for symbol, minute in sorted(got.keys() - expected.keys()):
        return f"after {what}, the table holds a row {symbol} {minute} that no raw file has"
    for key in sorted(expected):
        if got[key] == expected[key]:
            continue
        (price, raw), (want, want_raw) = got[key], expected[key]
        others = {s for (s, m), (p, _) in expected.items() if m == key[1] and s != key[0] and p == price}
        if others:
            return (
                f"after {what}, the row {key[0]} {key[1]} has PRICE_USD {price!r}, {min(others)}'s price of that "
                "minute: one coin overwrote another's row, match on SYMBOL and SCHEDULED_AT, not SCHEDULED_AT alone"
            )
        if price == want and what == "a later file with the same price":
            return (
                f"after {what}, the row {key[0]} {key[1]} kept the older RAW_KEY: a condition that skips unchanged "
                "prices (such as s.PRICE_USD <> t.PRICE_USD) never advances RAW_KEY, so a fixed replay of that older "
                "file would then overwrite the row; update whenever s.RAW_KEY >= t.RAW_KEY"
            )
        if price == want:
            return (
                f"after {what}, the row {key[0]} {key[1]} kept the older RAW_KEY, so a replay of an older file would "
                "undo its price: set RAW_KEY with the price"
            )
        return _coin_step_mistake(what, stage, key, price, want, raw, want_raw, sql)
    return None


def _coin_step_mistake(
    what: str, stage: Any, key: tuple[str, str], price: Any, want: Any, raw: Any, want_raw: Any, sql: str
) -> str:
    if what in ("the same file fixed", "a later file's correction"):
        return _update_mistake(sql, what)
    if what == "a replay of an older file" and raw == stage[0][3]:
        return (
            "a replay of an older raw object undid a later correction: update only WHEN MATCHED AND "
            "s.RAW_KEY >= t.RAW_KEY"
        )
    if what == "a replay of an older file":
        return (
            "the correction kept the older RAW_KEY, so a replay of an older file undid it: set RAW_KEY with the price"
        )
    return (
        f"after {what}, the row {key[0]} {key[1]} has PRICE_USD {price!r} where its raw file says {want!r}: each "
        "column takes the stage's column of the same name"
    )


def _probe(sql: str) -> dict[str, tuple[bool, bool]]:
    """One row (RAW_KEY of 14:46) met by a stage row of the same, a later and an older raw key: for each, whether
    the MERGE changed its PRICE_USD and its RAW_KEY."""
    import duckdb

    from pipeline.contracts import raw_key

    at = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)
    older, same, later = (raw_key("coinmarketcap", at + timedelta(minutes=m)) for m in range(3))
    changed: dict[str, tuple[bool, bool]] = {}
    for name, key in (("same", same), ("later", later), ("older", older)):
        db = duckdb.connect()
        for table in ("COINS", "COINS_STAGE"):
            db.execute(_COIN_TABLE.format(name=table))
        db.execute("INSERT INTO COINS VALUES ('BTC', '2026-11-02 14:45:00', 1.0, ?)", [same])
        db.execute("INSERT INTO COINS_STAGE VALUES ('BTC', '2026-11-02 14:45:00', 2.0, ?)", [key])
        try:
            db.execute(sql)
        except duckdb.Error:
            return {}
        rows = db.execute("SELECT PRICE_USD, RAW_KEY FROM COINS").fetchall()
        changed[name] = (any(p == 2.0 for p, _ in rows), key != same and any(r == key for _, r in rows))
    return changed


def _update_mistake(sql: str, what: str) -> str:
    """Why a matched row was not updated as it should be after `what`: told apart by `_probe`."""
    changed = _probe(sql)
    if changed.get("later", (False, False))[0] and not changed["same"][0]:
        return (
            "a raw object processed again (after a fix) must update its rows: a guard with > refuses its own raw key, "
            "compare with >="
        )
    if changed.get("older", (False, False))[0]:
        return (
            "the guard is the wrong way round: an older raw key overwrote a newer one, and a newer one was refused; "
            "update WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY"
        )
    if changed.get("later", (False, False))[1]:
        return (
            "PRICE_USD is not updated: a matched row only gets its RAW_KEY, so it keeps an outdated price; "
            "UPDATE SET PRICE_USD = s.PRICE_USD, RAW_KEY = s.RAW_KEY"
        )
    return (
        f"after {what}, the matched row was not updated: add WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY THEN UPDATE "
        "SET PRICE_USD = s.PRICE_USD, RAW_KEY = s.RAW_KEY"
    )


def merge_mistake(sql: str) -> str | None:
    """Run a coin MERGE (COINS_STAGE into COINS) through the loads that matter; the first mistake, or None."""
    import duckdb

    mistake, sql = merge_text_mistake(
        sql, "a load is", "PRICE_USD = s.PRICE_USD", ("COINS", "COINS_STAGE", *_COIN_COLUMNS)
    )
    if mistake is not None:
        return mistake
    db = duckdb.connect()
    db.execute(_COIN_TABLE.format(name="COINS"))
    db.execute(_COIN_TABLE.format(name="COINS_STAGE"))
    before: set[tuple[str, str]] = set()
    for step, (_, stage) in enumerate(_coin_loads()):
        db.execute("DELETE FROM COINS_STAGE")
        db.executemany("INSERT INTO COINS_STAGE VALUES (?, ?, ?, ?)", stage)
        try:
            db.execute(sql)
        except duckdb.Error as exc:
            return f"your statement fails on the test table ({str(exc).splitlines()[0]})"
        rows = db.execute("SELECT SYMBOL, STRFTIME(SCHEDULED_AT, '%H:%M'), PRICE_USD, RAW_KEY FROM COINS").fetchall()
        if (mistake := _coin_mistake(step, rows, before, sql)) is not None:
            return mistake
        before = {(str(r[0]), str(r[1])) for r in rows}
    return None
