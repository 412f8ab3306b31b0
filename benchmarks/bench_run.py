"""The stock minute end to end, the way `python -m pipeline run --minutes 20 --source yahoo_finance` runs it.

A local stack of its own (a temporary PIPELINE_LOCAL_DIR: a fresh moto server, a fresh fakesnow server, empty
tables), then the commands a user types, as subprocesses:

- `pipeline run --minutes 20 --source yahoo_finance --json` on a trading morning. Each minute's latency is SQS's
  SentTimestamp (the event published) to the message deleted (the bars MERGEd into the Snowflake stand-in through
  the real connector), as the run report's p50/p95 give it;
- `pipeline run --minutes 390 --source yahoo_finance --json` on another day (a whole session, 9:30 to 16:00 New
  York) into the same tables, so the last minutes MERGE into a table that holds the day: whether the minute slows as
  the table grows.

The minutes carry more than the universe's 503 bars: each minute a fifth of the universe is read back seven minutes
and more (see `pipeline/sources/yahoo_finance/budget.py`; no setting gives one bar per symbol a minute, since a window
always reaches back `LATE_MINUTES` and at most `yahoo_requests_per_minute` symbols go out), so the bars per minute
are recorded beside the times. The first minutes of a fresh stack also create the table and warm fakesnow up. Set
BENCH_RUN_DAY=0 to skip the whole session (about five minutes on two cores).

Writes benchmarks/results/run.md. The load average is recorded: the times depend on what else the machine runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "run.md"
MORNING = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York: no notebook, test or demo uses it
SESSION = datetime(2026, 10, 7, 13, 30, tzinfo=UTC)  # the Wednesday after, 9:30 New York
GOAL_MS = 600.0


def pipeline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )


def run(env: dict[str, str], minutes: int, start: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    done = pipeline(
        "run", "--minutes", str(minutes), "--start", start.isoformat(), "--source", "yahoo_finance", "--json", env=env
    )
    report: dict[str, Any] = json.loads(done.stdout)
    report["command_seconds"] = time.perf_counter() - started
    report["command"] = f"pipeline run --minutes {minutes} --start {start:%Y-%m-%dT%H:%MZ} --source yahoo_finance"
    return report


def row(report: dict[str, Any]) -> str:
    yahoo = report["sources"]["yahoo_finance"]
    minutes = yahoo["events_delivered"]
    bars = yahoo["rows_processed"] / minutes if minutes else 0.0
    verdict = "yes" if (yahoo["latency_p95_ms"] or 0) <= GOAL_MS else "no"
    return (
        f"| `{report['command']}` | {minutes} | {bars:,.0f} | {yahoo['latency_p50_ms']:,.0f} | "
        f"{yahoo['latency_p95_ms']:,.0f} | {verdict} | {report['command_seconds']:,.1f} | "
        f"{yahoo['dead_letters']} |"
    )


def markdown(reports: list[dict[str, Any]]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# The stock minute through the Snowflake stand-in, measured by `pipeline run`",
        "",
        f"`python -m benchmarks run` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} at the end. A fresh local stack "
        "(moto, fakesnow, empty tables); the whole S&P 500.",
        "",
        "Latency per minute: the event published (SQS SentTimestamp) to its message deleted, the bars MERGEd into",
        f"the stand-in through the real connector. The goal: at most {GOAL_MS / 1000:.1f} s a minute.",
        "",
        "| command | minutes | bars a minute | p50 ms | p95 ms | p95 within the goal | wall s | dead letters |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
        *map(row, reports),
        "",
        "The second command runs a whole session into the tables the first one filled, so its last minutes MERGE",
        "into a table of hundreds of thousands of bars: the load path matches only the batch's minutes (see",
        "`benchmarks/results/sinks.md` for the candidates measured against each other, and",
        "`pipeline/sinks/README.md` for the choice on real Snowflake).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as local_dir:
        env = {**os.environ, "PIPELINE_LOCAL_DIR": local_dir}
        for name in ("PIPELINE_UNIVERSE_LIMIT", "PIPELINE_LOCAL_AWS_PORT", "PIPELINE_LOCAL_SNOWFLAKE_PORT"):
            env.pop(name, None)  # the whole universe, on ports of its own
        pipeline("local", "up", env=env)
        try:
            reports.append(run(env, 20, MORNING))
            if os.environ.get("BENCH_RUN_DAY", "1") != "0":
                reports.append(run(env, 390, SESSION))
        finally:
            pipeline("local", "down", env=env)
    text = markdown(reports)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
