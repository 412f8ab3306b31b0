"""The sources, one folder each. Each is imported only when asked for, so a function loads only its own.

Every source is a package `pipeline/sources/<id>/` of the same modules (`SOURCE_FILES`): `fetch` (the live
fetch), `simulated` (its simulated twin, shipped for `Mode=simulated` but apart from the live code), `parse` (the
parser), `budget` (its budget or state), `source` (the `Source` object), and helpers of its own beside them; its
`__init__` exposes `SOURCE`. Shared by all of them: `base` (the protocol, errors, checks of times), `numbers`
(numbers read from JSON or text), `budget` (the monthly budget primitives) and `simulator` (the simulated market
behind every twin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Final

from pipeline.contracts import check_source, floor_minute
from pipeline.sources.base import (
    NothingToIngest,
    PayloadError,
    Source,
    SourceError,
    UpstreamError,
    UpstreamFailure,
    UpstreamRefused,
)

# The modules of every source folder, beside its __init__ (workbench.declarations checks each declared source).
SOURCE_FILES: Final = ("fetch", "simulated", "parse", "budget", "source")

__all__ = [
    "SOURCE_FILES",
    "NothingToIngest",
    "PayloadError",
    "Source",
    "SourceError",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamRefused",
    "get_source",
    "parse_file",
]


def get_source(source_id: str) -> Source:
    """The source object of a declared source (its module, from `pipeline.registry`, is imported now)."""
    from pipeline.registry import get

    module = import_module(get(check_source(source_id)).module)
    return module.SOURCE  # type: ignore[no-any-return]


def parse_file(
    source_id: str,
    path: str | Path,
    *,
    scheduled_at: datetime | None = None,
    ingested_at: datetime | None = None,
) -> list[dict[str, object]]:
    """The raw rows of a saved payload (`pipeline parse SOURCE FILE`).

    The scheduled minute defaults to the minute the payload itself is of, when its source can tell
    (`saved_at`: a Yahoo chart's last bar, an Open Exchange Rates body's `timestamp`) and it is not in the future,
    else to the current minute; the ingest time defaults to now. So a payload saved last month parses as it would
    have been ingested then, and a payload dated after now is still refused as after its fetch.

    Anything that keeps the file from becoming rows (a missing file, a changed page layout, an error body saved
    from the service) raises `PayloadError` with one line naming the file and the problem.
    """
    source = get_source(source_id)
    path = Path(path)
    if not path.is_file():
        raise PayloadError(f"{path}: no such file")
    now = floor_minute(datetime.now(UTC))
    try:
        payload = source.load_payload(path)
        at = floor_minute(scheduled_at) if scheduled_at is not None else _own_minute(source, payload, now)
        return source.parse(payload, scheduled_at=at, ingested_at=ingested_at or now)
    except PayloadError:
        raise
    except UpstreamFailure as exc:
        raise PayloadError(f"{path}: the saved body is an error answer: {exc}") from exc
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PayloadError(f"{path}: not a {source_id} payload ({type(exc).__name__}: {exc})") from exc


def _own_minute(source: Source, payload: object, now: datetime) -> datetime:
    """The scheduled minute a saved payload belongs to (`saved_at`, a source's optional method), never after now."""
    saved_at = getattr(source, "saved_at", None)
    own = saved_at(payload) if saved_at is not None else None
    return min(floor_minute(own), now) if own is not None else now
