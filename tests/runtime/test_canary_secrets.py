"""Canary secrets: the pipeline runs with a recognisable value for every secret (the Open Exchange Rates app id,
the CoinMarketCap API key, Snowflake's password or private key, the SQL Server URL), the two keyed sources in
live mode against local fakes (the `responses` library behind their real `requests` calls), good answers and
refusals; then every output is searched for them: the logs (caplog and the captured stdout/stderr, where
Powertools writes), every object in the bucket (raw, processed, quarantine, state), the run report, the
reconciliation and every error message. None may appear.

Snowflake signs in with exactly one secret, so the run is made once per sign-in: with the password, and with a key
pair (a real RSA key, generated for the run: its PEM body is the canary); each run asserts that the sink signed in
with that secret and loaded rows. The negative controls show that the same search finds a planted leak."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipeline import aws, clients
from pipeline.constants import Env
from pipeline.sinks.snowflake.configuration import SnowflakeCredentials
from pipeline.sources import coinmarketcap, openexchangerates
from pipeline.sources.coinmarketcap.simulated import SimulatedApi
from pipeline.state import MemoryState
from workbench.local.runtime import LocalRuntime, RunReport
from workbench.verify import verify

pytestmark = [pytest.mark.stack, pytest.mark.slow]
# Thursday and Friday inside the NYSE session, days no other test uses: each sign-in's run has its own bars.
DAYS = {"password": datetime(2026, 11, 19, 15, 0, tzinfo=UTC), "key_pair": datetime(2026, 11, 20, 15, 0, tzinfo=UTC)}
TAG = uuid.uuid4().hex[:12]
SIGN_IN_ENV = {"password": Env.SNOWFLAKE_PASSWORD, "key_pair": Env.SNOWFLAKE_PRIVATE_KEY}


def private_key_pem() -> str:
    """A real RSA key in PKCS#8 PEM, new for this run: its base64 body is the canary."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def canaries(tmp_path: Path, sign_in: str = "password") -> dict[str, str]:
    """The run's secrets: the keys of both keyed sources, the SQL Server URL and the one Snowflake sign-in."""
    snowflake = f"snowflake-password-canary-{TAG}" if sign_in == "password" else private_key_pem()
    return {
        Env.OXR_APP_ID: f"oxr-canary-{TAG}",
        Env.CMC_API_KEY: f"cmc-canary-{TAG}",
        SIGN_IN_ENV[sign_in]: snowflake,
        Env.SQLSERVER_URL: f"sqlite:///{tmp_path}/sqlserver-url-canary-{TAG}.db",
    }


def needles(secrets: dict[str, str]) -> dict[str, bytes]:
    """What to look for: each whole secret, and its distinctive parts (a URL can be logged in pieces, a PEM key
    with its line breaks escaped or removed)."""
    found = {name: value.encode() for name, value in secrets.items()}
    found["SQLSERVER_URL (file name)"] = f"sqlserver-url-canary-{TAG}".encode()
    if Env.SNOWFLAKE_PRIVATE_KEY in secrets:
        body = pem_body_lines(secrets[Env.SNOWFLAKE_PRIVATE_KEY])
        found["SNOWFLAKE_PRIVATE_KEY (body, first line)"] = body[0].encode()
        found["SNOWFLAKE_PRIVATE_KEY (body, a middle line)"] = body[len(body) // 2].encode()
        found["SNOWFLAKE_PRIVATE_KEY (body, unwrapped)"] = "".join(body)[40:200].encode()
    return found


def collect(s3: Any, bucket: str, *texts: str) -> dict[str, bytes]:
    """Every output to search: the given texts, and every object in the bucket by its key."""
    outputs = {f"text {i}": t.encode("utf-8", "replace") for i, t in enumerate(texts)}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            outputs[f"s3://{bucket}/{item['Key']}"] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return outputs


def leaks(outputs: dict[str, bytes], secrets: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(where, name) for where, blob in outputs.items() for name, value in secrets.items() if value in blob]


def fake_services(at: datetime, top_n: int) -> responses.RequestsMock:
    """The keyed services as they answer, in order: for each source a good answer at the first minute, then a
    refusal of the key at the second (the bodies and statuses the services document)."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=True)
    usage = {"requests": 0, "requests_quota": 1000, "requests_remaining": 1000}
    mock.add(responses.GET, openexchangerates.USAGE_URL, json={"status": 200, "data": {"usage": usage}})
    mock.add(responses.GET, openexchangerates.LATEST_URL, json=openexchangerates.simulate(42, at))
    refused = {"error": True, "status": 401, "message": "invalid_app_id", "description": "Invalid App ID provided."}
    mock.add(responses.GET, openexchangerates.LATEST_URL, status=401, json=refused)
    key_info = {"status": {"error_code": 0}, "data": {"plan": {"credit_limit_monthly": 10_000},
                                                      "usage": {"current_month": {"credits_used": 0}}}}  # fmt: skip
    mock.add(responses.GET, coinmarketcap.fetch.KEY_INFO_URL, json=key_info)
    listing = SimulatedApi(42, at, top_n, state=MemoryState()).listing()  # the twin's body of the real API
    mock.add(responses.GET, coinmarketcap.API_URL, body=listing.body, content_type="application/json")
    mock.add(responses.GET, coinmarketcap.API_URL, status=401, json={
        "status": {"error_code": 1001, "error_message": "This API Key is invalid."}})  # fmt: skip
    return mock


def run_settings(stack: Any, secrets: dict[str, str], sign_in: str, mode: str) -> Any:
    """The stack's settings with the run's secrets (the stack's own Snowflake password is replaced by the run's
    one sign-in); the plans let the keyed sources call once a minute (the refusal comes a minute later)."""
    password = secrets.get(Env.SNOWFLAKE_PASSWORD)
    private_key = secrets.get(Env.SNOWFLAKE_PRIVATE_KEY)
    return stack.settings(
        mode=mode, oxr_app_id=secrets[Env.OXR_APP_ID], cmc_api_key=secrets[Env.CMC_API_KEY],
        snowflake_password=password, snowflake_private_key=private_key,
        sqlserver_url=secrets[Env.SQLSERVER_URL],
        oxr_refresh_seconds=60, oxr_monthly_quota=0, cmc_min_interval_seconds=60,
    )  # fmt: skip


@pytest.mark.parametrize("sign_in", ["password", "key_pair"])
def test_no_secret_appears_in_any_output(clean_stack, tmp_path, monkeypatch, caplog, capfd, sign_in):
    caplog.set_level(logging.DEBUG)
    at = DAYS[sign_in]
    secrets = canaries(tmp_path, sign_in)
    for name, value in secrets.items():  # in the environment too, as a deployment would have them
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(Env.MODE, raising=False)
    minute_clock = {"now": at}  # the keyed sources' wall clock: half a minute into the minute being run
    for source in (coinmarketcap.SOURCE, openexchangerates.SOURCE):
        monkeypatch.setattr(source, "clock", lambda: minute_clock["now"] + timedelta(seconds=30))
    simulated = run_settings(clean_stack, secrets, sign_in, "simulated")
    live = run_settings(clean_stack, secrets, sign_in, "live")
    assert SnowflakeCredentials.from_settings(live).authentication == sign_in  # the sink signs in with it
    s3, sqs = aws.client("s3", live), aws.client("sqs", live)
    runtime = LocalRuntime(sqs, clean_stack.queues, clean_stack.dead_letter_queues, redrive=lambda source: 0)

    clients.configure(simulated)  # Yahoo has no secret: its simulated twin feeds Snowflake
    runtime.tick(at, ["yahoo_finance"])
    clients.configure(live)  # the keyed sources call their services, faked locally
    with fake_services(at, live.cmc_top_n) as mock:
        for minute in (at, at + timedelta(minutes=1)):
            minute_clock["now"] = minute
            runtime.tick(minute, ["coinmarketcap", "openexchangerates"])
        sent = [c.request.headers for c in mock.calls]
    assert [h.get("X-CMC_PRO_API_KEY") for h in sent if "X-CMC_PRO_API_KEY" in h] == [secrets[Env.CMC_API_KEY]] * 3
    oxr_tokens = [h["Authorization"] for h in sent if "Authorization" in h]
    assert oxr_tokens == [f"Token {secrets[Env.OXR_APP_ID]}"] * 3  # usage.json, then two latest.json
    sqs.send_message(QueueUrl=clean_stack.queues["coinmarketcap"], MessageBody="poison",
                     MessageGroupId="coinmarketcap", MessageDeduplicationId=uuid.uuid4().hex)  # fmt: skip
    runtime.poll(at + timedelta(minutes=2))
    report = RunReport(start=at, minutes=2, sources=runtime.stats)  # the run report as `pipeline run` prints it
    checked = verify(live, at, at + timedelta(minutes=2))

    stats = report.sources
    assert all(stats[s].raw_keys for s in ("yahoo_finance", "coinmarketcap", "openexchangerates")), report.as_dict()
    # The second minute's 401s: refused, alarmed, and not called again by Lambda's retry (the guard holds it).
    alarms = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "ALARM" in r.getMessage()]
    assert {m.split()[1] for m in alarms} == {"coinmarketcap", "openexchangerates"}, alarms
    assert stats["coinmarketcap"].ingest_retries and stats["openexchangerates"].ingest_retries
    loaded = {s["source"]: s["sink_rows"] for s in checked.as_dict()["sources"]}
    assert loaded["yahoo_finance"] > 0 and loaded["openexchangerates"] > 0, loaded  # Snowflake, SQL Server
    assert loaded["coinmarketcap"] > 0, loaded
    errors = [e for s in stats.values() for e in s.ingest_errors + s.process_errors]
    captured = capfd.readouterr()
    outputs = collect(
        s3, live.bucket, caplog.text, captured.out, captured.err, json.dumps(report.as_dict()),
        json.dumps(checked.as_dict(), default=str), "\n".join(errors),
    )  # fmt: skip
    assert any(k.startswith(f"s3://{live.bucket}/quarantine/") for k in outputs)
    assert leaks(outputs, needles(secrets)) == []


@pytest.mark.parametrize("where", ["log", "object", "key in a log"])
def test_the_search_finds_a_planted_leak(clean_stack, tmp_path, caplog, where):
    """Negative control: a secret that does reach a log or an object is found by the same search (a private key
    too, logged as JSON with its line breaks escaped)."""
    secrets = canaries(tmp_path, "key_pair" if where == "key in a log" else "password")
    s3 = aws.client("s3", clean_stack.settings())
    if where == "log":
        logging.getLogger("pipeline").warning("connecting with %s", secrets[Env.SQLSERVER_URL])
    elif where == "object":
        s3.put_object(Bucket=clean_stack.bucket, Key="raw/coinmarketcap/leak.csv", Body=secrets[Env.OXR_APP_ID])
    else:
        logging.getLogger("pipeline").warning("credentials %s", json.dumps({"key": secrets[Env.SNOWFLAKE_PRIVATE_KEY]}))

    found = leaks(collect(s3, clean_stack.bucket, caplog.text), needles(secrets))

    expected = {
        "log": {"PIPELINE_SQLSERVER_URL", "SQLSERVER_URL (file name)"},
        "object": {"PIPELINE_OXR_APP_ID"},
        "key in a log": {"SNOWFLAKE_PRIVATE_KEY (body, first line)", "SNOWFLAKE_PRIVATE_KEY (body, a middle line)"},
    }
    assert {name for _, name in found} == expected[where]
