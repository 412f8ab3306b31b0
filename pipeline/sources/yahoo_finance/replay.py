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
exercise the live path. The twin (`simulated.SimulatedYahoo`) answers through the same session from the simulated
market instead, with Yahoo's faults on demand.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
