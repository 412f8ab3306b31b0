"""The official API: GET pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest with a key."""

from __future__ import annotations

import json
from typing import Any

from pipeline.settings import Settings
from pipeline.sources.base import PayloadError, UpstreamError
from pipeline.sources.coinmarketcap.page import TIMEOUT
from pipeline.sources.coinmarketcap.rows import CmcPayload, check_rows

API_URL = "https://pro-api.coinmarketcap.com/v1/cryptocurrency/listings/latest"


def parse_api(text: str, top_n: int = 10) -> list[dict[str, Any]]:
    """The top `top_n` coins of a /v1/cryptocurrency/listings/latest body, by `cmc_rank`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"coinmarketcap API body is not JSON ({exc.msg} at {exc.pos})") from exc
    status = document.get("status") if isinstance(document, dict) else None
    if isinstance(status, dict) and status.get("error_code") not in (0, None, "0"):
        raise UpstreamError(
            f"coinmarketcap API error {status.get('error_code')}: {status.get('error_message') or 'no message'}"
        )
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PayloadError("coinmarketcap API body has no 'data' list of coins")
    rows = []
    for item in data:
        usd = ((item.get("quote") or {}).get("USD") or {}) if isinstance(item, dict) else {}
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
            }
        )
    rows = sorted(rows, key=lambda r: r["rank"] if isinstance(r["rank"], int | float) else float("inf"))[:top_n]
    check_rows(rows, "coinmarketcap API")
    return rows


def api_key(settings: Settings) -> str | None:
    return settings.secret(settings.cmc_api_key, settings.cmc_api_key_secret_arn)


def fetch_api(api_key: str, top_n: int) -> CmcPayload:
    import requests

    try:
        response = requests.get(
            API_URL,
            headers={"X-CMC_PRO_API_KEY": api_key, "Accept": "application/json"},
            params={"start": "1", "limit": str(top_n), "convert": "USD"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise UpstreamError(f"coinmarketcap API unreachable: {type(exc).__name__}") from exc
    try:
        document = response.json()
    except ValueError:
        document = None
    status = document.get("status") if isinstance(document, dict) else None
    status = status if isinstance(status, dict) else {}
    if response.status_code != 200 or status.get("error_code") not in (0, None):
        raise UpstreamError(
            f"coinmarketcap API answered HTTP {response.status_code}: "
            f"{status.get('error_message') or response.reason or 'no message'}"
        )
    return CmcPayload("api", response.text, top_n)
