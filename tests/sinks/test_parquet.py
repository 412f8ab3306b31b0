"""The Parquet sink: the processed key mirrors the raw key, and the schema is typed."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from tests.sinks.conftest import s3_client
from tests.sinks.harness import ParquetHarness


def test_the_object_mirrors_the_raw_key_with_a_typed_schema(moto_server):
    harness = ParquetHarness(moto_server)
    harness.sink.load(harness.rows(3), "raw/coinmarketcap/2026/03/02/1530.csv")

    body = (
        s3_client(moto_server.url)
        .get_object(  # type: ignore[attr-defined]
            Bucket=harness.bucket, Key="processed/coinmarketcap/2026/03/02/1530.parquet"
        )["Body"]
        .read()
    )
    table = pq.read_table(io.BytesIO(body))

    assert table.schema.field("rank").type == pa.int32()
    assert table.schema.field("price_usd").type == pa.float64()
    assert table.schema.field("scheduled_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("loaded_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("change_1h_pct").to_pylist() == [0.5, None, 0.5]
    assert set(table.column("raw_key").to_pylist()) == {"raw/coinmarketcap/2026/03/02/1530.csv"}
