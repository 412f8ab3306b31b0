"""Canary secrets: the pipeline runs with a recognisable value for every secret (the Open Exchange Rates app id,
the CoinMarketCap API key, Snowflake's password and private key, the SQL Server URL), the two keyed sources in
live mode against local fakes (the `responses` library), good answers and refusals; then every output is searched
for them: the logs (caplog and the captured stdout/stderr, where Powertools writes), every object in the bucket
(raw, processed, quarantine, state), the run report, the reconciliation and every error message. None may appear.
The negative control shows that the same search finds a planted leak."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from pipeline import aws
from pipeline.constants import Env
from pipeline.handlers import clients
from pipeline.local.demo import use_stack
from pipeline.local.runtime import LocalRuntime, RunReport
from pipeline.sources import coinmarketcap, openexchangerates, simulator
from pipeline.verify import verify

pytestmark = [pytest.mark.stack, pytest.mark.slow]
AT = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # a Thursday inside the NYSE session
TAG = uuid.uuid4().hex[:12]
PEM = "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----"


def canaries(tmp_path: Path) -> dict[str, str]:
    return {
        Env.OXR_APP_ID: f"oxr-canary-{TAG}",
        Env.CMC_API_KEY: f"cmc-canary-{TAG}",
        Env.SNOWFLAKE_PASSWORD: f"snowflake-password-canary-{TAG}",
        "PIPELINE_SNOWFLAKE_PRIVATE_KEY": PEM.format(f"snowflake-key-canary-{TAG}"),  # key-pair sign-in, when set
        Env.SQLSERVER_URL: f"sqlite:///{tmp_path}/sqlserver-url-canary-{TAG}.db",
    }


def needles(secrets: dict[str, str]) -> dict[str, bytes]:
    """What to look for: each whole secret, and its distinctive part (a URL can be logged in pieces)."""
    found = {name: value.encode() for name, value in secrets.items()}
    found["SQLSERVER_URL (file name)"] = f"sqlserver-url-canary-{TAG}".encode()
    found["SNOWFLAKE_PRIVATE_KEY (body)"] = f"snowflake-key-canary-{TAG}".encode()
    return found


def collect(s3, bucket: str, *texts: str) -> dict[str, bytes]:
    """Every output to search: the given texts, and every object in the bucket by its key."""
    outputs = {f"text {i}": t.encode("utf-8", "replace") for i, t in enumerate(texts)}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            outputs[f"s3://{bucket}/{item['Key']}"] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return outputs


def leaks(outputs: dict[str, bytes], secrets: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(where, name) for where, blob in outputs.items() for name, value in secrets.items() if value in blob]


def cmc_api_body(at: datetime, top_n: int = 10) -> str:
    quotes = simulator.crypto_quotes(42, at)[:top_n]
    data = [
        {
            "cmc_rank": i, "name": q.coin.name, "symbol": q.coin.symbol, "circulating_supply": q.circulating_supply,
            "quote": {"USD": {"price": q.price, "volume_24h": q.volume_24h, "market_cap": q.market_cap,
                              "percent_change_1h": q.change_1h_pct, "percent_change_24h": q.change_24h_pct,
                              "percent_change_7d": q.change_7d_pct}},
        }
        for i, q in enumerate(quotes, start=1)
    ]  # fmt: skip
    return json.dumps({"status": {"error_code": 0, "error_message": None}, "data": data})


def fake_services(at: datetime) -> responses.RequestsMock:
    """The keyed services as they answer: rates and listings first, then a refusal of the key."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add(responses.GET, openexchangerates.LATEST_URL, json=openexchangerates.simulate(42, at))
    refused = {"error": True, "status": 401, "message": "invalid_app_id", "description": "Invalid App ID provided."}
    mock.add(responses.GET, openexchangerates.LATEST_URL, status=401, json=refused)
    key_info = {"status": {"error_code": 0}, "data": {"plan": {"credit_limit_monthly": 10_000},
                                                      "usage": {"current_month": {"credits_used": 0}}}}  # fmt: skip
    mock.add(responses.GET, coinmarketcap.api.KEY_INFO_URL, json=key_info)
    mock.add(responses.GET, coinmarketcap.API_URL, body=cmc_api_body(at), content_type="application/json")
    mock.add(responses.GET, coinmarketcap.API_URL, status=401, json={
        "status": {"error_code": 1001, "error_message": "This API Key is invalid."}})  # fmt: skip
    return mock


@pytest.mark.xfail(
    reason="on main since 7cfa986 the keyed sources make no call with these settings (no request reaches the "
    "fakes): the secrets' environment names or the live path moved; to be re-pointed",
    strict=False,
)
def test_no_secret_appears_in_any_output(clean_stack, tmp_path, monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    secrets = canaries(tmp_path)
    use_stack(clean_stack)
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = clean_stack.settings()
    s3, sqs = aws.client("s3", settings), aws.client("sqs", settings)
    runtime = LocalRuntime(sqs, clean_stack.queues, clean_stack.dead_letter_queues, redrive=lambda source: 0)

    monkeypatch.setenv(Env.MODE, "simulated")  # Yahoo has no secret: its simulated twin feeds Snowflake
    clients.reset()
    runtime.tick(AT, ["yahoo_finance"])
    monkeypatch.setenv(Env.MODE, "live")  # the keyed sources call their services, faked locally
    clients.reset()
    with fake_services(AT) as mock:
        for minute in (AT, AT + timedelta(minutes=1)):
            runtime.tick(minute, ["coinmarketcap", "openexchangerates"])
        assert any("X-CMC_PRO_API_KEY" in c.request.headers for c in mock.calls)  # the key was really sent
        assert any(c.request.headers.get("Authorization", "").startswith("Token ") for c in mock.calls)
    sqs.send_message(QueueUrl=clean_stack.queues["coinmarketcap"], MessageBody="poison",
                     MessageGroupId="coinmarketcap", MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
    runtime.poll(AT + timedelta(minutes=2))
    report = RunReport(start=AT, minutes=2, sources=runtime.stats)  # the run report as `pipeline run` prints it
    checked = verify(settings, AT, AT + timedelta(minutes=2))

    stats = report.sources
    assert stats["yahoo_finance"].raw_keys and stats["coinmarketcap"].raw_keys, report.as_dict()
    assert stats["openexchangerates"].raw_keys
    errors = [e for s in stats.values() for e in s.ingest_errors + s.process_errors]
    captured = capfd.readouterr()
    outputs = collect(
        s3, settings.bucket, caplog.text, captured.out, captured.err, json.dumps(report.as_dict()),
        json.dumps(checked.as_dict(), default=str), "\n".join(errors),
    )  # fmt: skip
    assert any(k.startswith(f"s3://{settings.bucket}/quarantine/") for k in outputs)
    assert leaks(outputs, needles(secrets)) == []


@pytest.mark.parametrize("where", ["log", "object"])
def test_the_search_finds_a_planted_leak(clean_stack, tmp_path, caplog, where):
    """Negative control: a secret that does reach a log or an object is found by the same search."""
    secrets = canaries(tmp_path)
    s3 = aws.client("s3", clean_stack.settings())
    if where == "log":
        logging.getLogger("pipeline").warning("connecting with %s", secrets[Env.SQLSERVER_URL])
    else:
        s3.put_object(Bucket=clean_stack.bucket, Key="raw/coinmarketcap/leak.csv", Body=secrets[Env.OXR_APP_ID])

    found = leaks(collect(s3, clean_stack.bucket, caplog.text), needles(secrets))

    expected = {"PIPELINE_SQLSERVER_URL", "SQLSERVER_URL (file name)"} if where == "log" else {"PIPELINE_OXR_APP_ID"}
    assert {name for _, name in found} == expected
