"""The checkers of chapter 05 (sinks)."""

from __future__ import annotations

from typing import Any, Final

from workbench.course.coin_merge import merge_mistake
from workbench.course.exercises import NotYet, exercise
from workbench.course.merge_text import duplicate_rows, merge_text_mistake, unqualified_set_targets

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


@exercise("05.coin_merge", "a MERGE of COINS_STAGE into COINS on (SYMBOL, SCHEDULED_AT), replay-safe by RAW_KEY")
def _coin_merge(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str):
        raise NotYet(
            "the checker runs your statement on a test table: write it as the text of the SQL, "
            '"MERGE INTO COINS AS t USING COINS_STAGE AS s ON ...".'
        )
    mistake = merge_mistake(answer)
    if mistake:
        raise NotYet(f"run on a test table, your statement breaks a rule: {mistake}.")
    return "idempotent, atomic (one statement) and replay-safe: it inserts new coins, updates from newer raw keys only."


# -- 05.bars_merge: the stock bars' MERGE, written by the learner and run on the pipeline's own rows -------------

BARS_TABLE, BARS_STAGE = "BARS_1M", "BARS_STAGE"
_BARS_COLUMNS = (
    "SYMBOL VARCHAR NOT NULL, TS TIMESTAMPTZ NOT NULL, OPEN DOUBLE NOT NULL, HIGH DOUBLE NOT NULL, "
    "LOW DOUBLE NOT NULL, CLOSE DOUBLE NOT NULL, VOLUME BIGINT NOT NULL, RAW_KEY VARCHAR NOT NULL, "
    "LOADED_AT TIMESTAMPTZ NOT NULL"
)
_BAR_VALUES = ("OPEN", "HIGH", "LOW", "CLOSE", "VOLUME")
_BAR_COLUMNS: Final = ("SYMBOL", "TS", *_BAR_VALUES, "RAW_KEY", "LOADED_AT")


def _bar_files() -> dict[str, list[tuple[Any, ...]]]:
    """Raw objects of Yahoo as the pipeline writes them, as rows of the stage: each fetch looks back a few minutes,
    so the 14:46 object repeats A's 14:44 bar (final now: the 14:45 object had it while it was still forming)."""
    from datetime import UTC, datetime, timedelta

    from pipeline.contracts import raw_key

    at = datetime(2026, 11, 10, 14, 45, tzinfo=UTC)
    k45, k46, k47, k48 = (raw_key("yahoo_finance", at + timedelta(minutes=m)) for m in range(4))
    m43, m44, m45 = (at - timedelta(minutes=m) for m in (2, 1, 0))

    def bar(symbol: str, ts: datetime, close: float, volume: int, key: str) -> tuple[Any, ...]:
        return (symbol, ts, close - 0.02, close + 0.03, close - 0.04, close, volume, key, at)

    return {
        "first": [bar("A", m43, 37.95, 5107, k45), bar("A", m44, 37.93, 1200, k45), bar("B", m44, 101.5, 800, k45)],
        "next": [bar("A", m44, 37.96, 1947, k46), bar("A", m45, 37.96, 3000, k46), bar("B", m45, 101.7, 900, k46)],
        "next fixed": [bar("A", m44, 37.97, 1950, k46)],
        "later, OPEN only": [(*bar("A", m44, 37.97, 1950, k47)[:2], 37.90, *bar("A", m44, 37.97, 1950, k47)[3:])],
        "later, unchanged": [(*bar("A", m44, 37.97, 1950, k48)[:2], 37.90, *bar("A", m44, 37.97, 1950, k48)[3:])],
        "later fixed": [bar("A", m44, 30.0, 1950, k47)],
    }


def _bars(db: Any) -> tuple[int, dict[tuple[str, str], tuple[Any, ...]]]:
    """The table's row count, and its bars by (symbol, "HH:MM")."""
    rows = db.execute(
        f"SELECT SYMBOL, STRFTIME(TS AT TIME ZONE 'UTC', '%H:%M'), {', '.join(_BAR_VALUES)}, RAW_KEY FROM {BARS_TABLE}"  # noqa: S608
    ).fetchall()
    rounded: list[tuple[Any, ...]] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return len(rows), {(str(r[0]), str(r[1])): tuple(r[2:]) for r in rounded}


def _bars_mistake(sql: str) -> str | None:
    """Run a bars MERGE (BARS_STAGE into BARS_1M) through the loads that matter; the first mistake, or None."""
    import duckdb

    mistake, sql = merge_text_mistake(sql, "a raw file lands", "OPEN = s.OPEN", (BARS_TABLE, BARS_STAGE, *_BAR_COLUMNS))
    if mistake is not None:
        return mistake
    files = _bar_files()
    db = duckdb.connect()
    for name in (BARS_TABLE, BARS_STAGE):
        db.execute(f"CREATE TABLE {name} ({_BARS_COLUMNS})")
    loads = ("first", "first", "next", "next fixed", "first", "later, OPEN only", "later, unchanged", "later fixed")
    for step, name in enumerate(loads):
        db.execute(f"DELETE FROM {BARS_STAGE}")  # noqa: S608
        db.executemany(f"INSERT INTO {BARS_STAGE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", files[name])  # noqa: S608
        try:
            db.execute(sql)
        except duckdb.Error as exc:
            first_line = str(exc).splitlines()[0]
            if "NOT NULL" in first_line.upper():
                return "a new bar is inserted without one of its columns (every column of the table is NOT NULL)"
            return f"your statement fails on the test table ({first_line})"
        count, bars = _bars(db)
        if step >= 3 and count > len(bars):
            keys = f"SELECT SYMBOL, STRFTIME(TS AT TIME ZONE 'UTC', '%H:%M') FROM {BARS_TABLE}"  # noqa: S608
            return duplicate_rows(_LOADS[step], db.execute(keys).fetchall(), "bar", "(SYMBOL, TS)")
        if (mistake := _bars_step_mistake(step, count, bars)) is not None:
            return mistake
        if (mistake := _bars_differ(step, bars, _expected_bars(loads[: step + 1]))) is not None:
            return mistake
    return None


# The table the loads must leave, bar by bar: what a right MERGE does, computed here (never shown in the notebook).
_LOADS: Final = ("the first raw file", "the same file again", "the next file", "the next file after a fix",
                 "a replay of the first file", "a later file changing only OPEN", "a later file changing nothing",
                 "a replay of the file before it, fixed")  # fmt: skip


def _expected_bars(loads: tuple[str, ...]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every bar of the loads so far, each from the newest raw key that holds it (a tie: the later load)."""
    files = _bar_files()
    kept: dict[tuple[str, str], tuple[Any, ...]] = {}
    for name in loads:
        for row in files[name]:
            key = (str(row[0]), f"{row[1]:%H:%M}")
            if key not in kept or row[7] >= kept[key][-1]:
                kept[key] = tuple(round(v, 6) if isinstance(v, float) else v for v in (*row[2:7], row[7]))
    return kept


def _bars_differ(
    step: int, bars: dict[tuple[str, str], tuple[Any, ...]], expected: dict[tuple[str, str], tuple[Any, ...]]
) -> str | None:
    """The first difference between the table and what the raw files say, named by bar and column."""
    for key in sorted(expected.keys() - bars.keys()):
        return f"after {_LOADS[step]}, the bar {key[0]} {key[1]} is gone from the table: a MERGE never deletes a bar"
    for key in sorted(bars.keys() - expected.keys()):
        return f"after {_LOADS[step]}, the table holds a bar {key[0]} {key[1]} that no raw file has"
    for key in sorted(expected):
        for column, got, want in zip((*_BAR_VALUES, "RAW_KEY"), bars[key], expected[key], strict=True):
            if got != want:
                return (
                    f"after {_LOADS[step]}, the bar {key[0]} {key[1]} has {column} {got!r} where its raw file says "
                    f"{want!r}: each column takes the stage's column of the same name"
                )
    return None


def _bars_step_mistake(step: int, count: int, bars: dict[tuple[str, str], tuple[Any, ...]]) -> str | None:
    """What the table must hold after each load of `_bars_mistake`, and the mistake when it does not."""
    a44, b44 = bars.get(("A", "14:44")), bars.get(("B", "14:44"))
    if step == 0:
        return _first_load_mistake(count)
    if step in (1, 2):
        mistake = _key_mistake_of_bars(step, count, len(bars), a44, b44)
        if mistake or step == 1:
            return mistake
        return _next_file_mistake(count, a44)
    if step == 5 and a44 is not None and a44[0] != 37.90:
        return (
            "a later raw file that changed only OPEN was not applied: a condition that skips bars whose CLOSE or "
            "VOLUME did not change misses the other columns; update whenever s.RAW_KEY >= t.RAW_KEY"
        )
    if step == 6 and a44 is not None and not a44[5].endswith("1448.csv"):
        return (
            "a later raw file with the same values did not advance RAW_KEY: a condition that skips unchanged bars "
            "keeps the older RAW_KEY, so a fixed replay of that older file would then overwrite the bar; update "
            "whenever s.RAW_KEY >= t.RAW_KEY"
        )
    if a44 is not None and a44[3] != 37.97:
        if step == 3:
            return (
                "a raw file processed again (after a fix) must update its own bars: a guard with > refuses its own "
                "raw key, compare with >="
            )
        return "a replay of an older raw file undid a later one: update only WHEN MATCHED AND s.RAW_KEY >= t.RAW_KEY"
    return None


def _first_load_mistake(count: int) -> str | None:
    if count == 3:
        return None
    if not count:
        return "the first file's bars are never inserted: add WHEN NOT MATCHED THEN INSERT"
    return "the first file holds three bars and the table did not get three rows: match on (SYMBOL, TS)"


def _key_mistake_of_bars(step: int, count: int, keys: int, a44: Any, b44: Any) -> str | None:
    """After the same file again (step 1) and the next file (step 2): a key that lets rows double or collide."""
    if count != 3 + 2 * (step == 2) and count > keys:
        return (
            "processing the same raw file twice (a redelivered event) added its bars again: a plain INSERT does, so "
            "does a MERGE whose ON misses a key field; match on (SYMBOL, TS)"
        )
    if b44 is None or b44[3] != 101.5:
        return (
            "a bar of one stock overwrote another stock's bar of the same minute: match on SYMBOL and TS, not TS alone"
        )
    if a44 is not None and a44[3] not in (37.93, 37.96):
        return (
            "a bar of one minute overwrote the same stock's bar of another minute: match on SYMBOL and TS, not "
            "SYMBOL alone"
        )
    return None


_NEXT_A44 = (37.94, 37.99, 37.92, 37.96, 1947)  # A's 14:44 bar as the next raw file has it


def _next_file_mistake(count: int, a44: Any) -> str | None:
    if count != 5:
        return "two minutes of one stock are two bars: match on SYMBOL and TS, not SYMBOL alone"
    if a44 is None:
        return None
    if a44[3] != _NEXT_A44[3]:
        return "the next raw file's final version of a bar did not update it: WHEN MATCHED ... THEN UPDATE"
    kept = [c for c, v, w in zip(_BAR_VALUES, a44[:5], _NEXT_A44, strict=True) if v != w]
    if kept:
        return (
            f"the updated bar kept its old {kept[0]}: a later raw file replaces the whole bar, so update every value "
            "column (OPEN, HIGH, LOW, CLOSE, VOLUME)"
        )
    if not a44[5].endswith("1446.csv"):
        return (
            "the updated bar kept the older RAW_KEY, so a replay of the older file would undo it: set RAW_KEY with "
            "the values"
        )
    return None


@exercise("05.bars_merge", "the stock bars' MERGE of BARS_STAGE into BARS_1M on (SYMBOL, TS), replay-safe by RAW_KEY")
def _bars_merge(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str):
        raise NotYet(
            "the checker runs your statement on a test table and the chapter on the local Snowflake: write it as the "
            'text of the SQL, "MERGE INTO BARS_1M AS t USING BARS_STAGE AS s ON ...".'
        )
    mistake = _bars_mistake(answer)
    if mistake:
        raise NotYet(f"run on a test table, your statement breaks a rule: {mistake}.")
    return "one row per (SYMBOL, TS) however often a file is loaded; a later raw file wins, an older one never does."


YOUR_TABLE = "BARS_1M_YOURS"


def _your_sink(settings: Any, statement: str) -> Any:
    """The pipeline's Snowflake sink, sending `statement` instead of its own MERGE: BARS_1M is a table of the
    learner's own (YOUR_TABLE, beside the real one), BARS_STAGE the raw file's rows bound as one JSON document."""
    import re

    from pipeline.sinks.snowflake.configuration import SnowflakeCredentials
    from pipeline.sinks.snowflake.loader import SnowflakeSink, source_sql

    credentials = SnowflakeCredentials.from_settings(settings).model_copy(update={"table": YOUR_TABLE})

    class YourMergeSink(SnowflakeSink):
        def execute(self, cursor: Any, sql: str, params: Any = None) -> Any:
            if sql.startswith("MERGE"):
                yours = unqualified_set_targets(statement.strip().rstrip(";"))  # fakesnow runs it on DuckDB
                sql = re.sub(rf"\b{BARS_STAGE}\b", f"({source_sql()})", yours, flags=re.I)
                sql = re.sub(rf"\b{BARS_TABLE}\b", self.table, sql, flags=re.I)
            return super().execute(cursor, sql, params)

    return YourMergeSink(credentials)


def load_with_your_merge(settings: Any, statement: str, first: Any, last: Any) -> dict[str, int]:
    """Process the stock raw objects of the minutes `first`..`last` with `statement` as the sink's MERGE, into a
    fresh table of the learner's own; then process the first minute again (a redelivered event). Counts of what
    was loaded and what the table holds, and how many of its bars differ from the pipeline's own table."""
    from datetime import timedelta

    from pipeline import aws
    from pipeline.contracts import Event, parse_raw_key, raw_key
    from pipeline.process import process_event
    from pipeline.sinks.snowflake.loader import SnowflakeSink

    s3 = aws.client("s3", settings)
    sink = _your_sink(settings, statement)
    sink.run("could not drop your table", lambda cursor: cursor.execute(f"DROP TABLE IF EXISTS {sink.table}"))
    minutes = int((last - first) / timedelta(minutes=1)) + 1
    keys = [raw_key("yahoo_finance", first + timedelta(minutes=m)) for m in range(minutes)]

    def process(key: str) -> int:
        _, minute = parse_raw_key(key)
        event = Event(bucket=settings.bucket, key=key, source="yahoo_finance", scheduled_at=minute.isoformat(), rows=0)
        return process_event(event, s3=s3, sink=sink).loaded

    loaded = sum(process(key) for key in keys)
    count = f"SELECT COUNT(*), COUNT(DISTINCT (SYMBOL, TS)) FROM {sink.table}"  # noqa: S608
    rows, distinct = sink.run("could not count", lambda cursor: cursor.execute(count).fetchone())
    again = process(keys[0])
    rows_again, distinct_again = sink.run("could not count", lambda cursor: cursor.execute(count).fetchone())
    theirs = SnowflakeSink.from_settings(settings).table
    differ = (
        f"SELECT COUNT(*) FROM {sink.table} AS y JOIN {theirs} AS p ON y.SYMBOL = p.SYMBOL AND y.TS = p.TS "  # noqa: S608
        "WHERE y.CLOSE <> p.CLOSE OR y.VOLUME <> p.VOLUME OR y.RAW_KEY <> p.RAW_KEY"
    )
    (different,) = sink.run("could not compare", lambda cursor: cursor.execute(differ).fetchone())
    return {
        "raw objects": len(keys), "rows loaded": loaded, "bars in your table": rows, "distinct (symbol, ts)": distinct,
        "rows loaded again (first minute)": again, "bars after it": rows_again,
        "distinct after it": distinct_again, "bars unlike the pipeline's table": different,
    }  # fmt: skip
