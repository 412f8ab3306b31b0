"""The CoinMarketCap sink: one Parquet object per raw object, `processed/coinmarketcap/YYYY/MM/DD/HHMM.parquet`.

The object key is derived 1:1 from the raw key, so loading the same raw object again overwrites the same object
with the same rows: idempotent by construction. The object is built in memory and written with one PUT, so a
batch that cannot be converted leaves nothing behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws import is_not_found, list_objects
from pipeline.constants import PROCESSED_PREFIX, SourceId
from pipeline.contracts import ContractError, processed_key
from pipeline.errors import classify_botocore, one_line
from pipeline.schemas import Coin
from pipeline.settings import Settings
from pipeline.sinks.base import (
    Check,
    SinkError,
    SinkRejected,
    StoredRow,
    check_rows,
    column_refusals,
    finite,
    integer_bits,
    sink_error,
    text,
)
from pipeline.sinks.s3parquet.configuration import ParquetConfig

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

SCHEMA: Final = pa.schema(
    [
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("price_usd", pa.float64(), nullable=False),
        pa.field("change_1h_pct", pa.float64()),
        pa.field("change_24h_pct", pa.float64()),
        pa.field("change_7d_pct", pa.float64()),
        pa.field("market_cap_usd", pa.float64()),
        pa.field("volume_24h_usd", pa.float64()),
        pa.field("circulating_supply", pa.float64()),
        pa.field("coin_id", pa.int64()),
        pa.field("last_updated", TIMESTAMP),
        pa.field("scheduled_at", TIMESTAMP, nullable=False),
        pa.field("raw_key", pa.string(), nullable=False),
        pa.field("loaded_at", TIMESTAMP, nullable=False),
    ]
)
_COIN_FIELDS: Final = [f.name for f in SCHEMA if f.name not in ("raw_key", "loaded_at")]

# What each column can hold, checked before the table is built: one value Arrow refuses (a rank beyond int32)
# would otherwise refuse the whole table, and a non-finite double is not a price.
VALUE_CHECKS: Final[dict[str, Check]] = {
    "rank": integer_bits(32),
    "coin_id": integer_bits(64),
    "name": text(),
    "symbol": text(),
    **{f.name: finite for f in SCHEMA if pa.types.is_floating(f.type)},
}


def to_table(rows: Sequence[Coin], raw_key: str, loaded_at: datetime) -> pa.Table:
    """The typed Arrow table of one raw object's coins (a value of the wrong type is an error, never coerced)."""
    columns: dict[str, list[Any]] = {name: [getattr(row, name) for row in rows] for name in _COIN_FIELDS}
    columns["raw_key"] = [raw_key] * len(rows)
    columns["loaded_at"] = [loaded_at] * len(rows)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class ParquetSink:
    source: SourceId = "coinmarketcap"

    def __init__(self, s3: Any, config: ParquetConfig) -> None:
        self.s3 = s3
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings, *, s3: Any = None, **_: Any) -> ParquetSink:
        if s3 is None:
            from pipeline.aws import client

            s3 = client("s3", settings)
        return cls(s3, ParquetConfig.from_settings(settings))

    def where(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{key}"

    def refusals(self, rows: Sequence[Any]) -> dict[int, str]:
        """The coins the Parquet schema cannot hold (see `VALUE_CHECKS`), by index, with the reason."""
        return column_refusals(rows, Coin, VALUE_CHECKS)

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        """One Parquet object for the raw object's coins. Rows Arrow refuses (`ArrowInvalid`, an overflow) are
        `SinkRejected` before anything is written; S3 failures are classified by `classify_botocore`."""
        try:
            key = processed_key(raw_key)
        except ContractError as exc:
            raise SinkRejected(f"parquet sink: {exc}") from None
        check_rows(rows, Coin, f"{self.where(key)}: from {raw_key}", VALUE_CHECKS)
        try:
            table = to_table(rows, raw_key, datetime.now(UTC))
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression=self.config.compression)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            message = f"{self.where(key)}: rows from {raw_key} do not fit the schema: {one_line(exc)}"
            raise SinkRejected(message) from None
        try:
            self.s3.put_object(
                Bucket=self.config.bucket,
                Key=key,
                Body=buffer.getvalue(),
                ContentType="application/vnd.apache.parquet",
            )
        except (BotoCoreError, ClientError) as exc:
            message = f"{self.where(key)}: could not write the object: {one_line(exc)}"
            raise sink_error(message, classify_botocore(exc)) from None
        return int(table.num_rows)

    def read(self, raw_key: str) -> pa.Table | None:
        """The processed object of a raw key, or None if there is none."""
        return self._read(processed_key(raw_key))

    def _read(self, key: str) -> pa.Table | None:
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise SinkError(f"{self.where(key)}: could not read the object: {one_line(exc)}") from None
        except BotoCoreError as exc:
            raise SinkError(f"{self.where(key)}: could not read the object: {one_line(exc)}") from None
        return pq.read_table(io.BytesIO(body))

    def processed_keys(self, first_raw_key: str, last_raw_key: str) -> list[str]:
        """The processed objects derived from a raw key in [first_raw_key, last_raw_key], oldest first."""
        first, last = processed_key(first_raw_key), processed_key(last_raw_key)
        prefix = f"{PROCESSED_PREFIX}/{self.source}/"
        keys: list[str] = []
        try:
            for item in list_objects(self.s3, self.config.bucket, prefix, first):
                if item["Key"] > last:  # listed in key order: nothing after this is in the window
                    return keys
                if item["Key"] >= first:
                    keys.append(item["Key"])
        except (BotoCoreError, ClientError) as exc:
            raise SinkError(f"s3://{self.config.bucket}/{prefix}: could not list: {one_line(exc)}") from None
        return keys

    def tables(self, first_raw_key: str, last_raw_key: str) -> dict[str, pa.Table]:
        """The processed objects of the raw keys in [first_raw_key, last_raw_key], by processed key."""
        tables = {key: self._read(key) for key in self.processed_keys(first_raw_key, last_raw_key)}
        return {key: table for key, table in tables.items() if table is not None}

    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredRow]:
        """The coins of every raw key in [first_raw_key, last_raw_key], from its minute object or its day's
        compacted file alike (`pipeline.sinks.s3parquet.dataset`: each minute once, its latest write).

        The natural key is (processed object, symbol), the processed object derived 1:1 from the row's raw key.
        """
        from pipeline.sinks.s3parquet.dataset import ProcessedDataset

        table = ProcessedDataset(self.s3, self.config.bucket).read(first_raw_key, last_raw_key, columns=["symbol"])
        if table is None:
            return []
        return [
            StoredRow((processed_key(str(row_raw_key)), symbol), str(row_raw_key))
            for symbol, row_raw_key in zip(
                table.column("symbol").to_pylist(), table.column("raw_key").to_pylist(), strict=True
            )
        ]

    def close(self) -> None:
        """Nothing to release: the S3 client is shared."""
