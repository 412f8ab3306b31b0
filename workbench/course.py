"""What the course notebooks share: the setup cell's environment check and the last cell's recorded values.

A notebook starts with `stack = check_environment()` (the local stack, started if it is not running, and this
kernel pointed at it) and ends with `record(...)`, which prints the values its test asserts on as one JSON object:
the test reads that output from the executed notebook.
"""

from __future__ import annotations

import json
import numbers
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.constants import Env
from workbench.kernel import kernel_config

if TYPE_CHECKING:
    from workbench.local.servers import LocalStack

# What the notebooks need beyond the Lambda functions' own dependencies.
COURSE_PACKAGES = ("boto3", "pandas", "pyarrow", "matplotlib", "mplfinance", "moto", "fakesnow", "papermill")
RECORD_MARKER = "recorded"
T = TypeVar("T")


def project_root() -> Path:
    """The repository the package was installed from (editable install), or the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


@dataclass(frozen=True)
class Environment:
    python: str
    packages: dict[str, str]
    stack: LocalStack

    def __str__(self) -> str:
        state = "was already running" if self.stack.already_running else "started now"
        lines = [
            f"Python {self.python} on {platform.system()}",
            "packages: " + ", ".join(f"{name} {v}" for name, v in self.packages.items()),
            f"local stack: {state} (S3/SNS/SQS on moto, Snowflake on fakesnow, SQL Server on SQLite)",
            f"  bucket {self.stack.bucket}, queues: {', '.join(sorted(self.stack.queues))}",
        ]
        return "\n".join(lines)


def check_environment(start_stack: bool = True, *, window_start: Any = None, **settings: Any) -> LocalStack:
    """Check the course's packages, start the local stack if it is not running, and point this process
    (settings, boto3 clients, the Lambda handlers) at it. Returns the stack.

    `settings` are Settings fields to set for this kernel, e.g. `universe_limit=5` (passed to the handlers with the
    stack's settings). `window_start` is the first scheduled minute the notebook runs the pipeline over: see
    `rewind_simulated_state`.
    """
    packages: dict[str, str] = {}
    missing = []
    for name in COURSE_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        raise RuntimeError(f"missing package(s) {', '.join(missing)}: run `make install` in the repository")

    from pipeline.settings import Settings
    from workbench.local import servers as local_stack
    from workbench.local.demo import use_stack

    # A kernel runs in notebooks/; the stack `make lab` or `make demo` started lives in the repository's .local.
    current = Settings() if os.environ.get(Env.LOCAL_DIR) else Settings(local_dir=project_root() / ".local")
    stack = local_stack.up(current) if start_stack else local_stack.status(current)
    if stack is None:
        raise RuntimeError("the local stack is not running: start it with `python -m pipeline local up`")
    use_stack(stack, **settings)
    if window_start is not None:
        rewind_simulated_state(stack, window_start)
    plain_rich_output()
    print(Environment(platform.python_version(), packages, stack))
    return stack


def rewind_simulated_state(stack: LocalStack, window_start: Any) -> tuple[str, ...]:
    """Let a notebook's window run as on a fresh stack, whatever ran on the stack before (another notebook's
    window, `make demo`, this notebook once already). Two state documents in the bucket carry one run over to the
    next, and are rewound here; returns the names of the documents removed.

    - Open Exchange Rates' quota state (`state/openexchangerates.json`): removed when it was last written for a
      minute at or after `window_start`. The quota guard never moves its document backwards, so without this a
      window earlier than the last one run would skip every rates minute. (Written for an earlier minute, it
      decides as a fresh stack would: the refresh period has passed.)
    - Yahoo's rotation state (`state/yahoo_finance.json`): always removed. Which share of the universe a minute
      asks for follows from the scheduled minute alone, but how far back each symbol's window reaches follows
      from the document: a symbol last fetched on another day counts as overdue, comes first, with a catch-up
      window of up to `MAX_CATCH_UP` (a demo's run the day before would make 00 read other bars).

    Only the local stack's simulated world is rewound, never an account's. A Yahoo document whose lease is live
    (an ingest run on this stack under way, e.g. `make demo` in another terminal) is left alone: RuntimeError.
    """
    from datetime import UTC, datetime

    from pipeline import aws
    from pipeline.contracts import to_utc
    from pipeline.sources.openexchangerates import QUOTA_STATE
    from pipeline.sources.yahoo_finance.budget import STATE_NAME as YAHOO_STATE
    from pipeline.sources.yahoo_finance.budget import YahooState
    from pipeline.state import S3State

    settings = stack.settings()
    s3 = aws.client("s3", settings)
    store = S3State(s3, settings.bucket)
    removed: list[str] = []
    doc = store.get(QUOTA_STATE) or {}
    written_for = doc.get("minute") or doc.get("last_call")
    if written_for and to_utc(written_for) >= to_utc(window_start):
        s3.delete_object(Bucket=settings.bucket, Key=store.key(QUOTA_STATE))
        removed.append(QUOTA_STATE)
    yahoo = YahooState.load(store)
    if yahoo.version is not None:
        lease = yahoo.lease
        if lease is not None and to_utc(lease["expires"]) > datetime.now(UTC):
            raise RuntimeError(
                f"an ingest run of yahoo_finance on this stack is under way (minute {lease.get('scheduled_at')}, "
                f"its lease ends {lease['expires']}): let it finish, then run this cell again"
            )
        s3.delete_object(Bucket=settings.bucket, Key=store.key(YAHOO_STATE))
        removed.append(YAHOO_STATE)
    return tuple(removed)


def plain_rich_output(width: int = 150) -> None:
    """Rich tables shown in a notebook: HTML for the eye, and a text copy without ANSI colour codes (which a
    stored notebook would otherwise keep as escape sequences), wide enough that no source name is cut."""
    import rich

    rich.reconfigure(color_system=None, width=width)


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field (`universe_limit` -> PIPELINE_UNIVERSE_LIMIT)."""
    from pydantic import AliasChoices

    from pipeline.settings import Settings

    info = Settings.model_fields.get(field)
    if info is None or not isinstance(info.validation_alias, AliasChoices):
        raise ValueError(f"{field!r} is not a setting: see pipeline/settings.py")
    return str(info.validation_alias.choices[0])


# Client libraries whose warnings a live call that cannot reach its service repeats (yfinance: "Cookie/crumb
# fetch failed (DNSError)" once per ticker); try_live's one line says the same once.
QUIET_DURING_LIVE_CALLS = ("yfinance",)


def try_live(call: Callable[[], T], timeout: float = 10.0) -> tuple[T | None, str]:
    """Run a live call with a time limit; returns (its result, "live") or (None, why it stepped aside).

    The course runs without network and without keys: a live call that cannot reach its service says so in
    one line and the notebook carries on with the simulated twin.
    """
    import logging

    loggers = [logging.getLogger(name) for name in QUIET_DURING_LIVE_CALLS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    try:
        return future.result(timeout=timeout), "live"
    except FutureTimeout:
        return None, f"no answer within {timeout:.0f} s (no network here?): using the simulated twin"
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"{type(exc).__name__}: {first}: using the simulated twin"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def record(**values: Any) -> None:
    """Print the values a notebook's test asserts on, as one JSON object (the last cell's output)."""
    print(json.dumps({RECORD_MARKER: values}, indent=1, sort_keys=True, default=str))


def recorded(notebook: Any) -> dict[str, Any]:
    """The values `record` printed in an executed notebook (an nbformat node), for the tests."""
    for cell in reversed(notebook.cells):
        if cell.cell_type != "code":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if RECORD_MARKER in text:
            return dict(json.loads(text[text.index("{") :])[RECORD_MARKER])
    raise ValueError("the notebook recorded nothing: its last cell should call workbench.course.record(...)")


# ---------------------------------------------------------------------------------------------------------
# Exercises: "Your turn" cells and their checkers
# ---------------------------------------------------------------------------------------------------------
# A notebook's exercise cell (tagged `exercise`) holds a stub, `answer = ...`, and ends with
# `check("02.raw_key", answer)`; the solution cell (tagged `solution`, collapsed) does the same with a right
# answer. A checker never raises: it says "right" or "not yet" and why, in one sentence, so a notebook run with a
# stub still runs to the end. Every expected value is computed from the package, never written down here.


class NotYet(Exception):
    """Raised by a checker when an answer is wrong; its message is the one sentence the learner reads."""


@dataclass(frozen=True)
class Verdict:
    """What a checker says about one answer: right or not, and why."""

    exercise: str
    ok: bool
    reason: str

    def __str__(self) -> str:
        return f"{'right' if self.ok else 'not yet'} ({self.exercise}): {self.reason}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        mark = "✅ **right**" if self.ok else "❌ **not yet**"
        return f"{mark} ({self.exercise}): {self.reason}"


@dataclass(frozen=True)
class Exercise:
    id: str
    task: str
    judge: Callable[..., str]  # returns why a right answer is right; raises NotYet with why a wrong one is not


EXERCISES: dict[str, Exercise] = {}
# The last verdict of each exercise checked in this process (a notebook records them for its test).
RESULTS: dict[str, bool] = {}


def exercise(exercise_id: str, task: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(judge: Callable[..., str]) -> Callable[..., str]:
        EXERCISES[exercise_id] = Exercise(exercise_id, task, judge)
        return judge

    return register


def is_stub(answer: Any) -> bool:
    """An answer still holding the exercise cell's placeholder (`...` or None, also inside a tuple, list or dict)."""
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(is_stub(v) for v in answer.values())
    if isinstance(answer, list | tuple):
        return any(is_stub(v) for v in answer)
    return False


def verdict(exercise_id: str, answer: Any, **context: Any) -> Verdict:
    """Judge `answer` to exercise `exercise_id` (with the notebook's `context`, if the exercise needs any)."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}: the exercises are {', '.join(sorted(EXERCISES))}")
    if is_stub(answer):
        result = Verdict(exercise_id, False, "replace the `...` with your answer, then run the cell again.")
    else:
        try:
            result = Verdict(exercise_id, True, EXERCISES[exercise_id].judge(answer, **context))
        except NotYet as exc:
            result = Verdict(exercise_id, False, str(exc))
        except Exception as exc:  # the learner's code failed inside the checker: say how, do not stop the notebook
            result = Verdict(exercise_id, False, f"your answer raised {type(exc).__name__}: {one_line_of(exc)}")
    RESULTS[exercise_id] = result.ok
    return result


def check(exercise_id: str, answer: Any, **context: Any) -> Verdict:
    """The exercise cells' last line: the verdict shows as the cell's output (it never raises)."""
    return verdict(exercise_id, answer, **context)


def results() -> dict[str, bool]:
    """Each exercise checked in this process, and whether its last answer was right."""
    return dict(sorted(RESULTS.items()))


def one_line_of(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _same(answer: Any, expected: Any, what: str) -> None:
    if answer != expected:
        raise NotYet(f"{what} is {expected!r}, not {answer!r}.")


def _callable(answer: Any, what: str) -> Callable[..., Any]:
    if not callable(answer):
        raise NotYet(f"the answer should be a function ({what}), not a {type(answer).__name__}.")
    return answer  # type: ignore[no-any-return]


# ----- 01 · Sources ------------------------------------------------------------------------------------------
@exercise("01.broken_price", "break the first coin's price on the page and predict what the parser does with it")
def _broken_price(answer: Any, *, original: Any = None, at: Any = "2026-11-04T14:45:00Z", **_: Any) -> str:
    from pipeline.contracts import to_utc
    from pipeline.sources import PayloadError, get_source

    if not isinstance(answer, dict) or not {"page", "predicted"} <= set(answer):
        raise NotYet('the answer should be a dict {"page": the broken page, "predicted": your prediction}.')
    page, predicted = answer["page"], answer["predicted"]
    if original is not None and getattr(page, "body", None) == getattr(original, "body", None):
        raise NotYet("the page is the original one: change the first coin's price in `page.body` first.")
    minute = to_utc(at)
    try:
        rows = get_source("coinmarketcap").parse(page, scheduled_at=minute, ingested_at=minute)
    except PayloadError as exc:  # the layout itself is broken (not one price): the whole page is refused
        said = str(exc)
        if isinstance(predicted, str) and predicted.strip() and predicted.strip().lower() in said.lower():
            return f"the parser refused the whole page, whose layout it cannot read: {said}"
        raise NotYet(
            f"this page broke more than a price: the parser refused it whole ({said!r}); break only the first "
            "coin's price, or predict a few words of that message."
        ) from None
    if not rows:
        raise NotYet("the parser found no coin on this page: break the first coin's price, not the listing.")
    first, kept = rows[0], sum(r["status"] == "success" for r in rows)
    if first["status"] == "success":
        raise NotYet(
            f"the parser still reads the first coin's price ({first['price_usd']!r}): write it in a form the page "
            "never uses (the European `$72.720,05`, say), and remove `__NEXT_DATA__` so the table is read."
        )
    status, count = _status_and_count(predicted)
    name = first["symbol"] or "the first coin"
    if status is None:
        if isinstance(predicted, int | float) and not isinstance(predicted, bool):
            raise NotYet(
                f"the parser read no price for {name}: a price it cannot read is never stored as another number; "
                'predict ("error" or "success" for its row, how many success rows) instead.'
            )
        if isinstance(predicted, str):
            raise NotYet(
                "the parser did not refuse the page (one unreadable price is not a broken layout): predict "
                '("error" or "success" for the first coin\'s row, how many success rows) instead.'
            )
        raise NotYet('predict a pair: ("error" or "success" for the first coin\'s row, how many success rows).')
    if status != "error":
        raise NotYet(f"{name}'s row is not a success row: a price the parser cannot read is never written as one.")
    if count != kept:
        if count == 0:
            raise NotYet(
                "a bad value costs only itself: one unreadable price does not cost the page, the other coins are read."
            )
        if count == len(rows):
            raise NotYet(f"{name}'s error row is not a success row: count only the coins read as before.")
        raise NotYet(f"count the success rows again: the page lists {len(rows)} coins and only {name}'s was broken.")
    return (
        f"{name} became an error row ({first['error']}) and the {kept} other coins stayed success rows: "
        "a bad value costs only itself, and a price the parser cannot read is never written as another number."
    )


def _status_and_count(predicted: Any) -> tuple[str | None, int | None]:
    """("error", 9), ["Error", "9"] or {"status": "error", "success_rows": 9}: the status predicted for the first
    coin's row and the number of success rows; (None, None) for any other form."""
    if isinstance(predicted, dict):
        predicted = (predicted.get("status"), predicted.get("success_rows"))
    if not isinstance(predicted, list | tuple) or len(predicted) != 2 or not isinstance(predicted[0], str):
        return None, None
    status = predicted[0].strip().lower().removesuffix(" row").strip()
    count = predicted[1]
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral | float) or count != int(count):
        return status, None
    return status, int(count)


@exercise("01.monthly_calls", "how many calls a month a one-minute poll makes in a 31-day month")
def _monthly_calls(answer: Any, **_: Any) -> str:
    expected = 31 * 24 * 60
    if answer == 30 * 24 * 60:
        raise NotYet("that is a 30-day month: the question asks for 31 days.")
    _same(answer, expected, "31 days x 24 hours x 60 minutes")
    return f"{expected:,} calls, {expected // 1000} times the free plan's 1,000."


@exercise("01.quota_spacing", "the fewest whole minutes between calls that keep a 31-day month within 1,000 calls")
def _quota_spacing(answer: Any, **_: Any) -> str:
    import math

    minutes = 31 * 24 * 60
    expected = math.ceil(minutes / 1000)
    if isinstance(answer, int | float) and answer < expected:
        raise NotYet(f"one call every {answer} minutes is {math.ceil(minutes / answer):,} calls in 31 days: too many.")
    _same(answer, expected, "the shortest spacing")
    return f"one call every {expected} minutes is {math.ceil(minutes / expected):,} calls in 31 days."


# ----- 02 · The raw layer ---------------------------------------------------------------------------------
@exercise("02.raw_key", "the raw key of yahoo_finance's 23:59 on 31 December 2026")
def _raw_key(answer: Any, **_: Any) -> str:
    from datetime import UTC, datetime

    from pipeline.contracts import raw_key

    expected = raw_key("yahoo_finance", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    if not isinstance(answer, str):
        raise NotYet(f"a key is a string like 'raw/<source>/YYYY/MM/DD/HHMM.csv', not a {type(answer).__name__}.")
    if answer.strip() != answer or answer.startswith("/") or answer.startswith("s3://"):
        raise NotYet("a key has no bucket, no leading slash and no spaces: it starts with 'raw/'.")
    if answer != expected:
        want, got = expected.split("/"), answer.split("/")
        names = ["prefix", "source", "year", "month", "day", "file name (HHMM.csv, the minute in UTC)"]
        wrong = next((n for n, w, g in zip(names, want, got, strict=False) if w != g), "number of parts")
        raise NotYet(f"the {wrong} is wrong: compare with raw/<source>/YYYY/MM/DD/HHMM.csv.")
    return f"{expected}: the minute in UTC, year, month and day as folders, so keys sort by time."


class _Head:
    """A stand-in for S3 holding at most one object, enough for `write_raw` to decide (02.keeps_existing)."""

    class exceptions:  # the boto3 client's attribute name
        from botocore.exceptions import ClientError

    def __init__(self, success_rows: int | None) -> None:
        from pipeline.constants import META_ROWS, META_SUCCESS_ROWS

        count = str(success_rows)
        self.meta = None if success_rows is None else {META_ROWS: count, META_SUCCESS_ROWS: count}
        self.put = False

    def head_object(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if self.meta is None:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"Metadata": self.meta, "ETag": '"old"'}

    def put_object(self, **_: Any) -> dict[str, Any]:
        self.put = True
        return {"ETag": '"new"'}


def _write_raw_keeps(had: int, new: int) -> bool:
    from pipeline.raw import write_raw

    s3: Any = _Head(had)  # a stand-in for the S3 client: only head_object and put_object
    rows = [{"symbol": f"S{i}", "status": "success"} for i in range(new)] + [{"symbol": "X", "status": "error"}]
    return write_raw(s3, "bucket", "raw/yahoo_finance/2026/11/02/1530.csv", "yahoo_finance", rows).kept_existing


@exercise("02.keeps_existing", "a function keeps(had, new) that says when write_raw keeps the object already there")
def _keeps_existing(answer: Any, **_: Any) -> str:
    keeps = _callable(answer, "keeps(had, new) -> bool")
    for had, new in ((5, 3), (5, 5), (3, 5), (0, 0), (1, 0), (503, 20)):
        expected = _write_raw_keeps(had, new)
        if bool(keeps(had, new)) != expected:
            does = "keeps the existing object" if expected else "writes the new one"
            raise NotYet(f"with {had} success rows there and {new} in the new fetch, write_raw {does}.")
    return "write_raw keeps the object only when it holds more success rows than the new fetch; a tie writes anew."


# ----- 03 · Fan-out ----------------------------------------------------------------------------------------
_PUBLISHES = {
    "the same object published again": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"'),
    "the same key with new content": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e2"'),
    "the next minute's object": ("market-data", "raw/yahoo_finance/2026/11/02/1601.csv", '"e1"'),
    "the same object, its ETag without quotes": ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", "e1"),
}


def publishes() -> dict[str, tuple[str, str, str]]:
    """The publishes of exercise 03.dropped, (bucket, key, ETag) by label, each after the first publish of
    ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"')."""
    return dict(_PUBLISHES)


@exercise("03.dropped", "which publishes, within five minutes of the first, SQS FIFO drops as duplicates")
def _dropped(answer: Any, **_: Any) -> str:
    from pipeline.contracts import deduplication_id

    if not isinstance(answer, dict) or set(answer) != set(_PUBLISHES):
        raise NotYet("the answer should be a dict: each of course.publishes() -> True (dropped) or False.")
    first = deduplication_id("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"')
    for label, (bucket, key, etag) in _PUBLISHES.items():
        dropped = deduplication_id(bucket, key, etag) == first
        if bool(answer[label]) != dropped:
            how = "has the same deduplication id, so it is dropped" if dropped else "has a new id and is delivered"
            raise NotYet(f"{label} {how} (the id hashes bucket, key and the ETag without its quotes).")
    return "only the same bucket, key and content give the same id; new content, or another minute, is delivered."


@exercise("03.dlq_max1", "with maxReceiveCount 1, the receive count a message never answered has in the DLQ")
def _dlq_max1(answer: Any, *, measured: int | None = None, **_: Any) -> str:
    # One delivery (count 1); the next receive finds the count past the limit and moves the message instead.
    expected = 2 if measured is None else measured
    if answer == 1:
        raise NotYet("the receive that finds the count past the limit, and moves the message, counts too.")
    _same(answer, expected, "the receive count in the DLQ")
    return "maxReceiveCount + 1: the deliveries, then the receive at which SQS moved it instead of delivering it."


# ----- 04 · Processing ------------------------------------------------------------------------------------
def _bar_row(**changes: Any) -> dict[str, Any]:
    row = {"symbol": "AAPL", "ts": "2026-11-02T14:44:00Z", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5}
    return {**row, "volume": 100, **changes}


@exercise("04.volume_validator", "a row validator that refuses a negative volume and accepts what the pipeline accepts")
def _volume_validator(answer: Any, **_: Any) -> str:
    from pydantic import ValidationError

    from pipeline.schemas import Bar

    validate = _callable(answer, "validate(row) that raises ValueError for a bad row")
    cases = {"a good bar": _bar_row(), "a zero volume": _bar_row(volume=0), "a volume of -1": _bar_row(volume=-1),
             "a volume of -500": _bar_row(volume=-500), "a large volume": _bar_row(volume=10**9)}  # fmt: skip
    for label, row in cases.items():
        try:
            Bar.model_validate(row)
            pipeline_ok = True
        except ValidationError:
            pipeline_ok = False
        try:
            validate(dict(row))
            yours_ok = True
        except ValueError:
            yours_ok = False
        if yours_ok != pipeline_ok:
            said = "accepts" if pipeline_ok else "refuses"
            raise NotYet(f"for {label} the pipeline's Bar model {said} the row, and your validator does not.")
    return "it agrees with pipeline.schemas.Bar (volume: int = Field(ge=0)) on zero, negative and large volumes."


def fifo_reported(ids: list[str], failing: str) -> list[str]:
    """The ids Powertools' SqsFifoPartialProcessor reports failed for a batch in which `failing` fails."""
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    from workbench.local.runtime import sqs_event

    messages = [
        {"MessageId": i, "ReceiptHandle": f"handle-{i}", "Body": "{}", "Attributes": {"MessageGroupId": "g"}}
        for i in ids
    ]

    def handler(record: Any) -> None:
        if record.message_id == failing:
            raise ValueError("poison")

    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:yahoo_finance.fifo")
    response = process_partial_response(
        event=event, record_handler=handler, processor=SqsFifoPartialProcessor(), context=None
    )
    return [str(f["itemIdentifier"]) for f in response["batchItemFailures"]]


BATCH = ["m1", "m2", "m3", "m4", "m5"]


@exercise("04.fifo_reported", "the ids reported failed for the batch m1..m5 in which m3 fails")
def _fifo_reported(answer: Any, **_: Any) -> str:
    expected = fifo_reported(BATCH, "m3")
    if answer == ["m3"]:
        raise NotYet("in a FIFO queue the records after a failure are not tried: they are reported failed too.")
    _same(list(answer) if isinstance(answer, list | tuple) else answer, expected, "the list of reported ids")
    return f"{expected}: the failure and everything after it in the group come back, in order."


# ----- 05 · Sinks -----------------------------------------------------------------------------------------
@exercise("05.natural_keys", "the natural key (the fields that identify a row in its sink) of each source")
def _natural_keys(answer: Any, **_: Any) -> str:
    from pipeline import registry

    if not isinstance(answer, dict):
        raise NotYet("the answer should be a dict {source id: the key's field names}.")
    expected = {spec.id: tuple(spec.natural_key) for spec in registry.specs()}
    missing = sorted(set(expected) - set(answer))
    if missing:
        raise NotYet(f"give a key for every source: {', '.join(missing)} is missing.")
    for source, key in expected.items():
        given = tuple(answer[source]) if isinstance(answer[source], list | tuple) else answer[source]
        if given != key:
            hint = "one of its fields is missing, or extra, or out of order"
            if registry.get(source).keyed_by_object:
                hint = "its sink writes one object per raw object, so the minute is in the object's key, not the row's"
            raise NotYet(f"{source}'s natural key is not {given!r}: {hint}.")
    return "; ".join(f"{s}: ({', '.join(k)})" for s, k in expected.items()) + "."


_COIN_TABLE = "CREATE TABLE {name} (SYMBOL VARCHAR, SCHEDULED_AT TIMESTAMP, PRICE_USD DOUBLE, RAW_KEY VARCHAR)"


def _run_merge(sql: str) -> list[tuple[Any, ...]] | str:
    """Run a coin MERGE (COINS_STAGE into COINS) through the cases that matter; the first broken case, or the rows."""
    import duckdb

    db = duckdb.connect()
    db.execute(_COIN_TABLE.format(name="COINS"))
    db.execute(_COIN_TABLE.format(name="COINS_STAGE"))

    def load(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        db.execute("DELETE FROM COINS_STAGE")
        if rows:
            db.executemany("INSERT INTO COINS_STAGE VALUES (?, ?, ?, ?)", rows)
        db.execute(sql)
        return db.execute("SELECT * FROM COINS ORDER BY SYMBOL, SCHEDULED_AT").fetchall()

    first = [("BTC", "2026-11-02 14:45:00", 72720.05, "raw/coinmarketcap/2026/11/02/1445.csv"),
             ("ETH", "2026-11-02 14:45:00", 3900.10, "raw/coinmarketcap/2026/11/02/1445.csv")]  # fmt: skip
    if len(load(first)) != 2:
        return "loading two new coins into an empty table should insert both"
    if len(load(first)) != 2:
        return "loading the same file twice should leave one row per (symbol, scheduled_at)"
    later = [("BTC", "2026-11-02 14:45:00", 72800.00, "raw/coinmarketcap/2026/11/02/1445.csv~fix")]
    if dict((r[0], r[2]) for r in load(later))["BTC"] != 72800.00:
        return "a row from a raw key at least as recent should update the price"
    older = [("BTC", "2026-11-02 14:45:00", 1.0, "raw/coinmarketcap/2026/11/01/0000.csv")]
    if dict((r[0], r[2]) for r in load(older))["BTC"] != 72800.00:
        return "a replay of an older raw key must not undo a later correction (compare RAW_KEY)"
    return db.execute("SELECT * FROM COINS ORDER BY SYMBOL, SCHEDULED_AT").fetchall()


@exercise("05.coin_merge", "a MERGE of COINS_STAGE into COINS on (SYMBOL, SCHEDULED_AT), replay-safe by RAW_KEY")
def _coin_merge(answer: Any, **_: Any) -> str:
    if not isinstance(answer, str) or "merge" not in answer.lower():
        raise NotYet("the answer should be the text of one MERGE INTO COINS ... USING COINS_STAGE ... statement.")
    outcome = _run_merge(answer)
    if isinstance(outcome, str):
        raise NotYet(f"run on a test table, your MERGE breaks a rule: {outcome}.")
    return "idempotent, atomic (one statement) and replay-safe: it inserts new coins, updates from newer raw keys only."


# ----- 06 · Layers ----------------------------------------------------------------------------------------
@exercise("06.runtime_provided", "which of these packages a layer drops because the Lambda runtime has them")
def _runtime_provided(answer: Any, *, candidates: tuple[str, ...] = (), **_: Any) -> str:
    from workbench.deploy.functions import RUNTIME_PROVIDED

    asked = set(candidates) or {"boto3", "pandas", "botocore", "pyarrow", "s3transfer", "pydantic"}
    if not isinstance(answer, set | frozenset | list | tuple):
        raise NotYet("the answer should be a set of package names.")
    expected = asked & RUNTIME_PROVIDED
    wrong = sorted(set(answer) - expected)
    if wrong:
        raise NotYet(f"{wrong[0]} is not part of the runtime: a function that imports it needs it in its layer.")
    missing = sorted(expected - set(answer))
    if missing:
        raise NotYet(f"{missing[0]} comes with the Python runtime too: its layer does not ship it.")
    return f"{', '.join(sorted(expected))}: the AWS SDK and what it needs, which every Python runtime has."


@exercise("06.heaviest", "the function closest to Lambda's 250 MB limit, and its MB to spare (whole MB)")
def _heaviest(answer: Any, *, sizes: Any = None, **_: Any) -> str:
    from workbench.deploy.sizes import UNZIPPED_LIMIT

    table = sizes if sizes is not None else measured_layer_sizes()["functions"]
    rows = [dict(r) for r in (table.to_dict("records") if hasattr(table, "to_dict") else table)]
    top = max(rows, key=lambda r: r["code_unzipped"] + r["layer_unzipped"])
    spare = (UNZIPPED_LIMIT - top["code_unzipped"] - top["layer_unzipped"]) / 2**20
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise NotYet('the answer should be a pair ("function name", MB to spare).')
    name, mb = answer
    if name != top["function"]:
        raise NotYet(f"{name} is not the heaviest: add code and layer, unzipped, for each function.")
    if not isinstance(mb, int | float) or abs(mb - spare) > 1:
        raise NotYet(f"the spare room is the limit ({UNZIPPED_LIMIT / 2**20:.0f} MB) minus code and layer, unzipped.")
    return f"{top['function']}, with {spare:.0f} MB to spare."


# ----- 07 · Deploy ----------------------------------------------------------------------------------------
def resources_created(parameters: dict[str, str] | None = None) -> dict[str, int]:
    """The resources a deploy with `parameters` creates (Conditions evaluated), counted by type."""
    from collections import Counter

    from workbench.cloudformation.template import Template

    template = Template.load(parameters=parameters or {})
    return dict(Counter(resource["Type"] for _, resource in template.resources()))


@exercise("07.default_deploy", "the resources a deploy with the default parameters creates, and its RDS instances")
def _default_deploy(answer: Any, **_: Any) -> str:
    created = resources_created()
    total, rds = sum(created.values()), created.get("AWS::RDS::DBInstance", 0)
    if not isinstance(answer, dict) or set(answer) != {"resources", "rds_instances"}:
        raise NotYet('the answer should be a dict {"resources": n, "rds_instances": n}.')
    if answer["rds_instances"] != rds:
        raise NotYet("the RDS instance has `Condition: CreateSqlServerInstance`; CreateSqlServer defaults to false.")
    if answer["resources"] != total:
        raise NotYet(f"{answer['resources']} is not it: count only the resources whose Condition holds by default.")
    return f"{total} resources and {rds} RDS instance: the optional SQL Server costs nothing unless asked for."


@exercise("07.sqlserver_extra", "how many more resources CreateSqlServer=true adds, counted from the template")
def _sqlserver_extra(answer: Any, **_: Any) -> str:
    extra = sum(resources_created({"CreateSqlServer": "true"}).values()) - sum(resources_created().values())
    _same(answer, extra, "the number of extra resources")
    return f"{extra} more: the RDS instance and the network, security group and secret it needs."


# ----- 08 · Analysis ---------------------------------------------------------------------------------------
def _frame(answer: Any, what: str) -> Any:
    import pandas as pd

    if not isinstance(answer, pd.DataFrame):
        raise NotYet(f"the answer should be a pandas DataFrame ({what}), not a {type(answer).__name__}.")
    return answer


@exercise("08.log_returns", "one-minute log returns of the price panel, by hand")
def _log_returns(answer: Any, *, prices: Any, **_: Any) -> str:
    import numpy as np
    import pandas as pd

    returns = _frame(answer, "one column per instrument, one row per minute after the first")
    expected = np.log(prices / prices.shift(1)).iloc[1:]
    if returns.shape != expected.shape:
        if len(returns) == len(prices):
            raise NotYet("the first minute has no return (no price before it): drop it.")
        raise NotYet(f"expected {expected.shape[0]} minutes x {expected.shape[1]} instruments, got {returns.shape}.")
    simple = (prices / prices.shift(1) - 1).iloc[1:]
    close = np.isclose(returns.to_numpy(float), expected.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)
    if not close.all():
        if np.isclose(returns.to_numpy(float), simple.to_numpy(float), equal_nan=True).all():
            raise NotYet("those are simple returns p_t / p_(t-1) - 1: take the logarithm of the ratio instead.")
        raise NotYet("some returns differ from ln(p_t / p_(t-1)): check the order of the division.")
    pd.testing.assert_index_equal(returns.index, expected.index)
    return "ln(p_t / p_(t-1)) per minute; they add up: the sum is the log return of the whole window."


@exercise("08.resample", "5-minute OHLCV candles of one stock's 1-minute bars, by hand")
def _resample(answer: Any, *, bars: Any, symbol: str, **_: Any) -> str:
    import numpy as np

    candles = _frame(answer, "indexed by the 5-minute period's start, columns open, high, low, close, volume")
    one = bars[bars["symbol"] == symbol].set_index("ts").sort_index()
    expected = (
        one.resample("5min")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
    )
    columns = [c.lower() for c in candles.columns]
    if sorted(columns) != sorted(expected.columns):
        given = ", ".join(map(str, candles.columns))
        raise NotYet(f"the columns should be {', '.join(expected.columns)}, not {given}.")
    candles = candles.set_axis(columns, axis=1)[list(expected.columns)]
    if len(candles) != len(expected):
        raise NotYet(f"{len(expected)} five-minute periods hold bars of {symbol}, your answer has {len(candles)}.")
    for column, rule in (("open", "first"), ("high", "max"), ("low", "min"), ("close", "last"), ("volume", "sum")):
        if not np.allclose(candles[column].to_numpy(float), expected[column].to_numpy(float)):
            raise NotYet(f"a 5-minute {column} is the {rule} of its 1-minute {column}s.")
    return "open first, high max, low min, close last, volume summed: how every bar API builds longer bars."


@exercise("08.annualise", "annualise a one-minute standard deviation of 2 bp for a stock and for a coin (in %)")
def _annualise(answer: Any, **_: Any) -> str:
    import math

    from workbench.analysis import MINUTES_PER_YEAR

    expected = {kind: 100 * 2e-4 * math.sqrt(MINUTES_PER_YEAR[kind]) for kind in ("stock", "crypto")}
    if not isinstance(answer, dict) or set(answer) != set(expected):
        raise NotYet('the answer should be a dict {"stock": %, "crypto": %}.')
    for kind, value in expected.items():
        if not isinstance(answer[kind], int | float) or abs(answer[kind] - value) > 0.05:
            raise NotYet(
                f"for {kind}, multiply 2 bp by the square root of its trading minutes a year "
                f"({MINUTES_PER_YEAR[kind]:,}), then express it in %."
            )
    ratio = expected["crypto"] / expected["stock"]
    stock, crypto = expected["stock"], expected["crypto"]
    return f"stock {stock:.1f} %, crypto {crypto:.1f} %: the same minute, {ratio:.2f}x the year."


# ----- measured sizes (06) ---------------------------------------------------------------------------------
LAYER_SIZES = Path(__file__).resolve().parent / "data" / "layer_sizes.json"
# Files of a package that one layer for everything could leave out (the Parquet sink's pyarrow is the largest).
HEAVIEST_OPTIONAL = "pyarrow"


def measured_layer_sizes(path: Path = LAYER_SIZES) -> dict[str, Any]:
    """The sizes `python -m pipeline layer build` measured for every function, with the date of the build:
    what notebook 06 shows when there is no full build on this machine (`record_layer_sizes` writes the file)."""
    return dict(json.loads(path.read_text()))


def measured_function_sizes(measured: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every function of the function table with its size from the measured layers: a function's package is the
    code package (one for all) plus its layer, so a function added since the build that shares a measured layer
    has a measured size too. A function whose layer was not measured is an error that says how to measure it."""
    from workbench.deploy.functions import all_functions

    sizes = measured or measured_layer_sizes()
    code, layers = sizes["code"], sizes["layers"]
    missing = sorted({f.layer_name for f in all_functions()} - set(layers))
    if missing:
        raise RuntimeError(
            f"{LAYER_SIZES.name} measured no {', '.join(missing)}: run `python -m pipeline layer build` and "
            "`python -m pipeline course layer-sizes`"
        )
    return [
        {
            "function": f.name,
            "handler": f.handler,
            "layer": f.layer_name,
            "code_unzipped": code["unzipped"],
            "layer_unzipped": layers[f.layer_name]["unzipped"],
            "code_zipped": code["zipped"],
            "layer_zipped": layers[f.layer_name]["zipped"],
        }
        for f in all_functions()
    ]


IMPORT_TIMES = project_root() / "benchmarks" / "results" / "importtime.md"


def measured_import_times(path: Path = IMPORT_TIMES) -> dict[str, Any]:
    """What `make bench` (benchmarks/bench_importtime.py) measured: the date, the Python that ran it, and per
    function the import time from its built layer with the bytecode it ships and without (ms); {} without the
    file. Notebook 06 quotes it."""
    import re

    if not path.is_file():
        return {}
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("| function | modules |")]
    if not header:
        return {}
    columns = [c.strip() for c in header[0].strip("|").split("|")]
    with_bytecode, without = columns.index("layer total"), columns.index("layer total, no bytecode")
    functions: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(columns) and re.fullmatch(r"[a-z]+-[a-z_]+", cells[0]):
            try:
                functions[cells[0]] = {
                    "with_bytecode_ms": float(cells[with_bytecode].replace(",", "")),
                    "without_bytecode_ms": float(cells[without].replace(",", "")),
                }
            except ValueError:  # a table of another benchmark, or no layer measured
                continue
    on = re.search(r"Measured (\d{4}-\d{2}-\d{2})", text)
    python = re.search(r"\(Python (\d+\.\d+)", text)
    return {"on": on.group(1) if on else None, "python": python.group(1) if python else None, "functions": functions}


def _one_layer(zips: list[Path]) -> dict[str, int]:
    """Unzipped bytes of one layer holding every function's dependencies: the union of the layers' files (the
    same pinned wheels, so a path shared by two layers holds the same file), with and without pyarrow."""
    import zipfile

    files: dict[str, int] = {}
    for path in zips:
        with zipfile.ZipFile(path) as archive:
            files.update({i.filename: i.file_size for i in archive.infolist() if not i.is_dir()})
    top = (name.split("/")[1] if name.startswith("python/") else name.split("/")[0] for name in files)
    optional = [
        size
        for name, size, first in zip(files, files.values(), top, strict=True)
        if first == HEAVIEST_OPTIONAL or first.startswith((f"{HEAVIEST_OPTIONAL}-", f"{HEAVIEST_OPTIONAL}."))
    ]
    total = sum(files.values())
    return {"unzipped": total, f"unzipped_without_{HEAVIEST_OPTIONAL}": total - sum(optional)}


def record_layer_sizes(build_dir: Path | None = None, out: Path = LAYER_SIZES, *, on: Any = None) -> dict[str, Any]:
    """Write `workbench/data/layer_sizes.json` from a full `python -m pipeline layer build` in `build_dir`
    (default: the build's own folder): its `sizes.json`, the date, the runtime and the Python that compiled the
    bytecode, and the size one layer for everything would have. Refuses a build that lacks a function of the
    function table, or whose bytecode came from no Python of the runtime's version (the sizes would not be those
    of a deploy). `python -m pipeline course layer-sizes` runs it."""
    from datetime import UTC, datetime

    from workbench.deploy.build import DEFAULT_OUT, SIZES_FILE
    from workbench.deploy.functions import all_functions
    from workbench.deploy.runtime import lambda_runtime

    folder = build_dir or DEFAULT_OUT
    sizes_path = folder / SIZES_FILE
    if not sizes_path.is_file():
        raise RuntimeError(f"no {sizes_path}: run `python -m pipeline layer build` first (every function)")
    built = json.loads(sizes_path.read_text())
    wanted = {f.name for f in all_functions()}
    have = {entry["function"] for entry in built.get("functions", [])}
    if wanted - have:
        raise RuntimeError(
            f"{sizes_path} lacks {', '.join(sorted(wanted - have))}: build every function, "
            "`python -m pipeline layer build` without --function"
        )
    runtime = lambda_runtime(str(built.get("runtime")))
    bytecode_by = str(built.get("bytecode_by") or "")
    if f"Python {runtime.python_version}" not in bytecode_by and f"python{runtime.python_version}" not in bytecode_by:
        raise RuntimeError(
            f"{sizes_path}: the bytecode was compiled by {bytecode_by or 'no Python'}, not {runtime.name}'s: "
            "`make runtime-root` or set PIPELINE_RUNTIME_PYTHON, then build again"
        )
    day = (on or datetime.now(UTC)).strftime("%Y-%m-%d") if not isinstance(on, str) else on
    document = {
        "measured": {
            "on": day,
            "by": "python -m pipeline layer build",
            "runtime": runtime.name,
            "python": runtime.python_version,
            "bytecode_by": bytecode_by,
            "note": "a full build of every function's layer from PyPI; notebook 06 shows these sizes when no full "
            "build is on the machine. Regenerate: python -m pipeline layer build && "
            "python -m pipeline course layer-sizes",
        },
        **{k: v for k, v in built.items() if k not in ("runtime", "bytecode_by")},
        "one_layer": _one_layer([folder / entry["zip"] for entry in built["layers"].values()]),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    return document


# ----- refreshing the committed notebooks (`make notebooks`) ------------------------------------------------
ANSI_ESCAPE_PATTERN = r"\x1b\[[0-9;]*[A-Za-z]"
SOLUTION_TAG = "solution"
OUTPUT_NOISE = ("Kernel is running over TCP", "Cookie/crumb fetch failed", "Traceback (most recent call last)")
# The kernel the tests and `make notebooks` run: the interpreter running them (the project's .venv), whatever
# the notebook's metadata names; the stored metadata keeps the kernel `make install` registers.
KERNEL = "python3"
NOTEBOOK_TIMEOUT_SECONDS = 900


def course_notebooks(directory: Path | None = None) -> list[Path]:
    """The course's numbered notebooks, in order."""
    return sorted((directory or project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def output_texts(notebook: Any) -> list[tuple[int, str]]:
    """(cell index, text) of every stored output of a notebook (nbformat node); an error output as a traceback."""
    texts: list[tuple[int, str]] = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                texts.append((index, "Traceback (most recent call last): " + output.get("ename", "")))
            for text in [output.get("text", ""), *(str(v) for v in output.get("data", {}).values())]:
                texts.append((index, "".join(text) if isinstance(text, list) else text))
    return texts


def output_problems(notebook: Any) -> list[str]:
    """What a learner should not read in stored outputs: tracebacks, ANSI colour codes, the kernel's TCP warning,
    a client library's network noise, a Rich table that cut a source's name. One line each; [] when clean."""
    import re

    ansi = re.compile(ANSI_ESCAPE_PATTERN)
    problems = []
    for index, text in output_texts(notebook):
        found = [n for n in OUTPUT_NOISE if n in text]
        if ansi.search(text):
            found.append("an ANSI escape")
        if "openexchange…" in text:
            found.append("a Rich table that cut a source's name")
        problems += [f"cell {index}: {what}" for what in found]
    for index, cell in enumerate(notebook.cells):  # an answer is read only by one who opens and runs it
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []) and cell.get("outputs"):
            problems.append(f"cell {index}: a solution's output")
    return sorted(problems, key=lambda p: int(p.split(":")[0].split()[1]))


def execute_notebook(path: Path, timeout: int = NOTEBOOK_TIMEOUT_SECONDS, **parameters: Any) -> Any:
    """Run a notebook top to bottom in a kernel over IPC, in its folder, as the tests do; the executed notebook
    (nbformat node) with its metadata as committed. `parameters` replace the values of the parameters cell."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    kept = {k: notebook.metadata[k] for k in ("kernelspec", "language_info") if k in notebook.metadata}
    if parameters:
        cell = next(c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", []))
        cell.source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(path.parent)}},
        record_timing=False, config=kernel_config(),
    )  # fmt: skip
    client.execute()
    notebook.metadata.update(kept)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesced_streams(cell.outputs)
    return notebook


def hide_solutions(notebook: Any) -> Any:
    """The notebook (nbformat node) with its solution cells' outputs removed: a committed notebook shows no answer
    and no verdict on one; the learner sees them by running the solution once they have tried."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs, cell.execution_count = [], None
    return notebook


def coalesced_streams(outputs: list[Any]) -> list[Any]:
    """A cell's outputs with consecutive pieces of one stream joined: the kernel sends a cell's prints in pieces
    that depend on timing, so the stored notebook would change from run to run without it."""
    joined: list[Any] = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            joined.append(output)
    return joined


def refresh_notebooks(
    paths: list[Path] | None = None, *, report: Callable[[str], None] = print, timeout: int = NOTEBOOK_TIMEOUT_SECONDS
) -> list[Path]:
    """Re-execute the course's notebooks in place, in order, on a fresh local stack of their own (a temporary
    folder: the repository's `.local` stack and data are not touched), and write each one back only if it ran to
    the end with clean outputs (`output_problems`). What `make notebooks` runs. Returns the notebooks written."""
    import shutil
    import tempfile
    import time
    from unittest import mock

    import nbformat
    from nbclient.exceptions import CellExecutionError

    from pipeline.settings import Settings
    from workbench.local import servers

    chosen = paths or course_notebooks()
    local_dir = Path(tempfile.mkdtemp(prefix="pipeline-notebooks-"))
    settings = Settings(local_dir=local_dir)
    stack = servers.up(settings, aws_port=0, snowflake_port=0)
    env = {**stack.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"}  # the kernels inherit this process's environment
    written = []
    try:
        with mock.patch.dict(os.environ, env):
            report(f"a fresh local stack in {local_dir}")
            for path in chosen:
                began = time.monotonic()
                try:
                    notebook = hide_solutions(execute_notebook(path, timeout))
                except CellExecutionError as exc:
                    failed = f"{exc.ename}: {exc.evalue}"
                    raise RuntimeError(f"{path.name}: a cell failed, so it is not written: {failed}") from None
                problems = output_problems(notebook)
                if problems:
                    raise RuntimeError(f"{path.name}: not written, its outputs hold {'; '.join(problems[:3])}")
                nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
                written.append(path)
                report(f"{path.name}: executed and written ({time.monotonic() - began:.0f} s)")
    finally:
        servers.down(settings, keep=False)
        shutil.rmtree(local_dir, ignore_errors=True)
    return written
