"""The raw layer: CSV bytes with the contract columns, written to S3 without ever losing rows."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from pipeline import registry
from pipeline.aws import is_not_found
from pipeline.constants import META_ROWS, META_SUCCESS_ROWS, SourceId
from pipeline.contracts import STATUS_ERROR, STATUS_SUCCESS, ContractError

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

# A raw object holds one scheduled minute of one source: a few hundred kilobytes at most (the full stock universe
# with its lookback is about 2 MB). Anything larger is not a raw object this pipeline wrote; it is refused unread.
RAW_OBJECT_MAX_BYTES: Final = 64 * 1024 * 1024
# The csv module refuses a field over 128 KiB by default. A field may be as large as the object itself (the
# object's cap already bounds memory); the reader's limit is set once, to the cap, for every reader in the process.
csv.field_size_limit(RAW_OBJECT_MAX_BYTES)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else ""  # NaN -> empty
    return str(value)


# What makes a spreadsheet read a cell as a formula (also in their full-width forms), and what keeps it a number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def spreadsheet_cell(text: str) -> str:
    """A cell a spreadsheet shows as the text it is: one that would start a formula gets a leading apostrophe.

    Only for CSV written for people (`pipeline parse`): the raw layer keeps every value as it came. A number
    (`-0.5`, `+3`, `-1e-05`) is left alone, so negative changes stay numbers.
    """
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def rows_to_csv(
    source: SourceId,
    rows: Iterable[Mapping[str, Any]],
    *,
    for_people: bool = False,
    carried: Sequence[str] = (),
) -> bytes:
    """UTF-8 CSV with a header: the contract columns first, in order, then the `carried` columns.

    A row holding a field the source does not declare (`registry.get(source).raw_columns`) is a contributor's
    mistake (a misspelt column, a field added to a parser and not to the registry): `RegistryError` naming it,
    never a silent extra column beside an empty declared one. `carried` names the undeclared columns a stored raw
    object already had, which a rewrite of that object keeps (`pipeline backfill` merges rows into an object an
    older release may have written): raw data is never rewritten with less than it had.

    `for_people` neutralises the cells a spreadsheet would execute (`spreadsheet_cell`); the raw layer never does.
    """
    rows = list(rows)
    declared = list(registry.get(source).raw_columns)
    columns = [*declared, *(c for c in dict.fromkeys(carried) if c not in declared)]
    known = set(columns)
    undeclared = list(dict.fromkeys(k for row in rows for k in row if k not in known))
    if undeclared:
        raise registry.RegistryError(
            f"{source} rows hold field(s) its raw columns do not declare: {', '.join(map(repr, undeclared))} "
            f"(declare them in the registry's columns for {source}, or fix the name)"
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    # The writer quotes a cell holding "\n" but not one holding a lone "\r", which a reader takes for a line end:
    # such a row is written with every cell quoted (the same values read back).
    quoted = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for row in rows:
        cells = {k: _cell(row.get(k)) for k in columns}
        out = {k: spreadsheet_cell(v) for k, v in cells.items()} if for_people else cells
        (quoted if any("\r" in v for v in out.values()) else writer).writerow(out)
    return buffer.getvalue().encode("utf-8")


def csv_to_rows(source: SourceId, body: bytes, where: str = "") -> list[dict[str, str]]:
    """The rows of a raw CSV. What the bytes themselves break is a `ContractError` naming the object (and the line):
    a lacking contract column, text that is not UTF-8, a line the csv module cannot read, an object over the cap.
    No retry can change the bytes, so these are terminal."""
    where = where or source
    if len(body) > RAW_OBJECT_MAX_BYTES:
        raise ContractError(f"{where}: {len(body):,} bytes, over the raw object cap of {RAW_OBJECT_MAX_BYTES:,}")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ContractError(f"{where}: line {line}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    spec = registry.get(source)
    try:
        fieldnames = reader.fieldnames or []
        missing = [c for c in spec.raw_columns if c not in fieldnames and c not in spec.added_columns]
        if missing:
            raise ContractError(f"{where}: raw CSV lacks contract column(s) {', '.join(missing)}")
        _check_header(fieldnames, where)
        rows = list(reader)
    except csv.Error as exc:
        raise ContractError(f"{where}: line {reader.line_num + 1}: unreadable CSV ({exc})") from None
    later = [c for c in spec.added_columns if c not in fieldnames]
    for row in rows:  # an object written before a column was added reads it as empty
        row.update(dict.fromkeys(later, ""))
    return rows


def _check_header(fieldnames: Sequence[str], where: str) -> None:
    """A header that names a column twice, or holds a column without a name, leaves the reader to guess which cell
    is which (the later of two `status` columns would silently win): the object cannot be read."""
    seen: set[str] = set()
    for number, name in enumerate(fieldnames, start=1):
        if not name.strip():
            raise ContractError(f"{where}: line 1: column {number} of the header has no name")
        if name in seen:
            raise ContractError(f"{where}: line 1: the header names column {name!r} twice")
        seen.add(name)


def row_problem(row: Mapping[Any, Any]) -> str | None:
    """Why a row of `csv_to_rows` is neither a success row nor an error row (None when it is one): it holds more or
    fewer fields than the header (the csv module puts the surplus under None and fills a shortfall with None), or
    its `status` is another word ("Success", " success", empty). Such a row is quarantined, never skipped."""
    surplus = row.get(None)
    if surplus:
        return f"{len(surplus)} field(s) more than the header"
    short = sum(1 for key, value in row.items() if key is not None and value is None)
    if short:
        return f"{short} field(s) fewer than the header"
    status = row.get("status")
    if status not in (STATUS_SUCCESS, STATUS_ERROR):
        return f"status: {str(status)[:40]!r} is neither {STATUS_SUCCESS!r} nor {STATUS_ERROR!r}"
    return None


def success_rows(rows: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    return [dict(r) for r in rows if r.get("status") == STATUS_SUCCESS]


@dataclass(frozen=True)
class RawObject:
    bucket: str
    key: str
    etag: str
    rows: int
    success_rows: int
    kept_existing: bool = False


def write_raw(
    s3: S3Client,
    bucket: str,
    key: str,
    source: SourceId,
    rows: Sequence[Mapping[str, Any]],
    *,
    carried: Sequence[str] = (),
) -> RawObject:
    """Put the raw CSV at `key`, unless an object already there holds more success rows (then keep it).

    A retry or replay of the same scheduled minute writes the same key; a worse answer (an upstream hiccup that
    returned fewer rows) must never replace a better one. `carried`: undeclared columns of a stored object that a
    rewrite keeps (`rows_to_csv`).
    """
    good = sum(1 for r in rows if r.get("status") == STATUS_SUCCESS)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        head = None
    if head is not None:
        meta = head.get("Metadata", {})
        had = int(meta.get(META_SUCCESS_ROWS, "0"))
        if had > good:
            log.warning("kept %s: it has %d success rows, the new fetch only %d", key, had, good)
            return RawObject(bucket, key, head["ETag"].strip('"'), int(meta.get(META_ROWS, had)), had, True)
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=rows_to_csv(source, rows, carried=carried),
        ContentType="text/csv; charset=utf-8",
        Metadata={META_ROWS: str(len(rows)), META_SUCCESS_ROWS: str(good)},
    )
    return RawObject(bucket, key, response["ETag"].strip('"'), len(rows), good)


def read_raw(s3: S3Client, bucket: str, key: str, source: SourceId) -> list[dict[str, str]]:
    """The rows of a raw object; one over the cap is refused before its body is read (see `csv_to_rows`)."""
    where = f"s3://{bucket}/{key}"
    response = s3.get_object(Bucket=bucket, Key=key)
    size = int(response.get("ContentLength") or 0)
    if size > RAW_OBJECT_MAX_BYTES:
        response["Body"].close()
        raise ContractError(f"{where}: {size:,} bytes, over the raw object cap of {RAW_OBJECT_MAX_BYTES:,}")
    return csv_to_rows(source, response["Body"].read(RAW_OBJECT_MAX_BYTES + 1), where=where)
