"""The text of a learner's MERGE, read before it runs on DuckDB (the checkers of chapter 05): how many statements it
holds, whether it is a MERGE, what Snowflake's MERGE lacks, quoted names in the wrong case, and the SET columns DuckDB
wants bare; then the statement as DuckDB runs it, Snowflake's functions translated the way fakesnow (the local
Snowflake) translates them."""

from __future__ import annotations

import itertools
from typing import Any


def _merge_tokens(sql: str) -> list[Any]:
    from sqlglot.dialects.snowflake import Snowflake
    from sqlglot.errors import TokenError

    try:
        return list(Snowflake().tokenize(sql))
    except TokenError:  # text the tokenizer cannot read: DuckDB then says what is wrong with it
        return []


def _statements(sql: str) -> int:
    """How many statements the text holds: its `;` outside comments and string literals, a trailing one ignored."""
    from sqlglot import TokenType

    tokens = _merge_tokens(sql)
    if not tokens:
        return 1 if sql.strip() else 0
    parts: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            parts.append([])
        else:
            parts[-1].append(token)
    return len([part for part in parts if part])


def _star_action(sql: str) -> str | None:
    """UPDATE SET * or INSERT *, which DuckDB runs and Snowflake's MERGE does not have; the action, or None."""
    from sqlglot import TokenType

    tokens = _merge_tokens(sql)
    for first, second in itertools.pairwise(tokens):
        if second.token_type == TokenType.STAR and first.token_type in (TokenType.SET, TokenType.INSERT):
            return "UPDATE SET *" if first.token_type == TokenType.SET else "INSERT *"
    return None


def _lacked_clause(sql: str, assignment: str) -> str | None:
    """What DuckDB (or another database) has in a MERGE and Snowflake's does not: WHEN NOT MATCHED BY TARGET / BY
    SOURCE, and a tuple assignment UPDATE SET (A, B) = (...); the mistake, or None."""
    from sqlglot import TokenType

    tokens = _merge_tokens(sql)
    texts = [t.text.upper() for t in tokens]
    for i, token in enumerate(tokens):
        if texts[i : i + 4] == ["WHEN", "NOT", "MATCHED", "BY"] and i + 4 < len(texts):
            return (
                f"Snowflake's MERGE has no WHEN NOT MATCHED BY {texts[i + 4]} (SQL Server and DuckDB have it, "
                "Snowflake refuses the statement): a not-matched row is always a row of the source, write WHEN NOT "
                "MATCHED"
            )
        if (
            token.token_type == TokenType.SET
            and tokens[i + 1 : i + 2]
            and tokens[i + 1].token_type == TokenType.L_PAREN
        ):
            return (
                "Snowflake's MERGE has no UPDATE SET (A, B) = (s.A, s.B) (a tuple assignment, which Snowflake and "
                f"the local Snowflake refuse): assign each column on its own, {assignment} and so on"
            )
    return None


def _not_a_merge(sql: str, target: str, stage: str) -> str | None:
    """An answer that holds no statement, or one that neither merges nor inserts (a SELECT, say); the mistake."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    example = f"MERGE INTO {target} AS t USING {stage} AS s ON ... with its WHEN MATCHED and WHEN NOT MATCHED clauses"
    if not _merge_tokens(sql) and not sql.strip():
        return f"your answer holds no statement: write the MERGE, {example}"
    try:
        parsed = sqlglot.parse_one(sql, read="snowflake")
    except ParseError:
        return None  # DuckDB then says what is wrong with it
    if not isinstance(parsed, exp.Merge | exp.Insert):
        return f"your statement is a {parsed.key.upper()}, not a MERGE: write {example}"
    return None


def _as_duckdb(sql: str) -> str:
    """The statement as DuckDB runs it: Snowflake's functions (CURRENT_TIMESTAMP(), SYSDATE(), DATEADD, IFF...)
    translated by sqlglot, as fakesnow does; text sqlglot cannot read is left for DuckDB to refuse."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        translated = sqlglot.transpile(sql, read="snowflake", write="duckdb")
    except SqlglotError:
        return sql
    return translated[0] if len(translated) == 1 else sql


def _quoted_lower_case(sql: str, names: tuple[str, ...]) -> str | None:
    """A quoted identifier naming one of `names` (the tables and columns, upper case) in another case: DuckDB finds
    the column whatever the case, Snowflake does not (a quoted identifier is case-sensitive there)."""
    from sqlglot import TokenType

    for token in _merge_tokens(sql):
        if (
            token.token_type == TokenType.IDENTIFIER
            and token.text.upper() in names
            and token.text != token.text.upper()
        ):
            return str(token.text)
    return None


def _set_qualifiers(sql: str) -> tuple[set[str], list[tuple[str, int, int]]]:
    """The MERGE's target (its table name and alias, lower case), and each qualifier of a column an UPDATE SET
    assigns (t in t.OPEN = ...) with the span of the qualifier and its dot in `sql`."""
    from sqlglot import TokenType

    tokens = _merge_tokens(sql)
    kinds = [t.token_type for t in tokens]
    if TokenType.INTO not in kinds or TokenType.USING not in kinds:
        return set(), []
    into, using = kinds.index(TokenType.INTO), kinds.index(TokenType.USING)
    target = {t.text.lower() for t in tokens[into + 1 : using] if t.token_type not in (TokenType.ALIAS, TokenType.DOT)}
    found: list[tuple[str, int, int]] = []
    in_set, depth = False, 0
    for i, token in enumerate(tokens):
        kind = token.token_type
        if kind in (TokenType.L_PAREN, TokenType.CASE):
            depth += 1
        elif kind in (TokenType.R_PAREN, TokenType.END):
            depth -= 1
        elif kind == TokenType.SET:
            in_set = True
        elif kind == TokenType.WHEN and depth == 0:
            in_set = False
        starts = in_set and depth == 0 and kinds[i - 1] in (TokenType.SET, TokenType.COMMA)
        if starts and kinds[i + 1 : i + 2] == [TokenType.DOT] and kinds[i + 3 : i + 4] == [TokenType.EQ]:
            found.append((token.text, token.start, tokens[i + 1].end + 1))
    return target, found


def unqualified_set_targets(sql: str) -> str:
    """The MERGE with each column its UPDATE SET assigns written without the target's name or alias (t.OPEN =
    becomes OPEN =): Snowflake takes both, DuckDB only the bare name. Only the assigned columns of the SET lists
    change; the values assigned, the ON and the INSERT stay as written."""
    target, found = _set_qualifiers(sql)
    for _, start, end in reversed([q for q in found if q[0].lower() in target]):
        sql = sql[:start] + sql[end:]
    return sql


def merge_text_mistake(sql: str, lands: str, assignment: str, names: tuple[str, ...]) -> tuple[str | None, str]:
    """What the text of a MERGE gets wrong before it runs (more than one statement, what Snowflake's MERGE lacks, a
    quoted name in the wrong case, a SET column of another table); the mistake or None, and the text DuckDB runs."""
    if _statements(sql) > 1:
        return f"one statement, so {lands} all or nothing: a MERGE, not statements run one after the other", sql
    star = _star_action(sql)
    if star is not None:
        return (
            f"Snowflake's MERGE has no {star} (DuckDB has it, Snowflake refuses the statement): name each "
            f"column, {assignment} and so on, and list the inserted columns and their values"
        ), sql
    lacked = _lacked_clause(sql, assignment)
    if lacked is not None:
        return lacked, sql
    not_merge = _not_a_merge(sql, names[0], names[1])
    if not_merge is not None:
        return not_merge, sql
    quoted = _quoted_lower_case(sql, names)
    if quoted is not None:
        return (
            f'"{quoted}" is quoted, and a quoted identifier is case-sensitive in Snowflake: the columns and tables '
            f'are upper case, so Snowflake finds no "{quoted}" (DuckDB ignores the case); write {quoted.upper()}'
        ), sql
    target, found = _set_qualifiers(sql)
    other = [name for name, _, _ in found if name.lower() not in target]
    if other:
        return (
            f"UPDATE SET assigns the target's columns, and {other[0]} is not the target: write {assignment} (or "
            f"t.{assignment}, t the target's alias)"
        ), sql
    return None, _as_duckdb(unqualified_set_targets(sql))


def duplicate_rows(what: str, rows: list[tuple[Any, ...]], row: str, key: str) -> str:
    """The message for a table holding two rows of one natural key (its first two columns) after the load `what`."""
    keys = [(r[0], r[1]) for r in rows]
    twice = next(key for key in keys if keys.count(key) > 1)
    return (
        f"after {what}, the table holds two rows for the {row} {twice[0]} {twice[1]}: a MERGE keeps one row per {key}; "
        "a condition in ON beyond the key (such as the RAW_KEY guard) makes a row that fails it 'not matched', and "
        "it is inserted again: match on the key alone and guard in WHEN MATCHED AND"
    )
