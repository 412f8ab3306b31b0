"""The official API: GET pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest with a key.

Error codes (`status.error_code`) are classified: 1008 (per-minute rate limit), 1011 (per-IP rate limit) and 5xx
are transient (`UpstreamError`, retried); the key and plan errors 1001-1007 (invalid, missing, not activated,
expired, endpoint needs a key or a better plan, disabled) are terminal (`UpstreamRefused`): never retried, logged as
an error worth an alarm. 1009 (the day's allowance is spent) and 1010 (the month's) are `AllowanceSpent`: terminal
too, since no retry within minutes can clear them, and the credit guard makes no call until the allowance resets
(the next 00:00 UTC; the plan's `credit_limit_monthly_reset_timestamp`, else the 1st of next month).
/v1/key/info (which costs no credits) tells the plan's monthly credits, its reset and this month's use.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from pipeline.contracts import ContractError, to_utc
from pipeline.settings import Settings
from pipeline.sources.base import PayloadError, UpstreamError, UpstreamFailure, UpstreamRefused, after_fetch, read_json
from pipeline.sources.coinmarketcap.page import TIMEOUT
from pipeline.sources.coinmarketcap.rows import CmcPayload, check_rows

API_URL = "https://pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest"
KEY_INFO_URL = "https://pro-api.coinmarketcap.com/v1/key/info"
REFUSED_CODES = frozenset({1001, 1002, 1003, 1004, 1005, 1006, 1007})
ALLOWANCE_CODES = {1009: "day", 1010: "month"}  # the allowance spent, until it resets
RETRYABLE_CODES = frozenset({1008, 1011})

log = logging.getLogger(__name__)


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


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check_time(status: Any, fetched: datetime | None) -> None:
    """Refuse a body whose own `status.timestamp` lies after the fetch: the whole body is of another time."""
    stamp = status.get("timestamp") if isinstance(status, dict) else None
    if fetched is None or stamp is None:
        return
    try:
        at = to_utc(str(stamp))
    except ContractError:
        raise PayloadError(f"coinmarketcap API body: status.timestamp {str(stamp)[:40]!r} is not a time") from None
    late = after_fetch(at, fetched, "status.timestamp")
    if late:
        raise PayloadError(f"coinmarketcap API body refused: its {late}")


def parse_api(text: str, top_n: int = 10, fetched: datetime | None = None) -> list[dict[str, Any]]:
    """The top `top_n` coins of a /v1/cryptocurrency/listings/latest body, by `cmc_rank`.

    A body whose `status.timestamp` (the body's own time) lies after `fetched` beyond the clock skew is refused
    whole (`PayloadError`); a coin whose values cannot be read (no `quote.USD`, a price that is null or not a
    number) is marked for an error row by `check_rows`, the other coins stay."""
    try:
        document = read_json(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap API body is not JSON ({exc.msg} at {exc.pos})") from exc
    status = document.get("status") if isinstance(document, dict) else None
    if isinstance(status, dict) and status.get("error_code") not in (0, None, "0"):
        raise api_error(200, status) or UpstreamError("coinmarketcap API error")
    _check_time(status, fetched)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PayloadError("coinmarketcap API body has no 'data' list of coins")
    rows = []
    for entry in data:
        item = _object(entry)  # a coin that is not an object has no fields: `check_rows` names what it lacks
        usd = _object(_object(item.get("quote")).get("USD"))
        rows.append(
            {
                "rank": item.get("cmc_rank"),
                "name": item.get("name"),
                "symbol": item.get("symbol"),
                "price_usd": usd.get("price"),
                "change_1h_pct": usd.get("percent_change_1h"),
                "change_24h_pct": usd.get("percent_change_24h"),
                "change_7d_pct": usd.get("percent_change_7d"),
                "market_cap_usd": usd.get("market_cap"),
                "volume_24h_usd": usd.get("volume_24h"),
                "circulating_supply": item.get("circulating_supply"),
                "coin_id": item.get("id"),
                "last_updated": usd.get("last_updated") or item.get("last_updated"),
            }
        )
    rows = sorted(rows, key=lambda r: r["rank"] if isinstance(r["rank"], int | float) else float("inf"))[:top_n]
    check_rows(rows, "coinmarketcap API")
    return rows


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


def check_answer(http_status: int, document: Any) -> None:
    status = document.get("status") if isinstance(document, dict) else None
    error = api_error(http_status, status, alarm=True)
    if error is not None:
        raise error


def fetch_api(api_key: str, top_n: int) -> CmcPayload:
    """One listings call (one credit for up to 200 coins)."""
    http_status, text, document = _get(API_URL, api_key, {"start": "1", "limit": str(top_n), "convert": "USD"})
    check_answer(http_status, document)
    return CmcPayload("api", text, top_n)


def key_info(api_key: str) -> dict[str, Any]:
    """GET /v1/key/info (no credits): `data.plan.credit_limit_monthly`, `data.usage.current_month.credits_used`."""
    http_status, _, document = _get(KEY_INFO_URL, api_key)
    check_answer(http_status, document)
    return document  # type: ignore[no-any-return]
