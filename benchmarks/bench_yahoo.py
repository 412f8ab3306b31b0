"""A simulated trading hour of the whole S&P 500 through the live Yahoo path, against the faulty twin.

Every scheduled minute runs `YahooFinance.fetch` in live mode: the request budget, the rotation, the circuit
breaker and yfinance's own code (cookie, crumb, chart requests, parsing), its session answered by
`SimulatedYahoo` with faults on: 429 past `RATE_LIMIT` requests a minute, the live tail, late, revised and bad
bars, three symbols that answer 404. The clock is simulated (each minute is fetched 10 s after it starts), so the
hour runs as fast as the machine allows; the state document lives in memory.

Measured: requests sent (every HTTP request the twin sees, cookie and crumb included) per second over the hour
and per minute at the peak; minutes in cool-down; bars delivered (a success row with the bar's final values)
against bars available (every bar of the hour of every symbol that exists); the lag from a bar's close to its
delivery. The sink is modelled by the raw object's ingest time (the fetch time of the minute that delivered it):
loading each minute into the Snowflake stand-in would measure fakesnow, not the request budget.

Results: benchmarks/results/yahoo_requests.md.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from pipeline.sources import NothingToIngest, UpstreamError, simulator
from pipeline.sources.yahoo_finance import SIMULATED_FETCH_DELAY, YahooFinance
from pipeline.sources.yahoo_finance.simulated import Faults, SimulatedYahoo
from pipeline.sources.yahoo_finance.universe import universe
from pipeline.state import MemoryState

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "yahoo_requests.md"
START = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # Tuesday, 10:00 New York
HOUR = int(os.environ.get("BENCH_YAHOO_MINUTES", "60"))
RATE_LIMIT = 120  # the twin answers 429 past this many requests in a minute
FAULTS = Faults(
    rate_limit=RATE_LIMIT,
    live_tail=0.2,
    late=0.02,
    revise=0.02,
    bad=0.005,
    not_found=frozenset({"GONE1", "GONE2", "GONE3"}),
)
SEED = 42
THROTTLE_MINUTES = range(20, 23)  # 10:20-10:22 New York: Yahoo allows only THROTTLED.rate_limit a minute
THROTTLED = Faults(**{**FAULTS.__dict__, "rate_limit": 40})


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class _Hour:
    """What the sink would hold after the fetched minutes, and what happened to the minutes."""

    delivered: dict[tuple[str, str], tuple[datetime, tuple[float, ...]]] = field(default_factory=dict)
    cooldown: int = 0
    skipped_other: int = 0
    failed: int = 0
    error_rows: int = 0
    rows: int = 0

    def load(self, rows: list[dict[str, Any]], ingested_at: datetime) -> None:
        """The sink's MERGE: the later raw key wins, so a bar's stored values are its latest delivery (and the
        time it was delivered is the first delivery of those values)."""
        self.rows += len(rows)
        for row in rows:
            if row["status"] != "success":
                self.error_rows += 1
                continue
            key = (row["symbol"], row["ts"])
            values = (row["open"], row["high"], row["low"], row["close"], row["volume"])
            previous = self.delivered.get(key)
            self.delivered[key] = (previous[0] if previous and previous[1] == values else ingested_at, values)


def _fetch_hour(
    settings: Settings, population: tuple[str, ...], twin: SimulatedYahoo, now: list[datetime], throttle: range
) -> _Hour:
    """Every scheduled minute of the hour, then K + 2 minutes for its last bars, fetched in live mode."""
    source = YahooFinance(session=twin.session(), clock=lambda: now[0], symbols=population)
    state = MemoryState()
    hour = _Hour()
    for i in range(HOUR + settings.yahoo_rotation_minutes + 2):
        at = START + timedelta(minutes=i)
        now[0] = at + SIMULATED_FETCH_DELAY
        # a throttling episode: for a few minutes Yahoo tolerates far fewer requests (others share the address)
        twin.faults = THROTTLED if i in throttle else FAULTS
        try:
            payload = source.fetch(settings, at, state)
        except NothingToIngest as exc:
            hour.cooldown += "cooling down" in str(exc)
            hour.skipped_other += "cooling down" not in str(exc)
            print(f"  {at:%H:%M} skipped: {exc}", flush=True)
            continue
        except UpstreamError as exc:
            hour.failed += 1
            print(f"  {at:%H:%M} failed: {exc}", flush=True)
            continue
        hour.load(source.parse(payload, scheduled_at=at, ingested_at=now[0]), now[0])
        stats = payload.stats
        print(f"  {at:%H:%M} {len(payload.symbols):3d} asked, {stats.get('requests')} requests, "
              f"{stats.get('rate_limited')} x 429, {len(payload.unfetched)} left", flush=True)  # fmt: skip
    return hour


def _available(population: tuple[str, ...]) -> dict[tuple[str, str], tuple[float, ...]]:
    """Bars available: every bar of the hour of every symbol that exists, with its final values."""
    available: dict[tuple[str, str], tuple[float, ...]] = {}
    real_symbols = tuple(s for s in population if s not in FAULTS.not_found)
    for day, session_open, minutes in simulator.stock_sessions(START, START + timedelta(minutes=HOUR)):
        bars = simulator.stock_day(SEED, population, day)
        assert bars is not None
        for symbol in real_symbols:
            row = population.index(symbol)
            for m in range(minutes.start, minutes.stop):
                ts = (session_open + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")
                available[(symbol, ts)] = (
                    *(float(getattr(bars, c)[row, m]) for c in ("open", "high", "low", "close")),
                    int(bars.volume[row, m]),
                )
    return available


def _lags(correct: list[tuple[str, str]], hour: _Hour) -> list[float]:
    """Minutes from each correctly delivered bar's close to its delivery."""
    lags = []
    for key in correct:
        closes = datetime.strptime(key[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(minutes=1)
        lags.append((hour.delivered[key][0] - closes).total_seconds() / 60)
    return lags


def run(throttle: range = range(0)) -> dict[str, Any]:
    settings = Settings(mode="live")
    symbols = universe()
    # three of the universe's symbols are replaced by delisted ones (the twin answers 404 for them)
    population = (*symbols[:-3], *sorted(FAULTS.not_found))
    now = [START]
    twin = SimulatedYahoo(SEED, population, FAULTS, lambda: now[0])
    started = time.perf_counter()
    hour = _fetch_hour(settings, population, twin, now, throttle)
    elapsed = time.perf_counter() - started

    available = _available(population)
    correct = [key for key, values in available.items() if key in hour.delivered and hour.delivered[key][1] == values]
    lags = _lags(correct, hour)
    hour_minutes = {int((START + timedelta(minutes=i)).timestamp() // 60) for i in range(HOUR)}
    in_hour = sum(n for minute, n in twin.per_minute.items() if minute in hour_minutes)
    return {
        "k": settings.yahoo_rotation_minutes,
        "budget": settings.yahoo_requests_per_minute,
        "lookback": settings.yahoo_lookback_minutes,
        "symbols": len(population),
        "minutes": HOUR,
        "requests_hour": in_hour,
        "sustained": in_hour / (HOUR * 60),
        "peak": max(twin.per_minute.values(), default=0),
        "rate_limited": twin.counts.get("429", 0),
        "not_found": twin.counts.get("404", 0),
        "cooldown": hour.cooldown,
        "failed": hour.failed,
        "skipped_other": hour.skipped_other,
        "available": len(available),
        "delivered": len(correct),
        "share": len(correct) / len(available) if available else float("nan"),
        "p50": _pct(lags, 0.5),
        "p95": _pct(lags, 0.95),
        "max": max(lags, default=float("nan")),
        "mean": statistics.fmean(lags) if lags else float("nan"),
        "error_rows": hour.error_rows,
        "rows": hour.rows,
        "elapsed": elapsed,
        "throttle": throttle,
    }


def _table(r: dict[str, Any]) -> list[str]:
    ok = {True: "met", False: "NOT met"}
    return [
        "| measure | value | goal |",
        "| --- | --- | --- |",
        f"| sustained requests/s (the hour's requests / {r['minutes'] * 60} s) | {r['sustained']:.2f} | "
        f"<= 2: {ok[r['sustained'] <= 2.0]} |",
        f"| peak requests in a minute | {r['peak']} | |",
        f"| requests in the hour | {r['requests_hour']} | |",
        f"| 429 answers / 404 answers | {r['rate_limited']} / {r['not_found']} | |",
        f"| minutes in cool-down (no request sent) | {r['cooldown']} | |",
        f"| minutes that failed as a whole (UpstreamError) | {r['failed']} | |",
        f"| bars delivered with their final values / available | {r['delivered']} / {r['available']} "
        f"({100 * r['share']:.3f} %) | >= 99.9 %: {ok[r['share'] >= 0.999]} |",
        f"| lag from a bar's close to the sink, p50 / p95 / max (minutes) | {r['p50']:.2f} / {r['p95']:.2f} / "
        f"{r['max']:.2f} | p95 <= K + 2 = {r['k'] + 2}: {ok[r['p95'] <= r['k'] + 2]} |",
        f"| error rows / rows written | {r['error_rows']} / {r['rows']} | |",
        f"| wall time of the run | {r['elapsed']:.0f} s | |",
    ]


def report(steady: dict[str, Any], throttled: dict[str, Any]) -> str:
    r = steady
    episode = throttled["throttle"]
    return "\n".join(
        [
            "# Yahoo Finance at production scale: a simulated trading hour",
            "",
            f"Written by `python -m benchmarks yahoo` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            f"{r['symbols']} symbols (the S&P 500 with 3 replaced by delisted ones), {r['minutes']} scheduled minutes "
            f"from {START:%Y-%m-%d %H:%M} UTC (10:00 New York) plus {r['k'] + 2} to let the hour's last bars in, "
            "through the live path (`YahooFinance.fetch`, yfinance over a replay session) against the simulated "
            f"Yahoo with faults: 429 past {RATE_LIMIT} requests a minute, the live tail in 20 % of answers, 2 % of "
            "bars late by a minute, 2 % revised, 0.5 % first served bad (zero or inverted), 3 symbols answering 404.",
            f"Settings: rotation K = {r['k']} minutes, lookback {r['lookback']} minutes, budget {r['budget']} "
            "symbols a minute, default breaker (3 x 429) and cool-down (2 minutes, doubling).",
            "",
            "## The hour against the faulty twin",
            "",
            *_table(steady),
            "",
            f"sustained requests/s: {r['sustained']:.2f}",
            "",
            "## The same hour with a throttling episode",
            "",
            f"For minutes {episode.start}-{episode.stop - 1} of the hour Yahoo tolerates only "
            f"{THROTTLED.rate_limit} requests a minute (others share the address): the breaker opens, the cool-down "
            "grows on the repeat, no request goes out during it, and the symbols that missed their turn come first "
            "afterwards with windows reaching back to what they last delivered, within the same budget.",
            "",
            *_table(throttled),
            "",
            "Nothing is lost to the episode; the lag of the bars it delays exceeds K + 2 minutes, by the length of the "
            "cool-down plus the catch-up (the budget leaves about 19 spare requests a minute for it).",
            "",
            "The sink is modelled by the ingest time of the raw object that delivered a bar's final values (the "
            "fetch time, 10 s after its scheduled minute); the Snowflake load after it adds the process function's "
            "time. A revised bar counts as delivered when its corrected values arrive (the MERGE keeps the later "
            "raw key); its lag is measured to that delivery.",
            "",
        ]
    )


def main() -> None:
    steady = run()
    throttled = run(THROTTLE_MINUTES)
    text = report(steady, throttled)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
