"""The checkers of chapter 05 (sinks)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise


@exercise("05.natural_keys", "the natural key (the fields that identify a row in its sink) of each source")
def _natural_keys(answer: Any, **_: Any) -> str:
    from pipeline import registry

    if not isinstance(answer, dict):
        raise NotYet("the answer should be a dict {source id: the key's field names}.")
    expected = {spec.id: tuple(spec.natural_key) for spec in registry.specs()}
    missing = sorted(set(expected) - set(answer))
    if missing:
        raise NotYet(f"give a key for every source: {', '.join(missing)} is missing.")
    for source, key in expected.items():
        given = tuple(answer[source]) if isinstance(answer[source], list | tuple) else answer[source]
        if given != key:
            hint = "one of its fields is missing, or extra, or out of order"
            if registry.get(source).keyed_by_object:
                hint = "its sink writes one object per raw object, so the minute is in the object's key, not the row's"
            raise NotYet(f"{source}'s natural key is not {given!r}: {hint}.")
    return "; ".join(f"{s}: ({', '.join(k)})" for s, k in expected.items()) + "."


_COIN_TABLE = "CREATE TABLE {name} (SYMBOL VARCHAR, SCHEDULED_AT TIMESTAMP, PRICE_USD DOUBLE, RAW_KEY VARCHAR)"


def _run_merge(sql: str) -> list[tuple[Any, ...]] | str:
    """Run a coin MERGE (COINS_STAGE into COINS) through the cases that matter; the first broken case, or the rows."""
    import duckdb

    db = duckdb.connect()
    db.execute(_COIN_TABLE.format(name="COINS"))
    db.execute(_COIN_TABLE.format(name="COINS_STAGE"))

    def load(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        db.execute("DELETE FROM COINS_STAGE")
        if rows:
            db.executemany("INSERT INTO COINS_STAGE VALUES (?, ?, ?, ?)", rows)
        db.execute(sql)
        return db.execute("SELECT * FROM COINS ORDER BY SYMBOL, SCHEDULED_AT").fetchall()

    first = [("BTC", "2026-11-02 14:45:00", 72720.05, "raw/coinmarketcap/2026/11/02/1445.csv"),
             ("ETH", "2026-11-02 14:45:00", 3900.10, "raw/coinmarketcap/2026/11/02/1445.csv")]  # fmt: skip
    if len(load(first)) != 2:
        return "loading two new coins into an empty table should insert both"
    if len(load(first)) != 2:
        return "loading the same file twice should leave one row per (symbol, scheduled_at)"
    later = [("BTC", "2026-11-02 14:45:00", 72800.00, "raw/coinmarketcap/2026/11/02/1445.csv~fix")]
    if dict((r[0], r[2]) for r in load(later))["BTC"] != 72800.00:
        return "a row from a raw key at least as recent should update the price"
    older = [("BTC", "2026-11-02 14:45:00", 1.0, "raw/coinmarketcap/2026/11/01/0000.csv")]
    if dict((r[0], r[2]) for r in load(older))["BTC"] != 72800.00:
        return "a replay of an older raw key must not undo a later correction (compare RAW_KEY)"
    return db.execute("SELECT * FROM COINS ORDER BY SYMBOL, SCHEDULED_AT").fetchall()


@exercise("05.coin_merge", "a MERGE of COINS_STAGE into COINS on (SYMBOL, SCHEDULED_AT), replay-safe by RAW_KEY")
def _coin_merge(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str) or "merge" not in answer.lower():
        raise NotYet("the answer should be the text of one MERGE INTO COINS ... USING COINS_STAGE ... statement.")
    outcome = _run_merge(answer)
    if isinstance(outcome, str):
        raise NotYet(f"run on a test table, your MERGE breaks a rule: {outcome}.")
    return "idempotent, atomic (one statement) and replay-safe: it inserts new coins, updates from newer raw keys only."
