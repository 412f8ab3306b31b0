"""One harness per sink for the contract tests: build the sink on an isolated dataset, make typed rows for it,
read back what it holds, and take its server down and up again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pyarrow.parquet as pq
import sqlalchemy as sa
from botocore.config import Config

from pipeline.contracts import processed_key
from pipeline.schemas import Bar, Coin, Rate
from pipeline.settings import Settings
from pipeline.sinks.s3parquet.loader import ParquetSink
from pipeline.sinks.snowflake.loader import SnowflakeSink
from pipeline.sinks.sqlserver.loader import SqlServerSink
from tests.sinks.conftest import FakesnowServer, MotoServer, s3_client

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
INJECTION = "x'); DROP TABLE t;--"


class Harness:
    """What a contract test needs of a sink."""

    source: str
    sink: Any

    def raw_key(self, minute: int = 0) -> str:
        at = T0 + timedelta(minutes=minute)
        return f"raw/{self.source}/{at:%Y/%m/%d/%H%M}.csv"

    def rows(self, n: int, *, first: str = "AAA", price: float = 100.0) -> list[Any]:
        raise NotImplementedError

    def bad_row(self) -> Any:
        """A row of the right type whose value the store refuses (a typed row built without validation)."""
        raise NotImplementedError

    def stored(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Every row the sink holds in this dataset, by natural key (without loaded_at)."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def new_sink(self) -> Any:
        raise NotImplementedError


def currency_code(i: int) -> str:
    """The i-th three-letter code after AAA (AAB, AAC, ...): a rate's currency is three uppercase letters."""
    return "".join(chr(65 + (i // 26**k) % 26) for k in (2, 1, 0))


def names(n: int, first: str) -> list[str]:
    return [first if i == 0 else f"S{i:04d}" for i in range(n)]


class SnowflakeHarness(Harness):
    source = "yahoo_finance"

    def __init__(self, server: FakesnowServer, tmp: Path) -> None:
        self.server = server
        db_path = tmp / "snowflake"
        db_path.mkdir()
        self.settings = Settings(
            snowflake_account="fakesnow", snowflake_user="fakesnow", snowflake_password="fakesnow",
            snowflake_host="127.0.0.1", snowflake_port=server.port, snowflake_protocol="http",
            snowflake_db_path=db_path, snowflake_table=f"BARS_{uuid4().hex[:8].upper()}", snowflake_login_timeout=5,
        )  # fmt: skip
        self.sink = self.new_sink()

    def new_sink(self) -> SnowflakeSink:
        return SnowflakeSink.from_settings(self.settings)

    def rows(self, n: int, *, first: str = "AAA", price: float = 100.0) -> list[Bar]:
        return [
            Bar(symbol=s, ts=T0, open=price, high=price + 1, low=price - 1, close=price, volume=1000 + i)
            for i, s in enumerate(names(n, first))
        ]

    def bad_row(self) -> Bar:
        return Bar.model_construct(symbol="BAD", ts=T0, open=1.0, high=1.0, low=1.0, close=float("inf"), volume=1)

    def stored(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        with self.sink.session() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = ?", (self.sink.credentials.table,)
            )
            if not cursor.fetchone()[0]:
                return {}
            cursor.execute(f"SELECT SYMBOL, TS, OPEN, HIGH, LOW, CLOSE, VOLUME, RAW_KEY FROM {self.sink.table}")
            rows = cursor.fetchall()
        return {
            (r[0], r[1].astimezone(UTC)): {"open": r[2], "high": r[3], "low": r[4], "close": r[5],
                                            "volume": int(r[6]), "raw_key": r[7]}
            for r in rows
        }  # fmt: skip

    def count(self) -> int:
        with self.sink.session() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.sink.table}")
            return int(cursor.fetchone()[0])

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


class SqlServerHarness(Harness):
    source = "openexchangerates"

    def __init__(self, tmp: Path, url: str | None = None) -> None:
        self.folder = tmp / "sqlserver"
        self.folder.mkdir()
        self.url = url or f"sqlite:///{self.folder / 'rates.db'}"
        self.settings = Settings(sqlserver_url=self.url, sqlserver_table=f"fx_rates_{uuid4().hex[:8]}")
        self.sink = self.new_sink()

    def new_sink(self) -> SqlServerSink:
        return SqlServerSink.from_settings(self.settings)

    def rows(self, n: int, *, first: str = "AAA", price: float = 100.0) -> list[Rate]:
        currencies = [first if i == 0 else currency_code(i) for i in range(n)]
        return [Rate(base="USD", currency=c, rate=price + i, rate_ts=T0) for i, c in enumerate(currencies)]

    def bad_row(self) -> Rate:
        return Rate.model_construct(base="USD", currency="BAD", rate=float("inf"), rate_ts=T0)

    def stored(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        table = self.sink.table
        with self.sink.engine.connect() as connection:
            if not sa.inspect(connection).has_table(table.name):
                return {}
            rows = connection.execute(sa.select(table)).mappings().all()
        return {
            (r["base"], r["currency"], r["rate_ts"].replace(tzinfo=UTC)): {"rate": r["rate"], "raw_key": r["raw_key"]}
            for r in rows
        }

    def stop(self) -> None:
        self.sink.engine.dispose()
        shutil.move(self.folder, self.folder.with_name("sqlserver-away"))

    def start(self) -> None:
        shutil.move(self.folder.with_name("sqlserver-away"), self.folder)


class ParquetHarness(Harness):
    source = "coinmarketcap"

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.bucket = f"processed-{uuid4().hex[:12]}"
        s3_client(server.url).create_bucket(Bucket=self.bucket)  # type: ignore[attr-defined]
        self.settings = Settings(bucket=self.bucket, aws_endpoint_url=server.url)
        self.sink = self.new_sink()

    def new_sink(self) -> ParquetSink:
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=self.server.url, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}, connect_timeout=2),
        )  # fmt: skip
        return ParquetSink.from_settings(self.settings, s3=s3)

    def rows(self, n: int, *, first: str = "AAA", price: float = 100.0) -> list[Coin]:
        return [
            Coin(rank=i + 1, name=f"Coin {s}", symbol=s, price_usd=price + i, change_1h_pct=None if i % 2 else 0.5,
                 market_cap_usd=1e9, volume_24h_usd=1e8, circulating_supply=1e7, scheduled_at=T0)
            for i, s in enumerate(names(n, first))
        ]  # fmt: skip

    def bad_row(self) -> Coin:
        return Coin.model_construct(rank="first", name="Bad", symbol="BAD", price_usd=1.0, scheduled_at=T0)

    def stored(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        s3: Any = s3_client(self.server.url)
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                import io

                for row in pq.read_table(io.BytesIO(body)).to_pylist():
                    out[(obj["Key"], row["symbol"])] = {"price_usd": row["price_usd"], "raw_key": row["raw_key"]}
        return out

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


HarnessFactory = Callable[[], Harness]


def natural_key(harness: Harness, row: Any, raw_key: str) -> tuple[Any, ...]:
    if isinstance(row, Bar):
        return (row.symbol, row.ts)
    if isinstance(row, Rate):
        return (row.base, row.currency, row.rate_ts)
    return (processed_key(raw_key), row.symbol)
