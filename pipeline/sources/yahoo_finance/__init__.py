"""yahoo_finance: one-minute bars of the stock universe (default the S&P 500), from Yahoo Finance via yfinance.

Window: a scheduled minute T asks for the bars whose start lies in [T - yahoo_lookback_minutes, T) (default one
bar), with `period1`/`period2` on the chart API: never a whole day per call. A window outside the US regular
session (09:30-16:00 America/New_York, weekdays) raises `NothingToIngest` before any request.

Payload (what `fetch` returns, live or simulated, and what `parse` reads) is a `YahooPayload`:

    start, end   the window of bar starts [start, end), UTC
    symbols      the symbols asked for, in universe order (Yahoo spelling: BRK-B)
    bars         a pandas DataFrame, one row per (symbol, bar) as yfinance returned it:
                 symbol, ts (bar start, tz-aware UTC), open, high, low, close, volume
    errors       {symbol: one-line reason} for every symbol whose fetch raised

Live: yfinance sends one chart request per symbol; they run in a thread pool, each `Ticker(symbol).history(
start, end, interval="1m")` with yfinance's exceptions switched on (`yf.config.debug.hide_exceptions = False`)
so a failing symbol raises instead of coming back as an empty frame; `keepna=True` so that a bar of zeros reaches
the checks below instead of vanishing, `rounding=True` so that prices carry the chart's `priceHint` decimals. HTTP
429 (`YFRateLimitError`) is not retried here (yfinance already tries any 4xx once more with its other cookie
strategy): the symbol gets an error row.
Simulated: the same payload from `pipeline.sources.simulator` (a deterministic random walk per symbol and day),
or, with a fault on, yfinance's real requests answered by a simulated Yahoo (`simulated`).

Raw rows (`parse`): one row per (symbol, bar) inside the window. A bar is a `success` row only if it is real and
closed: it ended at least `CLOSED_GRACE` before the fetch, starts on a minute boundary (Yahoo stamps the live,
unfinished minute with the time of its last trade, e.g. 14:30:47), has every price above 0, low <= open, close <=
high and a volume of 0 or more; any other bar is an `error` row that names why, so processing never sees it as
data. A volume Yahoo sent as null beside real prices is missing (yfinance fills it with 0; `NullVolumes` reads
the nulls from the chart answers and puts them back), so that bar is an error row. A value that is not a number
(a string, a boolean, 1e400, a fractional volume or one of 2**63 or more) is made null in the answer before yfinance
reads it, and its bar is an error row naming the field and the value; chart timestamps that are not whole seconds
make one error row for the symbol. A bar Yahoo sends with null
prices, a minute without trades, is no bar and is left out. One `error` row per
symbol that failed or returned no bar in the window, naming why (a delisted symbol's 404 "Not Found" chart body is
such a failure). `ts` is the bar start in UTC.

Yahoo's error answers are named as what they are in the symbol's error row: HTTP 404 "Not Found" (possibly
delisted); HTTP 422 "Unprocessable Entity" for a 1-minute window starting beyond the ~30 days Yahoo keeps (yfinance
raises its description as `YFPricesMissingError`: "1m data not available for startTime=... Only 30 days worth of
1m granularity data are allowed to be fetched per request."); HTTP 429 "Too Many Requests", a plain-text body that
yfinance raises as `YFRateLimitError` (rate limited: the budget's circuit breaker counts it).

Saved payloads (`pipeline parse yahoo_finance FILE`): a chart JSON body as the API returns it (or
`{"status": 404, "body": {...}}`, `{"status": 429, "body": "Too Many Requests"}`, or the 429's plain text itself,
the symbol then taken from a file name like chart_AAPL_...), run through yfinance's own parsing with a
`ReplaySession`, then `parse`; a chart saved mid-session was fetched at its `regularMarketTime` (its last trade),
so its live last minute is no success row.

The package, by file (every source has the same ones): `fetch` (the live fetch through yfinance), `simulated`
(the twin), `parse` (the parser), `budget` (the request budget: rotation, per-minute budget, circuit breaker,
lease, in one state document), `source` (the `Source` the registry names); and its helpers: `payload` (the
payload and shared constants), `answers` (the chart values yfinance would misread), `saved` (saved charts),
`replay` (a requests session answering from recorded or simulated chart bodies), `metrics` (the minute's
figures for CloudWatch), `universe` (the S&P 500 symbols).
"""

from __future__ import annotations

from pipeline.sources.yahoo_finance.fetch import WORKERS, download
from pipeline.sources.yahoo_finance.parse import bar_problem, parse_payload
from pipeline.sources.yahoo_finance.payload import (
    BAR_COLUMNS,
    CLOSED_GRACE,
    PRICE_COLUMNS,
    YahooPayload,
    empty_bars,
    window,
)
from pipeline.sources.yahoo_finance.saved import load_chart, recorded_at
from pipeline.sources.yahoo_finance.simulated import SIMULATED_FETCH_DELAY, simulate, twin_faults
from pipeline.sources.yahoo_finance.source import SOURCE, YahooFinance

__all__ = [
    "BAR_COLUMNS",
    "CLOSED_GRACE",
    "PRICE_COLUMNS",
    "SIMULATED_FETCH_DELAY",
    "SOURCE",
    "WORKERS",
    "YahooFinance",
    "YahooPayload",
    "bar_problem",
    "download",
    "empty_bars",
    "load_chart",
    "parse_payload",
    "recorded_at",
    "simulate",
    "twin_faults",
    "window",
]
