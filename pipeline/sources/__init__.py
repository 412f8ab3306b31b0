"""The three sources. Each module is imported only when asked for, so a function loads only its own."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

from pipeline.contracts import check_source, floor_minute
from pipeline.sources.base import NothingToIngest, PayloadError, Source, SourceError, UpstreamError, UpstreamRefused

__all__ = [
    "NothingToIngest",
    "PayloadError",
    "Source",
    "SourceError",
    "UpstreamError",
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
    """The raw rows of a saved payload (`pipeline parse SOURCE FILE`); times default to the current minute.

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
        return source.parse(payload, scheduled_at=scheduled_at or now, ingested_at=ingested_at or now)
    except PayloadError:
        raise
    except UpstreamError as exc:
        raise PayloadError(f"{path}: the saved body is an error answer: {exc}") from exc
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PayloadError(f"{path}: not a {source_id} payload ({type(exc).__name__}: {exc})") from exc
