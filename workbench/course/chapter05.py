"""The checkers of chapter 05 (sinks)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise

PROVENANCE = ("raw_key", "ingested_at", "scheduled_at", "status", "error")


def _fields(value: Any) -> tuple[str, ...] | None:
    """A key's field names however they are written: a tuple, list or set of names, or one name; any case."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(v.strip().lower() for v in value)


def _keys(answer: Any) -> dict[str, Any]:
    if isinstance(answer, list | tuple) and all(isinstance(p, list | tuple) and len(p) == 2 for p in answer):
        answer = dict(answer)
    if not isinstance(answer, dict):
        raise NotYet(
            "each source has a key of its own (its rows are not alike): answer {source id: the fields that "
            "identify one of its rows} for every source of registry.source_ids()."
        )
    return answer


def _key_mistake(source: str, given: tuple[str, ...], key: tuple[str, ...]) -> str:
    from pipeline import registry

    spec = registry.get(source)
    extra = [f for f in given if f not in key]
    missing = [f for f in key if f not in given]
    if extra and spec.keyed_by_object and extra[0] in ("scheduled_at", "ts"):
        return (
            f"{source}'s sink writes one object per raw object, so the minute is in the object's key, not the row's: "
            f"{extra[0]} is not part of the row's key."
        )
    if extra and extra[0] in PROVENANCE:
        return (
            f"{extra[0]} in {source}'s key says where or when a row came from, not which row it is: the same row "
            "loaded from two raw objects would become two rows."
        )
    if extra and extra[0] not in spec.raw_columns:
        return f"{extra[0]} is not a field of {source}'s rows (registry.get({source!r}).raw_columns)."
    if extra:
        return (
            f"{extra[0]} is a value a {source} row holds, not what identifies it: with it in the key, a corrected "
            "value would be a second row instead of an update."
        )
    return (
        f"{source}'s key lacks a field: two different rows that differ only in {missing[0]} would share a key, "
        "and the second would overwrite the first."
    )


@exercise("05.natural_keys", "the natural key (the fields that identify a row in its sink) of each source")
def _natural_keys(answer: Any, **_: Any) -> str:
    from pipeline import registry

    answer = _keys(answer)
    expected = {spec.id: tuple(spec.natural_key) for spec in registry.specs()}
    missing = sorted(set(expected) - set(answer))
    if missing:
        raise NotYet(f"give a key for every source: {', '.join(missing)} has none.")
    for source, key in expected.items():
        given = _fields(answer[source])
        if given is None:
            raise NotYet(f"{source}'s key is a few field names, such as ('field', 'field'), not {answer[source]!r}.")
        if set(given) != set(key):
            raise NotYet(_key_mistake(source, given, key))
    return "; ".join(f"{s}: ({', '.join(k)})" for s, k in expected.items()) + "."


_COIN_TABLE = "CREATE TABLE {name} (SYMBOL VARCHAR, SCHEDULED_AT TIMESTAMP, PRICE_USD DOUBLE, RAW_KEY VARCHAR)"


def _merge_loads() -> list[tuple[str, list[tuple[Any, ...]], Any]]:
    """The loads the MERGE is run through, in order: (what the load is, the stage's rows, what must then hold);
    raw keys as the pipeline names them (`raw_key`), one minute's snapshot re-published by later objects."""
    from datetime import UTC, datetime, timedelta

    from pipeline.contracts import raw_key

    at = datetime(2026, 11, 2, 14, 45, tzinfo=UTC)
    k45, k46, k47 = (raw_key("coinmarketcap", at + timedelta(minutes=m)) for m in range(3))
    t45, t46 = "2026-11-02 14:45:00", "2026-11-02 14:46:00"
    first = [("BTC", t45, 72720.05, k45), ("ETH", t45, 3900.10, k45)]
    return [
        ("two new coins", first, lambda rows, prices, keys: len(rows) == 2),
        ("the same file again", first, lambda rows, prices, keys: len(rows) == 2),
        ("the next minute", [("BTC", t46, 72750.0, k46), ("ETH", t46, 3901.0, k46)], lambda r, p, k: len(r) == 4),
        ("the same file fixed", [("BTC", t45, 72721.0, k45)], lambda r, p, k: p[("BTC", t45)] == 72721.0),
        ("a later file's correction", [("BTC", t45, 72800.0, k47)], lambda r, p, k: p[("BTC", t45)] == 72800.0),
        ("a replay of an older file", [("BTC", t45, 1.0, k46)], lambda r, p, k: p[("BTC", t45)] == 72800.0),
    ]


MERGE_MISTAKES = {
    "two new coins": "new coins are never inserted: add WHEN NOT MATCHED THEN INSERT",
    "the same file again": "loading the same file twice adds its rows again: a plain INSERT does, so does a MERGE "
    "whose ON misses a key field; match on (SYMBOL, SCHEDULED_AT)",
    "the next minute": "two minutes of one coin must be two rows: match on SYMBOL and SCHEDULED_AT, not SYMBOL alone",
    "the same file fixed": "a raw object processed again (after a fix) must update its rows: a guard with > "
    "refuses its own raw key, compare with >=",
    "a later file's correction": "a row from a later raw object must update the price: WHEN MATCHED ... THEN UPDATE",
    "a replay of an older file": "a replay of an older raw object undid a later correction: update only WHEN "
    "MATCHED AND s.RAW_KEY >= t.RAW_KEY",
}


def _merge_mistake(sql: str) -> str | None:
    """Run a coin MERGE (COINS_STAGE into COINS) through the loads that matter; the first mistake, or None."""
    import duckdb

    if len([part for part in sql.split(";") if part.strip()]) > 1:
        return "one statement, so a load is all or nothing: a MERGE, not statements run one after the other"
    db = duckdb.connect()
    db.execute(_COIN_TABLE.format(name="COINS"))
    db.execute(_COIN_TABLE.format(name="COINS_STAGE"))
    for what, stage, holds in _merge_loads():
        db.execute("DELETE FROM COINS_STAGE")
        db.executemany("INSERT INTO COINS_STAGE VALUES (?, ?, ?, ?)", stage)
        try:
            db.execute(sql)
        except duckdb.Error as exc:
            return f"your statement fails on the test table ({str(exc).splitlines()[0]})"
        rows = db.execute(
            "SELECT SYMBOL, STRFTIME(SCHEDULED_AT, '%Y-%m-%d %H:%M:%S'), PRICE_USD, RAW_KEY FROM COINS"
        ).fetchall()
        prices = {(r[0], r[1]): r[2] for r in rows}
        keys = {(r[0], r[1]): r[3] for r in rows}
        if not holds(rows, prices, keys):
            if what == "a replay of an older file" and keys.get(("BTC", "2026-11-02 14:45:00")) != stage[0][3]:
                return (
                    "the correction kept the older RAW_KEY, so a replay of an older file undid it: set RAW_KEY "
                    "with the price"
                )
            return MERGE_MISTAKES[what]
    return None


@exercise("05.coin_merge", "a MERGE of COINS_STAGE into COINS on (SYMBOL, SCHEDULED_AT), replay-safe by RAW_KEY")
def _coin_merge(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str):
        raise NotYet(
            "the checker runs your statement on a test table: write it as the text of the SQL, "
            '"MERGE INTO COINS AS t USING COINS_STAGE AS s ON ...".'
        )
    mistake = _merge_mistake(answer)
    if mistake:
        raise NotYet(f"run on a test table, your statement breaks a rule: {mistake}.")
    return "idempotent, atomic (one statement) and replay-safe: it inserts new coins, updates from newer raw keys only."
