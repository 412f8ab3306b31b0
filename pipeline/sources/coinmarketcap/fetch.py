"""The live fetch, by either channel: the home page as a browser fetches it, or the official API with a key.

The home page https://coinmarketcap.com/. CoinMarketCap sits behind an edge network (Cloudflare) that answers
clients it distrusts (another TLS fingerprint than a browser's, cloud addresses) with a challenge: "Just a
moment...", sometimes with HTTP 200, sometimes 403. So the page is fetched with curl_cffi impersonating Chrome (its
TLS and HTTP/2 fingerprint, not only its user agent), and a challenge or block, told by its status (403, 429, 503),
its headers (`cf-mitigated: challenge`) or its shape (the challenge page's title, a `challenge-platform` script on a
page without a listing), raises `Challenged`: a transient `UpstreamError` whose line says the request was
challenged or blocked, never that the layout changed (which is a `PayloadError` telling to update the scraper).

The official API: GET pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest with a key. Error codes
(`status.error_code`) are classified: 1008 (per-minute rate limit), 1011 (per-IP rate limit) and 5xx are transient
(`UpstreamError`, retried); the key and plan errors 1001-1007 (invalid, missing, not activated, expired, endpoint
needs a key or a better plan, disabled) are terminal (`UpstreamRefused`): never retried, logged as an error worth
an alarm. 1009 (the day's allowance is spent) and 1010 (the month's) are `AllowanceSpent`: terminal too, since no
retry within minutes can clear them, and the credit guard (`budget`) makes no call until the allowance resets (the
next 00:00 UTC; the plan's `credit_limit_monthly_reset_timestamp`, else the 1st of next month). /v1/key/info
(which costs no credits) tells the plan's monthly credits, its reset and this month's use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from pipeline.settings import Settings
from pipeline.sources.base import UpstreamError, UpstreamFailure, UpstreamRefused, read_json
from pipeline.sources.coinmarketcap.rows import CmcPayload

HOME_URL = "https://coinmarketcap.com/"

TIMEOUT = (5, 20)  # connect, read (seconds)

# curl_cffi sends Chrome's own User-Agent, Accept, client hints and header order, matching its TLS fingerprint.
BROWSER_HEADERS = {"Accept-Language": "en-US,en;q=0.9"}

BLOCKING_STATUS = (403, 429, 503)

IMPERSONATE = "chrome"

_TITLES = re.compile(
    r"<title>\s*(just a moment\.\.\.|attention required! \| cloudflare|access denied)\s*</title>", re.IGNORECASE
)

_SCRIPTS = ("challenge-platform", "cf_chl_opt", "cf-chl-")

API_URL = "https://pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest"

KEY_INFO_URL = "https://pro-api.coinmarketcap.com/v1/key/info"

REFUSED_CODES = frozenset({1001, 1002, 1003, 1004, 1005, 1006, 1007})

ALLOWANCE_CODES = {1009: "day", 1010: "month"}  # the allowance spent, until it resets

RETRYABLE_CODES = frozenset({1008, 1011})

log = logging.getLogger(__name__)


class Challenged(UpstreamError):
    """The edge network challenged or blocked the request: not a layout change; a later try may pass."""


def page_challenge(text: str) -> str | None:
    """What in a page's shape says it is a challenge or block page, not the home page (None when nothing does)."""
    title = _TITLES.search(text[:20000])
    if title:
        return f"the page is a challenge ({title.group(1)!r})"
    listing = "__NEXT_DATA__" in text or "cmc-table" in text
    marker = next((m for m in _SCRIPTS if m in text), None)
    if marker and not listing:  # Cloudflare also injects challenge-platform scripts into ordinary pages
        return f"the page is a challenge ({marker!r} and no listing)"
    return None


def challenge(status: int, headers: Mapping[str, str], text: str) -> str | None:
    """Why an answer is a challenge or a block (None when it is not): by headers, page shape, then status."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    edge = " from cloudflare" if "cloudflare" in lowered.get("server", "").lower() else ""
    if lowered.get("cf-mitigated", "").lower() == "challenge":
        return f"challenged (HTTP {status}, cf-mitigated: challenge{edge})"
    shape = page_challenge(text)
    if shape:
        return f"challenged (HTTP {status}{edge}: {shape})"
    if status in BLOCKING_STATUS:
        return f"blocked (HTTP {status}{edge})"
    return None


def challenged(reason: str) -> Challenged:
    return Challenged(
        f"coinmarketcap.com {reason}: the edge network did not let this client through (TLS fingerprint or "
        "address), not a layout change; retried later (or use the API: PIPELINE_CMC_API_KEY)"
    )


def fetch_page(top_n: int, url: str | None = None) -> CmcPayload:
    """GET the home page with curl_cffi impersonating Chrome; a challenge or block raises `Challenged`."""
    from curl_cffi import requests as curl

    target = url or HOME_URL
    try:
        response = curl.get(target, impersonate=IMPERSONATE, headers=BROWSER_HEADERS, timeout=TIMEOUT)
    except curl.RequestsError as exc:
        raise UpstreamError(f"coinmarketcap.com unreachable: {type(exc).__name__}") from None
    headers = {str(k): str(v or "") for k, v in response.headers.items()}
    return CmcPayload("html", check_page_answer(response.status_code, headers, response.text, target), top_n)


def check_page_answer(status: int, headers: Mapping[str, str], text: str, where: str) -> str:
    """The page of an answer; a challenge or block raises `Challenged`, another HTTP error `UpstreamError`."""
    reason = challenge(status, headers, text)
    if reason:
        raise challenged(reason)
    if status != 200:
        raise UpstreamError(f"coinmarketcap.com answered HTTP {status} for {where}")
    return text


class AllowanceSpent(UpstreamRefused):
    """The plan's allowance for the `period` ("day" or "month") is spent: no call helps until it resets."""

    def __init__(self, message: str, period: str) -> None:
        super().__init__(message)
        self.period = period


def api_error(http_status: int, status: Any, *, alarm: bool = False) -> UpstreamFailure | None:
    """The error an API answer stands for (None for a good one): key and plan errors are `UpstreamRefused`."""
    status = status if isinstance(status, dict) else {}
    code = status.get("error_code")
    if http_status == 200 and code in (0, None, "0"):
        return None
    message = status.get("error_message") or "no message"
    number = int(code) if str(code).isdigit() else None
    if number in ALLOWANCE_CODES:
        period = ALLOWANCE_CODES[number]
        if alarm:
            log.error("ALARM coinmarketcap API: the %s's allowance is spent (no call until it resets)", period)
        return AllowanceSpent(
            f"coinmarketcap API: the plan's allowance for the {period} is spent: error {code} (HTTP {http_status}): "
            f"{message}; no call until it resets",
            period,
        )
    if number in REFUSED_CODES:
        if alarm:  # a live (or simulated) answer, not a saved file being parsed
            log.error("ALARM coinmarketcap API refused the key or plan (not retried): error %s: %s", code, message)
        return UpstreamRefused(
            f"coinmarketcap API refused the key or plan: error {code} (HTTP {http_status}): {message}; "
            "not retried: check PIPELINE_CMC_API_KEY and the plan"
        )
    return UpstreamError(f"coinmarketcap API answered HTTP {http_status}: {message}")


def api_key(settings: Settings) -> str | None:
    return settings.secret(settings.cmc_api_key, settings.cmc_api_key_secret_arn)


def _get(url: str, key: str, params: dict[str, str] | None = None) -> tuple[int, str, Any]:
    import requests

    try:
        response = requests.get(
            url, headers={"X-CMC_PRO_API_KEY": key, "Accept": "application/json"}, params=params, timeout=TIMEOUT
        )
    except requests.RequestException as exc:
        raise UpstreamError(f"coinmarketcap API unreachable: {type(exc).__name__}") from None
    try:
        document = read_json(response.text)
    except ValueError:
        document = None
    return response.status_code, response.text, document


def check_api_answer(http_status: int, document: Any) -> None:
    status = document.get("status") if isinstance(document, dict) else None
    error = api_error(http_status, status, alarm=True)
    if error is not None:
        raise error


def fetch_api(api_key: str, top_n: int) -> CmcPayload:
    """One listings call (one credit for up to 200 coins)."""
    http_status, text, document = _get(API_URL, api_key, {"start": "1", "limit": str(top_n), "convert": "USD"})
    check_api_answer(http_status, document)
    return CmcPayload("api", text, top_n)


def key_info(api_key: str) -> dict[str, Any]:
    """GET /v1/key/info (no credits): `data.plan.credit_limit_monthly`, `data.usage.current_month.credits_used`."""
    http_status, _, document = _get(KEY_INFO_URL, api_key)
    check_api_answer(http_status, document)
    return document  # type: ignore[no-any-return]
