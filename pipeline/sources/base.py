"""What every source provides, and the errors a source raises."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from pipeline.constants import SourceId
from pipeline.contracts import iso, to_utc
from pipeline.errors import PipelineError, TerminalError, TransientError
from pipeline.settings import Settings
from pipeline.state import StateStore

RawRow = dict[str, Any]

# How far a payload's own time may lie after the fetch before it is refused: clocks of servers disagree by
# seconds, rarely by a minute; a time beyond this is not data of the fetched minute (a wrong clock, a forged body).
MAX_CLOCK_SKEW = timedelta(minutes=3)


# How deep a payload's arrays and objects may nest: real bodies nest a few levels (a chart answer 6, a listing 5); a
# body nested deeper is not one, and reading it would exhaust the interpreter's stack (RecursionError).
MAX_JSON_DEPTH = 64


# What stands for the value of a key one JSON object names twice with different values: `{REPEATED_KEY: [the
# values, in order]}` (plain JSON, so it survives a state document). json.loads would keep the last one silently.
REPEATED_KEY: Final = "\x00repeated key"


def _object_marking_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict: a key repeated with the same value is that value; a key repeated with different
    values is marked ambiguous (`REPEATED_KEY`), never read as the last of them."""
    values: dict[str, list[Any]] = {}
    for key, value in pairs:
        seen = values.setdefault(key, [])
        if all(_json_text(value) != _json_text(other) for other in seen):
            seen.append(value)
    return {key: held[0] if len(held) == 1 else {REPEATED_KEY: held} for key, held in values.items()}


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # 1 and 1.0, or true and 1, are told apart


def repeated_values(value: Any) -> list[Any] | None:
    """The values of a key its object named twice with different values (`read_json(..., mark_repeats=True)`),
    None for any other value."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REPEATED_KEY), list):
        return value[REPEATED_KEY]  # type: ignore[no-any-return]
    return None


def read_json(text: str | bytes, *, mark_repeats: bool = False) -> Any:
    """`json.loads` for a payload: a body nested deeper than `MAX_JSON_DEPTH` ("[" * 100000) is a
    `json.JSONDecodeError` like any other body that is not JSON, never a RecursionError.

    `mark_repeats`: a key an object names twice with different values is read as `{REPEATED_KEY: [values]}`
    (`repeated_values` tells it), for the parser to refuse or to make that instrument's error row."""
    doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
    try:
        value = json.loads(text, object_pairs_hook=_object_marking_repeats if mark_repeats else None)
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", doc, 0) from None
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        node, depth = level.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", doc, 0)
                level.append((child, depth + 1))
    return value


def fetch_time(scheduled_at: datetime, ingested_at: datetime) -> datetime:
    """When a payload was fetched, as far as its parse can tell: the later of the scheduled minute (the simulated
    world's clock, and a minute just asked of the service) and the ingest's wall clock."""
    return max(to_utc(scheduled_at), to_utc(ingested_at))


def after_fetch(when: datetime, fetched: datetime, what: str) -> str | None:
    """Why a time is refused as data (None when it is not): it lies more than `MAX_CLOCK_SKEW` after the fetch."""
    if when > fetched + MAX_CLOCK_SKEW:
        return (
            f"{what} {iso(when)} is after the fetch at {iso(fetched)} (more than "
            f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes of clock skew): not data of this minute"
        )
    return None


def refused_by_model(source_id: SourceId, rows: list[RawRow]) -> list[RawRow]:
    """The rows, each success row the row model refuses turned into an error row whose `error` names the field.

    Every source builds its raw rows through this last step, so a parser never emits a success row that the
    process function would quarantine: a value the parser read but the model refuses (a change of -101%, a
    subnormal price, a control character in a symbol, a currency code of four letters) costs that instrument's
    row in the raw layer, with the model's one line (`describe`), and the other rows stay success rows. Each
    success row is checked as the process function will read it: through the raw CSV, as text. The refused row
    keeps its values as they came (the raw layer keeps content); only its status and error change.
    """
    from pydantic import ValidationError

    from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS
    from pipeline.raw import csv_to_rows, rows_to_csv
    from pipeline.registry import get
    from pipeline.schemas import describe

    model = get(source_id).model()
    try:  # all rows through the CSV at once; one row at a time only when the whole cannot be read back
        as_read: list[dict[str, str] | None] = list(csv_to_rows(source_id, rows_to_csv(source_id, rows)))
    except ValueError:
        as_read = [None] * len(rows)
    if len(as_read) != len(rows):
        as_read = [None] * len(rows)
    out: list[RawRow] = []
    for row, read_back in zip(rows, as_read, strict=True):
        if row.get("status") != STATUS_SUCCESS:
            out.append(row)
            continue
        try:
            (read,) = [read_back] if read_back is not None else csv_to_rows(source_id, rows_to_csv(source_id, [row]))
            model.model_validate(read)
        except ValidationError as exc:
            out.append({**row, "status": STATUS_ERROR, "error": describe(exc)})
            continue
        except ValueError as exc:  # a row the raw CSV cannot carry as one row (a ContractError)
            out.append({**row, "status": STATUS_ERROR, "error": f"row: not one raw CSV row ({exc})"})
            continue
        out.append(row)
    return out


class SourceError(PipelineError):
    """An expected failure of a source, with a one-line message a person can act on."""


class PayloadError(TerminalError, SourceError):
    """A payload that cannot be turned into raw rows (a changed page layout, a malformed body)."""


class UpstreamFailure(SourceError):
    """The service answered with an error, or not at all. Never raised itself: each failure is one of the two
    kinds below, by class; catch this to handle either."""


class UpstreamError(TransientError, UpstreamFailure):
    """The service could not answer now (an HTTP error, a rate limit, a timeout): the next try may succeed."""


class UpstreamRefused(TerminalError, UpstreamFailure):
    """The service refuses the request for what it is (a key or plan it does not accept): never retried."""


class NothingToIngest(Exception):
    """This minute has nothing to fetch (for example the stock market is closed); no raw object is written."""


class Source(Protocol):
    """A source: a live fetch, its simulated twin returning the same payload form, and one parser."""

    id: SourceId

    def fetch(self, settings: Settings, scheduled_at: datetime, state: StateStore | None = None) -> Any:
        """The payload for the scheduled minute: live or simulated, as `settings.mode` says."""
        ...

    def parse(self, payload: Any, *, scheduled_at: datetime, ingested_at: datetime) -> list[RawRow]:
        """Raw rows with the contract columns (`pipeline.registry.get(id).raw_columns`) for this source."""
        ...

    def load_payload(self, path: Path) -> Any:
        """A saved payload (what `fetch` returns, as a file) for `pipeline parse`."""
        ...

    # Optional: `saved_at(payload) -> datetime | None`, the scheduled minute a saved payload is of (None when it
    # cannot tell); `pipeline parse` uses it when no `--at` is given.
