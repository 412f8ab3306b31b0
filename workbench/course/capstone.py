"""The capstone (notebooks/09_capstone.ipynb): a fourth source, US Treasury par yields, added end to end.

The learner writes the source's parser, its row model, its declaration's natural key, its sink's upsert and its
queue's subscription filter policy; this module gives what a real source would find already there: the simulated
feed, a SQLite table for the sink, the three entry points a contributor copies into `pipeline/handlers/`, the wiring
of a queue on the local stack and a run of scheduled minutes. The checkers are in `chapter09`.

Nothing here is imported by `pipeline`: the fourth source is declared at run time with `declare` (the registry's
`registered`, and its entry points set on the handler modules), as `tests/registry/test_fourth_source.py` does, and
forgotten with `forget`.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import registry
from pipeline.contracts import iso, to_utc
from pipeline.handlers import SQS_DEDUPLICATION_ID, callable_outside_lambda
from pipeline.handlers import ingest as ingest_handlers
from pipeline.handlers import process as process_handlers
from pipeline.handlers import redrive as redrive_handlers
from pipeline.registry import SourceSpec

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.sinks.base import StoredRow
    from workbench.local.runtime import RunReport
    from workbench.local.servers import LocalStack

ID: Final = "treasury_yields"
COLUMNS: Final = ("tenor", "yield_pct", "quote_ts")
TENORS: Final = ("1M", "3M", "6M", "1Y", "2Y", "5Y", "10Y", "20Y", "30Y")
# Where each tenor's yield sits (percent): a curve that dips from the bills to the 2-year and rises to the 30-year.
LEVELS: Final = {"1M": 4.52, "3M": 4.47, "6M": 4.38, "1Y": 4.21, "2Y": 4.05, "5Y": 4.02, "10Y": 4.31,
                 "20Y": 4.62, "30Y": 4.55}  # fmt: skip
UNPUBLISHED_EVERY: Final = 5  # the 20Y is quoted "N/A" every 5th minute: the feed's own way of saying "no quote"
PUBLISHED_BEFORE: Final = timedelta(seconds=20)  # the curve of a minute is published 20 s before it
TABLE: Final = "treasury_yields"  # the sink's table, in the local stack's SQLite file (the SQL Server stand-in)


# ---------------------------------------------------------------------------------------------------------
# The simulated feed
# ---------------------------------------------------------------------------------------------------------
def treasury_feed(seed: int, scheduled_at: datetime) -> dict[str, Any]:
    """The par yield curve a Treasury-like service would answer for the scheduled minute, as JSON: the time it was
    published (`as_of`, ISO 8601, 20 s before the minute) and one quote per tenor, each yield as text in percent,
    "N/A" where the service has none. Deterministic from the seed and the minute, as every simulated twin is."""
    minute = to_utc(scheduled_at).replace(second=0, microsecond=0)
    day_minute = minute.hour * 60 + minute.minute
    drift = 0.04 * math.sin(2 * math.pi * day_minute / 390)
    curve = []
    for tenor, level in LEVELS.items():
        noise = random.Random(f"{seed}/{iso(minute)}/{tenor}").gauss(0, 0.004)
        value = f"{level + drift + noise:.3f}"
        if tenor == "20Y" and day_minute % UNPUBLISHED_EVERY == UNPUBLISHED_EVERY - 1:
            value = "N/A"
        curve.append({"tenor": tenor, "yield": value})
    return {"as_of": iso(minute - PUBLISHED_BEFORE), "record_date": f"{minute:%Y-%m-%d}", "curve": curve}


def feed_minutes(first: datetime | str, count: int, seed: int = 42) -> list[tuple[datetime, dict[str, Any]]]:
    """(scheduled minute, payload) for `count` minutes from `first`."""
    start = to_utc(first)
    return [(start + timedelta(minutes=n), treasury_feed(seed, start + timedelta(minutes=n))) for n in range(count)]


# ---------------------------------------------------------------------------------------------------------
# Declaring the source for this process (the notebook's kernel)
# ---------------------------------------------------------------------------------------------------------
_declared = ExitStack()


def spec(**fields: Any) -> SourceSpec:
    """The fourth source's declaration: the notebook's modules by default (`__main__`, the kernel's namespace),
    then `fields` (natural_key, natural_time, row_model, sink...)."""
    defaults: dict[str, Any] = {
        "id": ID,
        "module": "__main__",
        "columns": COLUMNS,
        "row_model": "__main__:Yield",
        "natural_key": ("tenor", "quote_ts"),
        "natural_time": "quote_ts",
        "sink": "__main__:TreasurySink",
        "sink_label": "SQLite yields",
        "ingest_extras": ("openexchangerates",),  # what its fetch needs: nothing beyond the shared base
        "process_extras": ("sqlserver",),  # SQLAlchemy, as the rates' sink
        "market": "24/7",
        "description": "US Treasury par yields (the course's capstone)",
    }
    return SourceSpec(**(defaults | fields))


# The three entry points a contributor adds to pipeline/handlers/ingest.py, process.py and redrive.py (a copy of
# another source's, with the id changed); `declare` sets them on those modules for this process only.
@callable_outside_lambda
@ingest_handlers.logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def ingest_entry_point(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The ingest function of treasury_yields (Handler: pipeline.handlers.ingest.treasury_yields)."""
    return ingest_handlers.ingest_scheduled_minute(ID, event)


@callable_outside_lambda
@process_handlers.logger.inject_lambda_context(correlation_id_path=SQS_DEDUPLICATION_ID)
def process_entry_point(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The process function of treasury_yields (Handler: pipeline.handlers.process.treasury_yields)."""
    return process_handlers.process_batch(ID, event, context)


@callable_outside_lambda
@redrive_handlers.logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def redrive_entry_point(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The redrive function of treasury_yields (Handler: pipeline.handlers.redrive.treasury_yields)."""
    return redrive_handlers.redrive_when_healthy(ID)


ENTRY_POINTS: Final = {ingest_handlers: ingest_entry_point, process_handlers: process_entry_point,
                       redrive_handlers: redrive_entry_point}  # fmt: skip


def _without_entry_points() -> None:
    for module in ENTRY_POINTS:
        if hasattr(module, ID):
            delattr(module, ID)


def declare(declaration: SourceSpec) -> SourceSpec:
    """Declare the source in the registry of this process until `forget` (a notebook cell run again replaces its
    earlier declaration instead of being refused as "declared twice"), with its three entry points on the handler
    modules. The handlers' cached sinks are dropped."""
    from pipeline import clients

    forget()
    _declared.enter_context(registry.registered(declaration))
    for module, handler in ENTRY_POINTS.items():
        setattr(module, ID, handler)
    _declared.callback(_without_entry_points)
    clients.sink.cache_clear()
    return declaration


def forget() -> None:
    """Undeclare what `declare` declared."""
    _declared.close()


# ---------------------------------------------------------------------------------------------------------
# The sink: a table in the local stack's SQLite file, loaded with the learner's upsert
# ---------------------------------------------------------------------------------------------------------
CREATE_TABLE: Final = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (tenor VARCHAR(8) NOT NULL, quote_ts DATETIME NOT NULL, "
    "yield_pct FLOAT NOT NULL, raw_key VARCHAR(256) NOT NULL, loaded_at DATETIME NOT NULL, "
    "PRIMARY KEY (tenor, quote_ts))"
)


class YieldSink:
    """The yields' sink: the table `treasury_yields` in the SQLite file that stands in for SQL Server locally.

    A subclass sets `upsert`: one statement with the named parameters :tenor, :quote_ts, :yield_pct, :raw_key and
    :loaded_at, run once per row of a raw object, all in one transaction. Times are stored as UTC text
    (`YYYY-MM-DD HH:MM:SS`), so they sort and compare as times. It is the local stand-in's sink: against SQL Server
    the statement would be a `MERGE ... WITH (HOLDLOCK)`, as the rates' sink sends (pipeline/sinks/sqlserver).
    """

    source = ID
    upsert: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url)

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> YieldSink:
        from pipeline.sinks.sqlserver.configuration import SqlServerConfig

        return cls(SqlServerConfig.from_settings(settings).sa_url.render_as_string(hide_password=False))

    @staticmethod
    def value_checks() -> dict[str, Any]:
        from pipeline.sinks.base import finite, text, timestamp

        years = timestamp(datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
        return {"tenor": text(8), "yield_pct": finite, "quote_ts": years}

    def refusals(self, rows: Sequence[Any]) -> dict[int, str]:
        from pipeline.sinks.base import column_refusals

        return column_refusals(rows, registry.get(self.source).model(), self.value_checks())

    def load(self, rows: Sequence[Any], raw_key: str) -> int:
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError

        from pipeline.errors import classify_sqlalchemy, one_line
        from pipeline.sinks.base import batch_params, sink_error

        declared = registry.get(self.source)
        params = batch_params(
            rows, declared.model(), raw_key, TABLE, key=declared.row_key, to_params=yield_params,
            columns=self.value_checks(),
        )  # fmt: skip
        if not params:
            return 0
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.text(CREATE_TABLE))
                connection.execute(sa.text(self.upsert), params)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise sink_error(
                f"{TABLE}: could not load {raw_key}: {one_line(cause)}", classify_sqlalchemy(exc)
            ) from None
        return len(params)

    def stored_rows(
        self, first_raw_key: str, last_raw_key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredRow]:
        """The rows loaded from raw keys in [first_raw_key, last_raw_key], keyed as the declaration's natural key."""
        import sqlalchemy as sa

        from pipeline.sinks.base import StoredRow

        key = registry.get(self.source).natural_key
        query = sa.text(f"SELECT tenor, quote_ts, yield_pct, raw_key FROM {TABLE} WHERE raw_key BETWEEN :a AND :b")  # noqa: S608
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(TABLE):
                return []
            found = connection.execute(query, {"a": first_raw_key, "b": last_raw_key}).mappings().all()
        stored = []
        for row in found:
            values = {"tenor": row["tenor"], "quote_ts": to_utc(str(row["quote_ts"])), "yield_pct": row["yield_pct"]}
            stored.append(StoredRow(tuple(values[name] for name in key), row["raw_key"]))
        return stored

    def rows(self) -> list[dict[str, Any]]:
        """Every row of the table, oldest quote first (for the notebook to show)."""
        import sqlalchemy as sa

        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(TABLE):
                return []
            query = sa.text(f"SELECT * FROM {TABLE} ORDER BY quote_ts, tenor")  # noqa: S608
            return [dict(r) for r in connection.execute(query).mappings().all()]

    def close(self) -> None:
        self.engine.dispose()


def db_time(value: datetime) -> str:
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def yield_params(row: Any, raw_key: str, loaded_at: datetime) -> dict[str, Any]:
    return {"tenor": row.tenor, "quote_ts": db_time(row.quote_ts), "yield_pct": float(row.yield_pct),
            "raw_key": raw_key, "loaded_at": db_time(loaded_at)}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Wiring its queue on the local stack, and running it
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wiring:
    queue_url: str
    dead_letter_queue_url: str
    subscription_arn: str
    filter_policy: dict[str, Any]


def wire(stack: LocalStack, filter_policy: Mapping[str, Any] | str) -> Wiring:
    """What the template would create for the source on the local stack: its FIFO queue and dead-letter queue (the
    attributes of the first source's, maxReceiveCount included) and the topic's subscription to the queue, raw
    delivery, filtered by `filter_policy`. Run again, it keeps the queues and sets the policy anew."""
    from pipeline import aws

    policy = json.loads(filter_policy) if isinstance(filter_policy, str) else dict(filter_policy)
    settings = stack.settings()
    sqs, sns = aws.client("sqs", settings), aws.client("sns", settings)
    model_source = registry.source_ids()[0]
    model_queue = sqs.get_queue_attributes(QueueUrl=stack.queues[model_source], AttributeNames=["All"])["Attributes"]
    copied: dict[Any, str] = {k: v for k, v in model_queue.items() if k in ("FifoQueue", "ContentBasedDeduplication",
                                                            "VisibilityTimeout", "MessageRetentionPeriod")}  # fmt: skip
    dlq_url = sqs.create_queue(QueueName=f"{ID}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    max_receives = json.loads(model_queue["RedrivePolicy"])["maxReceiveCount"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    url = sqs.create_queue(QueueName=f"{ID}.fifo", Attributes=copied)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": redrive})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=settings.topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(policy)},
    )["SubscriptionArn"]  # fmt: skip
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
    )
    return Wiring(url, dlq_url, subscription, policy)


def unwire(stack: LocalStack, wiring: Wiring) -> None:
    """Undo `wire`: the subscription and both queues deleted (the raw objects and the table's rows stay)."""
    from pipeline import aws

    settings = stack.settings()
    sqs, sns = aws.client("sqs", settings), aws.client("sns", settings)
    sns.unsubscribe(SubscriptionArn=wiring.subscription_arn)
    for url in (wiring.queue_url, wiring.dead_letter_queue_url):
        sqs.delete_queue(QueueUrl=url)


def run_minutes(stack: LocalStack, wiring: Wiring, minutes: int, first: datetime | str) -> RunReport:
    """`minutes` scheduled minutes of the fourth source from `first` through the local runtime: its ingest handler on
    the schedule, the topic, its queue, its process handler in batches, its sink (`workbench.local.runtime`)."""
    from pipeline import aws
    from pipeline.contracts import floor_minute
    from workbench.local.demo import use_stack
    from workbench.local.runtime import LocalRuntime

    settings = use_stack(stack)
    runtime = LocalRuntime(
        aws.client("sqs", settings), {ID: wiring.queue_url}, {ID: wiring.dead_letter_queue_url}, sources=(ID,),
        region=settings.region,
    )  # fmt: skip
    return runtime.run(minutes, floor_minute(to_utc(first)))
