"""The live service: one GET of an Open Exchange Rates document, its error bodies classified.

Error bodies `{"error": true, "status", "message", "description"}` are classified: 401 (`missing_app_id`,
`invalid_app_id`) and 403 (`not_allowed`, `access_restricted`: the plan does not allow it, or its quota is spent)
raise `UpstreamRefused` (terminal, never retried, logged as an error worth an alarm); 429 and the rest raise
`UpstreamError` (transient). The app id travels in a header, never in a URL or a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from pipeline.sources.base import (
    UpstreamError,
    UpstreamFailure,
    UpstreamRefused,
    read_json,
)

LATEST_URL = "https://openexchangerates.org/api/latest.json"

USAGE_URL = "https://openexchangerates.org/api/usage.json"

HISTORICAL_URL = "https://openexchangerates.org/api/historical/{day}.json"  # a day's end-of-day rates (one request)

TIMEOUT = (5, 20)

log = logging.getLogger(__name__)

# Error messages the service documents that no retry can fix: the app id, or what the plan allows.
REFUSED = {"missing_app_id", "invalid_app_id", "not_allowed", "access_restricted", "invalid_base"}


def error_message(body: Any, status: int | None) -> str | None:
    if isinstance(body, dict) and body.get("error"):
        code = body.get("status", status)
        description = " ".join(str(body.get("description") or "").split())
        return f"openexchangerates error {body.get('message') or 'unknown'} (HTTP {code})" + (
            f": {description}" if description else ""
        )
    return None


def upstream_error(body: Any, status: int | None, *, alarm: bool = False) -> UpstreamFailure | None:
    """The error an answer stands for (None when it is a good answer): a key or plan error is `UpstreamRefused`
    (terminal, logged as an alarm), a rate limit or server error `UpstreamError` (transient)."""
    message = error_message(body, status)
    if message is None:
        return UpstreamError(f"openexchangerates answered HTTP {status}") if status not in (None, 200) else None
    code = body.get("status", status) if isinstance(body, dict) else status
    if str(body.get("message")) in REFUSED and code in (400, 401, 403, "400", "401", "403"):
        if alarm:  # a live (or simulated) answer, not a saved file being parsed
            log.error("ALARM openexchangerates refused the app id or plan (not retried): %s", message)
        return UpstreamRefused(f"{message}; not retried: check PIPELINE_OXR_APP_ID and the plan")
    return UpstreamError(message)


def _get(url: str, app_id: str) -> dict[str, Any]:
    """One GET of an API document.

    The app id travels in the `Authorization: Token` header the API accepts, never in the URL, so no access log,
    proxy or debug line of the HTTP client can record it; nor does it go into any message.
    """
    import requests

    try:
        response = requests.get(url, headers={"Authorization": f"Token {app_id}"}, timeout=TIMEOUT)
    except requests.RequestException as exc:  # only its type: nothing of the request goes into the message
        raise UpstreamError(f"openexchangerates unreachable: {type(exc).__name__}") from None
    try:
        body = read_json(response.text, mark_repeats=True)
    except ValueError:
        raise UpstreamError(
            f"openexchangerates answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
    error = upstream_error(body, response.status_code, alarm=True)
    if error is not None:
        raise error
    return body  # type: ignore[no-any-return]


def call_latest(app_id: str) -> dict[str, Any]:
    """One GET of latest.json (one request of the plan's quota)."""
    return _get(LATEST_URL, app_id)


def call_historical(app_id: str, day: date) -> dict[str, Any]:
    """One GET of historical/YYYY-MM-DD.json: the day's end-of-day rates, in latest.json's form (one request of
    the plan's quota; the free plan allows it)."""
    return _get(HISTORICAL_URL.format(day=day.isoformat()), app_id)


def call_usage(app_id: str) -> dict[str, Any]:
    """One GET of usage.json (costs no quota): `{"status": 200, "data": {"plan": {...}, "usage": {"requests",
    "requests_quota", "requests_remaining", "days_elapsed", "days_remaining", "daily_average"}}}`."""
    return _get(USAGE_URL, app_id)


class Service(Protocol):
    def latest(self) -> dict[str, Any]: ...

    def usage(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LiveService:
    app_id: str

    def latest(self) -> dict[str, Any]:
        return call_latest(self.app_id)

    def usage(self) -> dict[str, Any]:
        return call_usage(self.app_id)
