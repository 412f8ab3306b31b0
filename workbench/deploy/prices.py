"""The list prices and the assumptions `workbench.deploy.cost` computes a month's bill with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PRICES_NOTED: Final = "2026-12-01"
PRICES_REGION: Final = "us-east-1"


@dataclass(frozen=True)
class Price:
    unit: str
    usd: float  # per `unit`
    free: float = 0.0  # units a month the free tier covers
    free_tier: str = ""  # which free tier: "always" or "12 months" (new accounts)
    source: str = ""


# us-east-1 list prices as noted on PRICES_NOTED from each service's pricing page (aws.amazon.com/<service>/
# pricing); check them there before relying on a figure.
PRICES: Final[dict[str, Price]] = {
    "lambda_requests": Price("1M requests", 0.20, 1.0, "always", "lambda"),
    "lambda_gb_seconds": Price("GB-second", 0.0000166667, 400_000, "always", "lambda (x86)"),
    "sqs_fifo_requests": Price("1M requests", 0.50, 1.0, "always", "sqs (FIFO; 1M free across all queues)"),
    "sns_fifo_publishes": Price("1M publishes", 0.30, 0.0, "", "sns (FIFO topic, per 64 KB)"),
    "sns_fifo_payload": Price("GB published", 0.017, 0.0, "", "sns (FIFO payload)"),
    "sns_fifo_deliveries": Price("1M deliveries to SQS", 0.01, 0.0, "", "sns (FIFO subscriptions)"),
    "s3_put": Price("1,000 PUT", 0.005, 2.0, "12 months", "s3 (PUT, COPY, POST, LIST)"),
    "s3_get": Price("1,000 GET", 0.0004, 20.0, "12 months", "s3 (GET, HEAD)"),
    "secrets": Price("secret-month", 0.40, 0.0, "", "secretsmanager"),
    "secrets_api": Price("10,000 API calls", 0.05, 0.0, "", "secretsmanager"),
    "logs_ingestion": Price("GB ingested", 0.50, 5.0, "always", "cloudwatch logs (5 GB free)"),
    "alarm_metrics": Price("alarm metric-month", 0.10, 10.0, "always", "cloudwatch (standard resolution)"),
    "custom_metrics": Price("metric-month", 0.30, 10.0, "always", "cloudwatch (metric filters and EMF)"),
    "dashboards": Price("dashboard-month", 3.00, 3.0, "always", "cloudwatch (3 dashboards of up to 50 metrics free)"),
    "kms_requests": Price("10,000 requests", 0.03, 2.0, "always", "kms (AWS managed keys: no monthly fee)"),
}

# The metrics the Yahoo ingest writes each fetched minute in embedded metric format
# (pipeline.sources.yahoo_finance.metrics; one dimension set, service=yahoo_finance): each one a custom metric while
# the ingest runs.
EMF_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "yahoo_finance": (
        "YahooRequests",
        "YahooRateLimited",
        "YahooCoolingDown",
        "YahooErrorRowShare",
        "YahooBars",
        "YahooUnfetched",
    ),
}

# Snowflake: an X-Small warehouse burns 1 credit an hour while running, billed per second with 60 s minimum
# each time it resumes. The price of a credit depends on edition and region: Standard on AWS us-east-1 is $2.
SNOWFLAKE_CREDITS_PER_HOUR: Final = {"X-Small": 1, "Small": 2, "Medium": 4, "Large": 8}
SNOWFLAKE_CREDIT_PRICE: Final = 2.00
SNOWFLAKE_MINIMUM_SECONDS: Final = 60

# Assumptions where nothing was measured (milliseconds per invocation, billed duration). "closed": the yahoo
# ingest outside the market's sessions returns without fetching; "skip": an openexchangerates minute whose
# rates cannot have changed.
ASSUMED_DURATIONS_MS: Final[dict[str, float]] = {
    "ingest-yahoo_finance": 20_000,
    "ingest-yahoo_finance:closed": 300,
    "ingest-coinmarketcap": 2_000,
    "ingest-openexchangerates": 1_000,
    "ingest-openexchangerates:skip": 300,
    "process-yahoo_finance": 5_000,
    "process-coinmarketcap": 1_000,
    "process-openexchangerates": 1_000,
    # A redrive run that finds its dead-letter queue empty: one GetQueueAttributes, no sink built.
    "redrive-yahoo_finance": 300,
    "redrive-coinmarketcap": 300,
    "redrive-openexchangerates": 300,
    # The scheduled compaction: most runs list the processed area and find no finished day to merge; one run a
    # day merges the day's 1,440 minute objects into one file (GETs in parallel, one PUT, DeleteObjects).
    "compact-coinmarketcap": 300,
    "compact-coinmarketcap:day": 30_000,
}
# Further assumptions, stated in the output.
LOG_BYTES_PER_INVOCATION: Final = 1_200  # START/END/REPORT lines and one Powertools JSON line
EVENT_BYTES: Final = 400  # one event on the topic (bucket, key, source, scheduled_at, rows)
ESM_POLLERS: Final = 5  # an SQS event source mapping long-polls with five connections when idle
LONG_POLL_SECONDS: Final = 20
SECRET_REFRESH_SECONDS: Final = 300  # Powertools caches a secret five minutes per execution environment


def charge(key: str, quantity_in_units: float) -> tuple[float, float]:
    price = PRICES[key]
    return quantity_in_units * price.usd, max(0.0, quantity_in_units - price.free) * price.usd
