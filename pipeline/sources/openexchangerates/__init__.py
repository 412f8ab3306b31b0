"""openexchangerates: the latest US-dollar exchange rates from Open Exchange Rates, without burning the quota.

Payload (what `fetch` returns and `parse` reads): the JSON body of GET https://openexchangerates.org/api/latest.json
as a dict: `{"disclaimer", "license", "timestamp" (epoch s of the rates), "base": "USD", "rates": {code: rate}}`.
An error body `{"error": true, "status", "message", "description"}` raises `UpstreamError` naming `message` and
the HTTP status (never the app id, which comes from `PIPELINE_OXR_APP_ID` or its secret ARN).
Raw rows: one per currency: base, currency, rate, rate_ts (the upstream `timestamp`). A rate that cannot be read
(null, a string, true, 0 or below, 1e400, an object, or two different rates under one code, which json.loads would
silently read as the last) is an error row for its currency naming the rate, never a value; a body whose
`timestamp` lies after the fetch (beyond `MAX_CLOCK_SKEW`), or that names `timestamp`, `base` or `rates` twice
with different values, is refused whole (`parse_body`).

Error bodies are classified: 401 (`missing_app_id`, `invalid_app_id`) and 403 (`not_allowed`,
`access_restricted`: the plan does not allow it, or its quota is spent) raise `UpstreamRefused` (terminal, never
retried, logged as an error worth an alarm); 429 and the rest raise `UpstreamError` (transient).

Quota guard. The free plan allows 1,000 requests a month and refreshes its rates hourly; the pipeline runs every
minute. The source keeps one state document (`StateStore`, name `QUOTA_STATE`: `state/openexchangerates.json`
in the bucket) holding the last body, its upstream `timestamp`, the time of the last call, the month and the
calls made in it, and the minute whose raw object last carried the rates. The decision is made on the wall
clock (`now`: the time of the invocation in live mode; the scheduled minute is the simulated world's clock),
never on the scheduled minute, and the document never moves backwards:

0. a scheduled minute older than the one the document was last written for (Lambda's retry of an asynchronous
   invocation, `pipeline ingest --at`) neither calls nor rewrites it: `NothingToIngest`; a retry of the minute
   that wrote the rates serves them again (same key, same rows);
1. `now < timestamp + oxr_refresh_seconds`: the upstream rates cannot have changed;
2. `now < last_call + retry` (retry = refresh/12, at least a minute): the last call found no newer rates
   (the service publishes a little after the hour), or failed: wait before asking again;
3. `oxr_monthly_quota` > 0 and the calls this month (by the wall clock's month) have reached the month's pace
   (quota x share of the month gone, plus one): wait, so the budget lasts the whole month;
4. otherwise call: the call is claimed in the document first with a conditional write (S3 `If-Match` /
   `If-None-Match`), so of two concurrent invocations only one calls; the other reads the claim and waits.

A minute that does not call (or whose call found the rates already written) writes no raw object and publishes
nothing: it raises `NothingToIngest`, which the ingest reports as skipped, and `verify` counts such minutes as
skipped, not missing. So an hourly plan writes one raw object an hour, not sixty. Once a day (by the wall clock)
`usage.json`, which costs no quota, reconciles the document's count with the service's own.
`quota_report()` shows the budget (calls this month, quota, projected calls at the current refresh) for the demo
and the notebooks.

Simulated: a simulated service whose `timestamp` advances every minute (like a paid plan) with slowly moving
rates from `pipeline.sources.simulator`; the guard runs in simulated mode too, so at the default 3600 s refresh
the simulated service is also called once an hour. `PIPELINE_OXR_SIMULATED_FAULT` makes it answer one of the
documented errors (`missing_app_id`, `invalid_app_id`, `not_allowed`, `access_restricted`, `rate_limited`); its
`usage.json` reports the calls the state document counts.

The package, by file (every source has the same ones): `fetch` (the live service and its error bodies),
`simulated` (the twin), `parse` (the parser), `budget` (the quota guard, on `pipeline.sources.budget`'s
primitives), `source` (the `Source` the registry names).
"""

from __future__ import annotations

from pipeline.sources.base import UpstreamError, UpstreamRefused
from pipeline.sources.openexchangerates.budget import (
    QUOTA_STATE,
    Decision,
    calls_this_month,
    decide,
    guarded_fetch,
    quota_report,
    retry_seconds,
)
from pipeline.sources.openexchangerates.fetch import (
    HISTORICAL_URL,
    LATEST_URL,
    USAGE_URL,
    call_historical,
    call_latest,
    call_usage,
    upstream_error,
)
from pipeline.sources.openexchangerates.parse import parse_body, rate_problem, rates_time
from pipeline.sources.openexchangerates.simulated import (
    DISCLAIMER,
    LICENSE,
    SimulatedService,
    simulate,
    simulate_historical,
)
from pipeline.sources.openexchangerates.source import SOURCE, OpenExchangeRates

__all__ = [
    "DISCLAIMER",
    "HISTORICAL_URL",
    "LATEST_URL",
    "LICENSE",
    "QUOTA_STATE",
    "SOURCE",
    "USAGE_URL",
    "Decision",
    "OpenExchangeRates",
    "SimulatedService",
    "UpstreamError",
    "UpstreamRefused",
    "call_historical",
    "call_latest",
    "call_usage",
    "calls_this_month",
    "decide",
    "guarded_fetch",
    "parse_body",
    "quota_report",
    "rate_problem",
    "rates_time",
    "retry_seconds",
    "simulate",
    "simulate_historical",
    "upstream_error",
]
