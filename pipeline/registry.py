"""The sources, each declared once.

Everything that differs between sources lives in one `SourceSpec`: its id, the module that fetches and parses it,
its raw columns, its row model, its natural key and natural time, its sink and the sink's label, the pyproject
extras of its two Lambda functions, its schedule and the hours its market is open. The tables that list sources
(sink lookup, `verify`, the deploy's function table and handler strings, the notebooks' lists) are derived from
here, so adding a source is one declaration plus its modules and its three entry points in `pipeline/handlers/`
(see CONTRIBUTING.md).

Importing this module is cheap: models, sinks and sources are named by dotted path and imported on first use, so
a function loads only what its own source needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

COMMON_TAIL: Final = ("status", "error", "scheduled_at", "ingested_at")

Market = Literal["XNYS", "24/7"]


class RegistryError(LookupError):
    """A source that is not declared, or declared in part."""


def resolve(path: str) -> Any:
    """`package.module:Name` -> the object (ImportError or AttributeError when it does not exist)."""
    module, sep, name = path.partition(":")
    if not sep or not name:
        raise ValueError(f"{path!r} is not a `package.module:Name` path")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class SourceSpec:
    """One source, declared once."""

    id: str
    module: str  # fetch, simulated twin and parser: exposes SOURCE (pipeline.sources.base.Source)
    columns: tuple[str, ...]  # the raw columns before the common tail (status, error, scheduled_at, ingested_at)
    row_model: str  # `module:Class` of the pydantic row a success row becomes
    natural_key: tuple[str, ...]  # fields of the row model that identify a row in its sink
    natural_time: str | None  # the row field that places a row in time, if any
    sink: str  # `module:Class` of the sink (a `pipeline.sinks.base.Sink` with `from_settings`)
    sink_label: str  # how reports name the sink
    ingest_extras: tuple[str, ...]  # pyproject extras of the ingest function's layer
    process_extras: tuple[str, ...]  # pyproject extras of the process function's layer
    schedule: str = "rate(1 minute)"  # the EventBridge schedule expression
    market: Market = "24/7"  # XNYS: New York Stock Exchange sessions; 24/7: always open
    keyed_by_object: bool = False  # the sink stores one object per raw object: its key leads the natural key
    skips_minutes: bool = False  # a minute may have no raw object by design (OXR's refresh, Yahoo's look-back)
    added_columns: tuple[str, ...] = ()  # columns added later: raw objects written before them read them as empty
    description: str = ""

    @property
    def raw_columns(self) -> tuple[str, ...]:
        return (*self.columns, *COMMON_TAIL)

    @property
    def sink_module(self) -> str:
        return self.sink.partition(":")[0]

    def model(self) -> type[BaseModel]:
        return resolve(self.row_model)  # type: ignore[no-any-return]

    def sink_class(self) -> Any:
        return resolve(self.sink)

    def source(self) -> Any:
        """The source object (`pipeline.sources.base.Source`) of this id."""
        return import_module(self.module).SOURCE

    def row_key(self, row: Any) -> tuple[Any, ...]:
        """A typed row's natural key within its raw object."""
        return tuple(getattr(row, name) for name in self.natural_key)

    def time_of(self, row: Any) -> Any:
        return getattr(row, self.natural_time) if self.natural_time else None

    def extras(self, kind: str) -> tuple[str, ...]:
        if kind == "ingest":
            return self.ingest_extras
        if kind == "process":
            return self.process_extras
        raise RegistryError(f"unknown function kind {kind!r}: expected ingest or process")


_SOURCES: dict[str, SourceSpec] = {}
# A source id names modules, handlers, queues (SQS: 80 characters with the stack's prefix) and raw keys.
_SOURCE_ID: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")


def register(spec: SourceSpec) -> SourceSpec:
    if spec.id in _SOURCES:
        raise RegistryError(f"source {spec.id!r} is declared twice")
    if not _SOURCE_ID.fullmatch(spec.id):
        raise RegistryError(
            f"source id {spec.id!r}: use lower_snake_case, a-z, 0-9 and _, starting with a letter, at most 40 "
            "characters (it names modules, handlers, queues and raw keys)"
        )
    unknown = [name for name in (*spec.natural_key, spec.natural_time) if name and name not in spec.columns]
    if unknown and not spec.keyed_by_object:
        raise RegistryError(f"source {spec.id!r}: natural key or time {unknown} not among its columns")
    _SOURCES[spec.id] = spec
    return spec


@contextmanager
def registered(spec: SourceSpec) -> Iterator[SourceSpec]:
    """Declare a source for the duration of a block (tests: a fake fourth source)."""
    register(spec)
    try:
        yield spec
    finally:
        _SOURCES.pop(spec.id, None)


def specs() -> tuple[SourceSpec, ...]:
    return tuple(_SOURCES.values())


def source_ids() -> tuple[str, ...]:
    return tuple(_SOURCES)


def get(source: str) -> SourceSpec:
    try:
        return _SOURCES[source]
    except KeyError:
        raise RegistryError(f"unknown source {source!r}: expected one of {', '.join(_SOURCES)}") from None


CMC_COLUMNS: Final = (
    "rank", "name", "symbol", "price_usd", "change_1h_pct", "change_24h_pct", "change_7d_pct",
    "market_cap_usd", "volume_24h_usd", "circulating_supply", "coin_id", "last_updated",
)  # fmt: skip

register(
    SourceSpec(
        id="yahoo_finance",
        module="pipeline.sources.yahoo_finance",
        columns=("symbol", "ts", "open", "high", "low", "close", "volume"),
        row_model="pipeline.schemas:Bar",
        natural_key=("symbol", "ts"),
        natural_time="ts",
        sink="pipeline.sinks.snowflake.loader:SnowflakeSink",
        sink_label="Snowflake bars",
        ingest_extras=("yahoo",),
        process_extras=("snowflake",),
        market="XNYS",
        skips_minutes=True,  # a cool-down, another run's lease; a raw object carries the bars of several minutes
        description="1-minute OHLCV bars of the S&P 500 (yfinance)",
    )
)
register(
    SourceSpec(
        id="coinmarketcap",
        module="pipeline.sources.coinmarketcap",
        columns=(
            "rank",
            "name",
            "symbol",
            "price_usd",
            "change_1h_pct",
            "change_24h_pct",
            "change_7d_pct",
            "market_cap_usd",
            "volume_24h_usd",
            "circulating_supply",
            "coin_id",
            "last_updated",
        ),
        row_model="pipeline.schemas:Coin",
        natural_key=("symbol",),
        natural_time=None,
        sink="pipeline.sinks.s3parquet.loader:ParquetSink",
        sink_label="processed Parquet",
        ingest_extras=("coinmarketcap",),
        process_extras=("parquet",),
        keyed_by_object=True,
        added_columns=("coin_id", "last_updated"),
        description="the top cryptocurrencies (CoinMarketCap's page, or its API with a key)",
    )
)
register(
    SourceSpec(
        id="openexchangerates",
        module="pipeline.sources.openexchangerates",
        columns=("base", "currency", "rate", "rate_ts"),
        row_model="pipeline.schemas:Rate",
        natural_key=("base", "currency", "rate_ts"),
        natural_time="rate_ts",
        sink="pipeline.sinks.sqlserver.loader:SqlServerSink",
        sink_label="SQL Server rates",
        ingest_extras=("openexchangerates",),
        process_extras=("sqlserver",),
        skips_minutes=True,
        description="exchange rates against the US dollar (Open Exchange Rates)",
    )
)
