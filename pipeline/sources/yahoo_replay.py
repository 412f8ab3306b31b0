"""A requests session that answers Yahoo Finance from recorded chart responses, with no network.

yfinance accepts a `session=` (requests or curl_cffi). Handing it a `ReplaySession` runs all of yfinance's own
code (cookie and crumb handshake, request parameters, timezone lookup, JSON parsing, cleaning) against bodies
recorded from `GET /v8/finance/chart/<SYMBOL>`, the way the real service would answer:

- `fc.yahoo.com` sets the A3 cookie (yfinance keeps it, so later requests skip the handshake, as with Yahoo) and
  `/v1/test/getcrumb` gives a fixed crumb; the consent pages of yfinance's other cookie strategy get a 404;
- `/v8/finance/chart/<SYMBOL>` gets the symbol's recorded body, its bars cut to the request's
  `[period1, period2)` like the service does (a window without bars keeps `meta` and drops the quotes);
- an unknown symbol gets the service's 404 "Not Found" chart body;
- a symbol may be given a list of responses, served in turn (the last one repeats): this is how a test makes
  the service answer 429 Too Many Requests before it answers with data.

`pipeline parse yahoo_finance FILE` uses it to run a saved chart JSON through yfinance, and the tests use it to
exercise the live path. `SimulatedYahoo` answers from the simulated market instead, with Yahoo's faults on
demand (rate limits answered with the plain-text 429, the live tail, late, revised and bad bars, symbols that
answer 404) and, always, Yahoo's HTTP 422 for a 1-minute window starting more than 30 days back: the twin that the
simulated mode, the tests, the soak and the benchmark send yfinance's real requests to.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

NOT_FOUND_BODY: dict[str, Any] = {
    "chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}
}
TOO_MANY_REQUESTS = "Too Many Requests"  # Yahoo's 429 body: plain text, not JSON
HISTORY_DAYS = 30  # how far back Yahoo serves 1-minute bars; a window starting earlier gets HTTP 422


def beyond_history_body(period1: int, period2: int) -> dict[str, Any]:
    """Yahoo's HTTP 422 body for a 1-minute window that starts beyond the history it keeps."""
    return {
        "chart": {
            "result": None,
            "error": {
                "code": "Unprocessable Entity",
                "description": f"1m data not available for startTime={period1} and endTime={period2}. Only "
                f"{HISTORY_DAYS} days worth of 1m granularity data are allowed to be fetched per request.",
            },
        }
    }


CRUMB = "replay-crumb"


@dataclass(frozen=True)
class Recorded:
    """One recorded answer: an HTTP status and a body (a chart JSON object, or text)."""

    body: dict[str, Any] | str
    status: int = 200


@dataclass
class _Script:
    answers: list[Recorded] = field(default_factory=list)

    def next(self) -> Recorded:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def window(body: dict[str, Any], period1: int | None, period2: int | None) -> dict[str, Any]:
    """A chart body with only the bars whose start lies in [period1, period2), as the service answers."""
    try:
        result = body["chart"]["result"][0]
        stamps = result["timestamp"]
    except (KeyError, IndexError, TypeError):
        return body
    if not isinstance(stamps, list) or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in stamps):
        return body  # a recorded answer whose times are not numbers is served as it was recorded
    keep = [i for i, t in enumerate(stamps) if (period1 is None or t >= period1) and (period2 is None or t < period2)]
    if len(keep) == len(stamps):
        return body
    cut = copy.deepcopy(body)
    result = cut["chart"]["result"][0]
    if not keep:
        result.pop("timestamp", None)
        result["indicators"] = {"quote": [{}]}
        return cut
    result["timestamp"] = [stamps[i] for i in keep]
    for series in result.get("indicators", {}).values():
        for block in series:
            for name, values in block.items():
                if isinstance(values, list) and len(values) == len(stamps):
                    block[name] = [values[i] for i in keep]
    return cut


Responder = Callable[[str, str, dict[str, list[str]]], "Recorded | None"]


class _ReplayAdapter(BaseAdapter):
    def __init__(self, charts: Mapping[str, Recorded | Sequence[Recorded]], responder: Responder | None = None) -> None:
        super().__init__()
        self._responder = responder
        self.on_cookie: Callable[[], None] | None = None
        self._scripts = {
            symbol.upper(): _Script([answers] if isinstance(answers, Recorded) else list(answers))
            for symbol, answers in charts.items()
        }
        self._lock = threading.Lock()
        self.seen: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        with self._lock:
            self.seen.append(request.url or "")
            answer = self._route(url.hostname or "", url.path, parse_qs(url.query))
        return _response(request, answer)

    def _route(self, host: str, path: str, query: dict[str, list[str]]) -> Recorded:
        if self._responder is not None and (answer := self._responder(host, path, query)) is not None:
            return answer
        if host == "fc.yahoo.com":
            if self.on_cookie is not None:
                self.on_cookie()
            return Recorded("", 200)
        if path == "/v1/test/getcrumb":
            return Recorded(CRUMB, 200)
        if path.startswith("/v8/finance/chart/"):
            symbol = path.rsplit("/", 1)[-1].upper()
            script = self._scripts.get(symbol)
            if script is None:
                return Recorded(NOT_FOUND_BODY, 404)
            answer = script.next()
            if isinstance(answer.body, dict) and answer.status == 200:
                first, last = query.get("period1"), query.get("period2")
                return Recorded(window(answer.body, int(first[0]) if first else None, int(last[0]) if last else None))
            return answer
        return Recorded({"error": {"code": "Not Found", "description": f"not recorded: {path}"}}, 404)

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, answer: Recorded) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    reasons = {200: "OK", 404: "Not Found", 422: "Unprocessable Entity", 429: "Too Many Requests"}
    response.reason = reasons.get(answer.status, "")
    if isinstance(answer.body, str):
        response._content = answer.body.encode()
        content_type = "text/plain;charset=utf-8"
    else:
        response._content = json.dumps(answer.body).encode()
        content_type = "application/json;charset=utf-8"
    response.headers = CaseInsensitiveDict({"Content-Type": content_type})
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    return response


class ReplaySession(requests.Session):
    """A `requests.Session` whose every request is answered from recorded chart responses."""

    def __init__(
        self, charts: Mapping[str, Recorded | Sequence[Recorded]] | None = None, responder: Responder | None = None
    ) -> None:
        super().__init__()
        self._adapter = _ReplayAdapter(charts or {}, responder)
        self._adapter.on_cookie = self._set_cookie
        self.mount("https://", self._adapter)
        self.mount("http://", self._adapter)

    def _set_cookie(self) -> None:
        """What fc.yahoo.com does: set the A3 cookie (an hour here), which yfinance keeps and reuses."""
        import time

        self.cookies.set("A3", "replay-cookie", domain=".yahoo.com", path="/", expires=int(time.time()) + 3600)

    @property
    def seen(self) -> list[str]:
        """The URLs requested so far, in order."""
        return list(self._adapter.seen)

    def chart_requests(self, symbol: str) -> list[dict[str, list[str]]]:
        """The query parameters of every chart request made for `symbol`."""
        suffix = f"/v8/finance/chart/{symbol.upper()}"
        return [parse_qs(urlsplit(u).query) for u in self._adapter.seen if urlsplit(u).path.upper() == suffix.upper()]


# ---------------------------------------------------------------------------------------------------- the twin


@dataclass(frozen=True)
class Faults:
    """How the simulated Yahoo misbehaves (all off by default).

    rate_limit   answer 429 to every request past this many in one minute of the twin's clock (0: never)
    live_tail    share of chart answers, during a session, that end with the live minute stamped off the minute
    late         share of bars that appear only a minute after they close
    revise       share of bars first served with other values, corrected a minute after they close
    bad          share of bars first served with every price 0 or with high and low swapped, corrected later
    not_found    symbols that answer 404 "Not Found" (delisted)
    """

    rate_limit: int = 0
    live_tail: float = 0.0
    late: float = 0.0
    revise: float = 0.0
    bad: float = 0.0
    not_found: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return bool(self.rate_limit or self.live_tail or self.late or self.revise or self.bad or self.not_found)


FIX_AFTER = 120  # seconds after a bar's start when a late bar appears and a revised or bad one is corrected


class SimulatedYahoo:
    """Yahoo's chart API over the simulated market, as yfinance's requests reach it through a `ReplaySession`.

    `clock()` is the twin's now: bars that have not closed by then are not served (bar the live tail), and the
    rate limit counts requests per minute of it. Which bars are late, revised or bad is drawn per (seed, symbol,
    bar), so every fetch of a bar sees the same fate. `counts` tallies the requests by kind and status.
    """

    def __init__(self, seed: int, population: Sequence[str], faults: Faults, clock: Callable[[], datetime]) -> None:
        self.seed, self.population, self.faults, self.clock = seed, tuple(population), faults, clock
        self._index = {s: i for i, s in enumerate(self.population)}
        self._minute: int | None = None
        self._in_minute = 0
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.per_minute: dict[int, int] = {}

    def session(self) -> ReplaySession:
        return ReplaySession(responder=self.answer)

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def answer(self, host: str, path: str, query: dict[str, list[str]]) -> Recorded | None:
        now = self.clock()
        minute = int(now.timestamp() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._in_minute = minute, 0
            self._in_minute += 1
            self.per_minute[minute] = self.per_minute.get(minute, 0) + 1
            self._count("requests")
            limited = bool(self.faults.rate_limit) and self._in_minute > self.faults.rate_limit
            if limited:
                self._count("429")
        if limited:
            return Recorded(TOO_MANY_REQUESTS, 429)
        if not path.startswith("/v8/finance/chart/"):
            return None  # cookie, crumb, consent pages: the replay's fixed answers
        symbol = path.rsplit("/", 1)[-1].upper()
        if symbol in self.faults.not_found or symbol not in self._index:
            self._count("404")
            return Recorded(NOT_FOUND_BODY, 404)
        first, last = query.get("period1"), query.get("period2")
        if not first or not last:  # a range query (yfinance's timezone lookup): a day's bars
            end = int(now.timestamp())
            return Recorded(self.chart(symbol, end - 86400, end, now))
        if int(first[0]) < now.timestamp() - HISTORY_DAYS * 86400:  # as Yahoo: 1-minute bars only so far back
            self._count("422")
            return Recorded(beyond_history_body(int(first[0]), int(last[0])), 422)
        return Recorded(self.chart(symbol, int(first[0]), int(last[0]), now))

    def _draw(self, symbol: str, stamp: int, what: str) -> float:
        from pipeline.sources.simulator import _key

        return (_key(self.seed, "yahoo-twin", what, symbol, stamp) % 1_000_000) / 1_000_000

    def chart(self, symbol: str, period1: int, period2: int, now: datetime) -> dict[str, Any]:
        """The chart body for bars of `symbol` starting in [period1, period2) as they stand at `now`."""
        from pipeline.sources import simulator

        start = datetime.fromtimestamp(period1, UTC)
        end = min(datetime.fromtimestamp(period2, UTC), now)
        row = self._index[symbol]
        stamps: list[int] = []
        quote: dict[str, list[Any]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
        sessions = simulator.stock_sessions(start, end)
        regular: tuple[int, int] | None = None
        seconds_now = now.timestamp()
        for day, session_open, minutes in sessions:
            bars = simulator.stock_day(self.seed, self.population, day)
            if bars is None:
                continue
            session = simulator.stock_session(day)
            if session is not None:
                regular = (int(session[0].timestamp()), int(session[1].timestamp()))
            for m in range(minutes.start, minutes.stop):
                stamp = int(session_open.timestamp()) + 60 * m
                age = seconds_now - stamp
                if age < 60:
                    continue  # not closed yet
                o, h, lo, c = (float(getattr(bars, k)[row, m]) for k in ("open", "high", "low", "close"))
                v = int(bars.volume[row, m])
                fresh = age < FIX_AFTER
                if fresh and self._draw(symbol, stamp, "late") < self.faults.late:
                    continue
                if fresh and self._draw(symbol, stamp, "revise") < self.faults.revise:
                    c = round(c * 1.003, 2)
                    h, v = max(h, c), int(v * 0.6)
                if fresh and self._draw(symbol, stamp, "bad") < self.faults.bad:
                    if self._draw(symbol, stamp, "bad-kind") < 0.5:
                        o = h = lo = c = 0.0
                    else:
                        h, lo = lo - 0.01, h + 0.01
                stamps.append(stamp)
                for k, x in zip(("open", "high", "low", "close", "volume"), (o, h, lo, c, v), strict=True):
                    quote[k].append(x)
        tail = self._live_tail(symbol, row, period2, now)
        if tail is not None:
            stamps.append(tail[0])
            for k, x in zip(("open", "high", "low", "close", "volume"), tail[1:], strict=True):
                quote[k].append(x)
        return _chart_body(symbol, stamps, quote, now, regular)

    def _live_tail(self, symbol: str, row: int, period2: int, now: datetime) -> tuple[Any, ...] | None:
        """The live minute, stamped at `now` (its last trade), if a session is on and the window reaches it."""
        from pipeline.sources import simulator

        if not self.faults.live_tail:
            return None
        minute = int(now.timestamp() // 60) * 60
        if self._draw(symbol, minute, "tail") >= self.faults.live_tail:  # Yahoo appends it whatever period2 says
            return None
        begins = datetime.fromtimestamp(minute, UTC)
        sessions = simulator.stock_sessions(begins, begins + timedelta(minutes=1))
        if not sessions:
            return None
        day, _, minutes = sessions[0]
        bars = simulator.stock_day(self.seed, self.population, day)
        if bars is None:
            return None
        m = minutes.start
        o = float(bars.open[row, m])
        return (int(now.timestamp()), o, o + 0.01, o - 0.01, o, int(bars.volume[row, m] // 3))


def _chart_body(
    symbol: str, stamps: list[int], quote: dict[str, list[Any]], now: datetime, regular: tuple[int, int] | None
) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("America/New_York"))
    offset = int(local.utcoffset().total_seconds()) if local.utcoffset() is not None else 0  # type: ignore[union-attr]
    zone = local.tzname() or "EST"
    opens, closes = regular if regular is not None else (int(now.timestamp()), int(now.timestamp()))
    period = {"timezone": zone, "start": opens, "end": closes, "gmtoffset": offset}
    meta = {
        "currency": "USD", "symbol": symbol, "exchangeName": "NYQ", "fullExchangeName": "NYSE",
        "instrumentType": "EQUITY", "firstTradeDate": 345479400, "regularMarketTime": int(now.timestamp()),
        "hasPrePostMarketData": True, "gmtoffset": offset, "timezone": zone,
        "exchangeTimezoneName": "America/New_York", "priceHint": 2,
        "regularMarketPrice": next((c for c in reversed(quote["close"]) if c), 0.0),
        "chartPreviousClose": next((c for c in quote["open"] if c), 0.0),
        "currentTradingPeriod": {
            "pre": {**period, "start": opens - 19800, "end": opens},
            "regular": period,
            "post": {**period, "start": closes, "end": closes + 14400},
        },
        "tradingPeriods": [[period]], "dataGranularity": "1m", "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }  # fmt: skip
    result: dict[str, Any] = {"meta": meta}
    if stamps:
        result["timestamp"] = stamps
        result["indicators"] = {"quote": [quote]}
    else:
        result["indicators"] = {"quote": [{}]}
    return {"chart": {"result": [result], "error": None}}
