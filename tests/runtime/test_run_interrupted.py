"""A `run` that could not deliver, or was interrupted, says so as a person needs it.

GIVEN the local stack, WHEN a message of a queue is held in flight elsewhere (a script received it) while a run
writes raw objects, THEN the run names the events it could not deliver, says what to do and exits 1; WHEN a run is
interrupted by SIGTERM or Ctrl-C, THEN it says in one line what it released, exits 143 or 130, and the next run
delivers what it held.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import boto3
import pytest

from tests.runtime.test_status import pipeline
from workbench.cloudformation.topology import LOCAL_CREDENTIALS

pytestmark = pytest.mark.stack


def _sqs(stack):
    session = boto3.session.Session(LOCAL_CREDENTIALS, LOCAL_CREDENTIALS, region_name=stack.region)
    return session.client("sqs", endpoint_url=stack.aws_endpoint_url)


def test_a_run_whose_events_are_held_elsewhere_says_so_and_exits_1(clean_stack):
    # GIVEN a coinmarketcap event that a script has received and holds (in flight for 120 s)
    ingested = pipeline(clean_stack, "ingest", "coinmarketcap", "--at", "2026-11-21T10:00Z")
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    queue = clean_stack.queues["coinmarketcap"]
    held = _sqs(clean_stack).receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=120)
    assert held.get("Messages")

    # WHEN a run writes two more minutes, THEN their events wait behind the held one: the run says so, exits 1
    result = pipeline(clean_stack, "run", "--minutes", "2", "--start", "2026-11-21T10:01Z", "--source",
                      "coinmarketcap", "--json")  # fmt: skip

    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)["sources"]["coinmarketcap"]
    assert (report["raw_objects"], report["events_delivered"], report["undelivered"]) == (2, 0, 2)
    table = pipeline(clean_stack, "run", "--minutes", "1", "--start", "2026-11-21T10:03Z", "--source",
                     "coinmarketcap")  # fmt: skip
    assert table.returncode == 1 and "Traceback" not in table.stderr
    assert "coinmarketcap: 1 of 1 raw object(s) written in this run had no event delivered: a message of its " \
           "queue is in flight elsewhere" in table.stdout  # fmt: skip
    _sqs(clean_stack).change_message_visibility(
        QueueUrl=queue, ReceiptHandle=held["Messages"][0]["ReceiptHandle"], VisibilityTimeout=0
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_says_what_it_released_and_exits_as_a_shell_expects(clean_stack, sig, code):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    env.update(clean_stack.env())
    env["PIPELINE_UNIVERSE_LIMIT"] = "5"
    # GIVEN a run paced at one scheduled minute a second
    run = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--minutes", "120", "--start", "2026-11-24T15:00Z",
         "--speed", "60", "--source", "openexchangerates"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job ignores SIGINT
    )  # fmt: skip
    time.sleep(6)

    # WHEN it is interrupted
    run.send_signal(sig)
    _, stderr = run.communicate(timeout=120)

    # THEN one line says so and what it released, and the exit code is the shell's for that signal
    assert run.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"interrupted: (the run released the \d+ message\(s\) it held: the next run delivers them|the run held no "
        r"message)",
        last,
    ), stderr[-2000:]
    # AND the next run is not blocked by anything it held
    after = pipeline(clean_stack, "run", "--minutes", "1", "--start", "2026-11-24T18:00Z", "--source",
                     "openexchangerates", "--json")  # fmt: skip
    assert after.returncode == 0, after.stdout[-2000:]
