"""The local runtime: what EventBridge, Lambda and the SQS event source mappings do in AWS, on a virtual clock.

It calls the same handler functions that Lambda calls, with Lambda-shaped events:

- the schedule: every scheduled minute, one EventBridge `Scheduled Event` per source to its ingest handler
  (a failed asynchronous invocation is retried twice, as Lambda does);
- the event source mapping: each queue is polled in batches of at most 10; a batch goes to the process handler;
  records it reports in `batchItemFailures` (or the whole batch, if the handler raises) stay on the queue and
  become visible again when their visibility timeout has passed on the virtual clock; the others are deleted.
  FIFO order per message group and the redrive to the dead-letter queue after `maxReceiveCount` receives are
  the queue's own (the moto server implements both);
- `ChangeMessageVisibility(Batch)` calls a handler makes (the process functions' back-off) are honoured on the
  virtual clock: the record becomes visible again `VisibilityTimeout` virtual seconds after its delivery (the
  real timeout sent to moto is the longest SQS allows, so wall-clock time never releases it early);
- the scheduled redrive (`pipeline.redrive.auto_redrive`, the redrive functions' code) runs on the template's
  `RedriveSchedule` (rate(5 minutes)): what reached a dead-letter queue goes back to its queue once its sink
  answers a health probe;
- the scheduled compaction (`pipeline.handlers.compact`, the compaction function) runs on the template's
  `CompactionSchedule` (rate(1 hour)) when the run includes a source whose sink is the processed Parquet area:
  each finished day's per-minute objects merged into one file.

The events are built by `workbench.local.events` and the run's report is `workbench.local.run_report.RunReport`
(both also importable from here).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.constants import SourceId
from pipeline.contracts import Event, floor_minute, iso
from pipeline.registry import source_ids
from workbench.cloudformation.template import compaction_period, redrive_period
from workbench.local.events import scheduled_event as scheduled_event  # the events, also from here (notebooks)
from workbench.local.events import sqs_event as sqs_event
from workbench.local.processes import LocalStackError
from workbench.local.run_report import RunReport as RunReport
from workbench.local.run_report import SourceStats

BATCH_SIZE = 10
REAL_VISIBILITY_SECONDS = 36_000  # what moto is told when a handler changes a visibility (virtual time decides)
INGEST_ATTEMPTS = 3  # one invocation and Lambda's two retries of an asynchronous invocation


def _event_key(body: str) -> str | None:
    """The raw key an event names (None for a body that is not one)."""
    try:
        key = json.loads(body).get("key")
    except (ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive inside the block take effect when it ends (as they would have, through the
    handlers in place before it). Only in the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: arrived.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in arrived[:1]:
            signal.raise_signal(signum)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class _Retry:
    receipt_handle: str
    visible_at: datetime


class LocalRuntime:
    """Drives the ingest and process handlers of the given sources against the queues of the local stack."""

    def __init__(
        self,
        sqs: Any,
        queues: Mapping[str, str],
        dead_letter_queues: Mapping[str, str],
        *,
        sources: Iterable[SourceId] | None = None,
        visibility_timeout: timedelta = timedelta(seconds=30),
        region: str = "us-east-1",
        ingest_handlers: Mapping[str, Handler] | None = None,
        process_handlers: Mapping[str, Handler] | None = None,
        redrive: Callable[[SourceId], int] | None = None,
        redrive_every: timedelta | None = None,
        compact_handlers: Mapping[str, Handler] | None = None,
        compact_every: timedelta | None = None,
    ) -> None:
        from pipeline.handlers import ingest, process

        self.sqs = sqs
        self.sources: tuple[SourceId, ...] = tuple(source_ids() if sources is None else sources)
        unwired = [s for s in self.sources if s not in queues or s not in dead_letter_queues]
        if unwired:  # declared after the stack came up: its queues come with the next `up`
            raise LocalStackError(
                f"source {unwired[0]!r} has no queue on the running local stack (it was declared after the stack "
                "came up): run `pipeline local down` then `pipeline local up`"
            )
        self.queues = {s: queues[s] for s in self.sources}
        self.dead_letter_queues = {s: dead_letter_queues[s] for s in self.sources}
        self.visibility_timeout = visibility_timeout
        self.region = region
        self.ingest_handlers = ingest_handlers or {s: getattr(ingest, s) for s in self.sources}
        self.process_handlers = process_handlers or {s: getattr(process, s) for s in self.sources}
        self._arns = {s: self._queue_arn(url) for s, url in self.queues.items()}
        self._retries: dict[SourceId, list[_Retry]] = {s: [] for s in self.sources}
        self.stats: dict[SourceId, SourceStats] = {s: SourceStats() for s in self.sources}
        self.redrive = redrive if redrive is not None else self._redrive
        self._last_redrive: datetime | None = None
        # The redrive functions' schedule: the template's RedriveSchedule unless a test sets its own.
        self.redrive_every = redrive_every if redrive_every is not None else redrive_period()
        # The compaction functions' schedule: the template's CompactionSchedule unless a test sets its own.
        self.compact_every = compact_every if compact_every is not None else compaction_period()
        self.compact_handlers = (
            dict(compact_handlers) if compact_handlers is not None else _compact_handlers(self.sources)
        )
        self._last_compaction: datetime | None = None
        self.compactions: list[dict[str, Any]] = []  # what each compaction run merged (days with something to do)
        self.now: datetime | None = None  # the virtual time of the invocation in progress (faults read it)
        self._extended: dict[str, datetime] = {}  # receipt handle -> virtual time it becomes visible again
        self._in_flight: dict[str, SourceId] = {}  # receipt handles of a batch being handled -> their source
        self._hooked: set[int] = set()

    # -- ChangeMessageVisibility on the virtual clock ------------------------------------------------------------
    def _hook(self) -> None:
        """Watch the visibility changes of the handlers' SQS client (`pipeline.clients.sqs`)."""
        from pipeline import clients

        client = clients.sqs()
        if id(client) in self._hooked:
            return
        self._hooked.add(id(client))
        for op in ("ChangeMessageVisibility", "ChangeMessageVisibilityBatch"):
            client.meta.events.register(f"before-parameter-build.sqs.{op}", self._on_change_visibility)

    def _on_change_visibility(self, params: dict[str, Any], **_: Any) -> None:
        if self.now is None:
            return
        entries = params.get("Entries") or [params]
        for entry in entries:
            seconds = int(entry.get("VisibilityTimeout", 0))
            self._extended[str(entry["ReceiptHandle"])] = self.now + timedelta(seconds=seconds)
            if seconds:
                entry["VisibilityTimeout"] = REAL_VISIBILITY_SECONDS

    def _queue_arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attrs["QueueArn"])

    # -- the schedule ------------------------------------------------------------------------------------------
    def tick(self, at: datetime, sources: Iterable[SourceId] | None = None) -> None:
        """One scheduled minute: every source's ingest handler, with retries of a failed invocation."""
        for source in sources or self.sources:
            stats = self.stats[source]
            self.now = at
            for attempt in range(1, INGEST_ATTEMPTS + 1):
                try:
                    result = self.ingest_handlers[source](scheduled_event(source, at, self.region), None)
                except Exception as exc:
                    if attempt == INGEST_ATTEMPTS:
                        stats.ingest_errors.append(f"{iso(at)}: {type(exc).__name__}: {exc}")
                    else:
                        stats.ingest_retries += 1
                    continue
                if result.get("skipped"):
                    stats.skipped += 1
                elif result.get("key"):
                    stats.raw_keys.add(result["key"])
                break
            self.now = None

    # -- the event source mappings -----------------------------------------------------------------------------
    def poll(self, now: datetime, sources: Iterable[SourceId] | None = None) -> int:
        """Deliver every visible message of every queue, in batches, until none is left; returns batches run."""
        batches = 0
        for source in sources or self.sources:
            self._release(source, now)
            while self._deliver_batch(source, now):
                batches += 1
        return batches

    def _release(self, source: SourceId, now: datetime) -> None:
        """Failed messages whose visibility timeout has passed on the virtual clock become visible again."""
        due = [r for r in self._retries[source] if r.visible_at <= now]
        self._retries[source] = [r for r in self._retries[source] if r.visible_at > now]
        for retry in due:
            with contextlib.suppress(self.sqs.exceptions.ClientError):  # gone: moved to the dead-letter queue
                self.sqs.change_message_visibility(
                    QueueUrl=self.queues[source], ReceiptHandle=retry.receipt_handle, VisibilityTimeout=0
                )

    def _deliver_batch(self, source: SourceId, now: datetime) -> bool:
        with _signals_deferred():  # an interrupt once the messages are ours and before they are recorded loses them
            response = self.sqs.receive_message(
                QueueUrl=self.queues[source],
                MaxNumberOfMessages=BATCH_SIZE,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = response.get("Messages", [])
            self._in_flight.update({m["ReceiptHandle"]: source for m in messages})
        if not messages:
            return False
        stats = self.stats[source]
        stats.delivered_keys.update(key for m in messages if (key := _event_key(m["Body"])))
        self._hook()
        self.now = now
        try:
            result = self.process_handlers[source](sqs_event(messages, self._arns[source], self.region), None)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:
            stats.process_errors.append(f"{type(exc).__name__}: {exc}")
            failed = {m["MessageId"] for m in messages}
        finally:
            self.now = None
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queues[source],
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        finished = time.time() * 1000
        stats.rows_processed += _rows_loaded(source, [m["Body"] for m in done])
        for m in messages:
            self._in_flight.pop(m["ReceiptHandle"], None)
            stats.events.add(m["MessageId"])
            if m["MessageId"] in failed:
                stats.failed_deliveries += 1
                visible_at = self._extended.pop(m["ReceiptHandle"], None)
                if visible_at is not None:
                    stats.backoffs += 1
                else:
                    visible_at = now + self.visibility_timeout
                self._retries[source].append(_Retry(m["ReceiptHandle"], visible_at))
                continue
            sent = m.get("Attributes", {}).get("SentTimestamp")
            if sent:
                stats.latencies_ms.append(max(0.0, finished - float(sent)))
        return True

    def settle(self, now: datetime, max_rounds: int = 50) -> datetime:
        """Let failed messages come back until each is processed or dead-lettered; returns the virtual time.

        Each round jumps to the earliest time a failed message is visible again (the scheduled redrive runs on
        its schedule in between), so back-offs of different lengths come back in their order.
        """
        for _ in range(max_rounds):
            if not any(self._retries.values()):
                break
            now = max(now, min(r.visible_at for rs in self._retries.values() for r in rs))
            self.scheduled_redrive(now)
            self.poll(now)
        return now

    # -- the scheduled redrive ---------------------------------------------------------------------------------
    def scheduled_redrive(self, now: datetime) -> None:
        """Every `redrive_every` of virtual time: the redrive function, once per source."""
        if self._last_redrive is not None and now - self._last_redrive < self.redrive_every:
            return
        self._last_redrive = now
        self.now = now
        try:
            for source in self.sources:
                self.stats[source].redriven += self.redrive(source)
        finally:
            self.now = None

    # -- the scheduled compaction ------------------------------------------------------------------------------
    def scheduled_compaction(self, now: datetime) -> None:
        """Every `compact_every` of virtual time: the compaction function, with the scheduled event of `now`."""
        if not self.compact_handlers:
            return
        if self._last_compaction is not None and now - self._last_compaction < self.compact_every:
            return
        self._last_compaction = now
        for source, handler in self.compact_handlers.items():
            self.now = now
            try:
                result = handler(scheduled_event(source, now, self.region), None)
            except Exception as exc:  # as in AWS: the run fails, its alarm fires, the next run does the work
                self.stats[source].process_errors.append(f"compaction at {iso(now)}: {type(exc).__name__}: {exc}")
                continue
            finally:
                self.now = None
            self.compactions.extend(day for day in result.get("days", []))

    def _redrive(self, source: SourceId) -> int:
        from pipeline import clients
        from pipeline.redrive import auto_redrive

        return len(
            auto_redrive(
                self.sqs, source, self.queues[source], self.dead_letter_queues[source], sink=clients.sink(source)
            ).redriven
        )

    def dead_letters(self) -> dict[SourceId, int]:
        counts = {}
        for source, url in self.dead_letter_queues.items():
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            counts[source] = int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
        return counts

    def _visible(self) -> int:
        count = 0
        for url in self.queues.values():
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            count += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        return count

    def pending(self) -> int:
        """Messages not yet done: failed ones waiting out their visibility, and everything visible in the queues."""
        return sum(len(r) for r in self._retries.values()) + self._visible()

    def drain(self, now: datetime, limit: timedelta, step: timedelta = timedelta(minutes=1)) -> datetime:
        """After the schedule: let the virtual clock run (deliveries, back-offs, the scheduled redrive) until the
        queues and the dead-letter queues are empty, or `limit` has passed; returns the virtual time reached.

        With nothing visible, the clock jumps to the next thing that happens (a back-off ending, the next
        scheduled redrive while a dead-letter queue holds messages), as an idle AWS account would."""
        end = now + limit
        while now < end:
            dead = any(self.dead_letters().values())
            visible = self._visible()
            due = [r.visible_at for rs in self._retries.values() for r in rs]
            if not (dead or visible or due):
                break
            following = now + step
            if not visible:
                wakes = list(due)
                if dead and self._last_redrive is not None:
                    wakes.append(self._last_redrive + self.redrive_every)
                following = max(following, min(wakes, default=following))
            now = min(following, end)
            self.poll(now)
            self.scheduled_redrive(now)
        return now

    def release(self) -> int:
        """Make every message this runtime holds visible again at once (ChangeMessageVisibility 0): the batch being
        handled and the failed ones waiting out their visibility on the virtual clock. What an interrupted run
        does before it exits, so that the next run delivers them instead of waiting out the queue's timeout."""
        held = [(source, r.receipt_handle) for source, rs in self._retries.items() for r in rs]
        held += [(source, handle) for handle, source in self._in_flight.items()]
        released = 0
        for source, handle in held:
            with contextlib.suppress(Exception):  # deleted, dead-lettered, or the server is gone: nothing to free
                self.sqs.change_message_visibility(
                    QueueUrl=self.queues[source], ReceiptHandle=handle, VisibilityTimeout=0
                )
                released += 1
        self._retries = {s: [] for s in self.sources}
        self._in_flight.clear()
        return released

    # -- a run ---------------------------------------------------------------------------------------------------
    def run(
        self,
        minutes: int,
        start: datetime,
        *,
        speed: float | None = None,
        on_minute: Callable[[int, datetime], None] | None = None,
    ) -> RunReport:
        """`minutes` scheduled minutes from `start`: as fast as possible, or `speed` times real time. Interrupted
        (Ctrl-C, or SIGTERM where the caller turns it into KeyboardInterrupt), it releases the messages it holds
        before the interruption goes on."""
        try:
            return self._run(minutes, start, speed=speed, on_minute=on_minute)
        except BaseException as exc:
            released = self.release()
            if isinstance(exc, KeyboardInterrupt):
                exc.add_note(
                    f"the run released the {released} message(s) it held: the next run delivers them"
                    if released
                    else "the run held no message"
                )
            raise

    def _run(
        self,
        minutes: int,
        start: datetime,
        *,
        speed: float | None = None,
        on_minute: Callable[[int, datetime], None] | None = None,
    ) -> RunReport:
        start = floor_minute(start)
        began = time.monotonic()
        now = start
        for i in range(minutes):
            now = start + timedelta(minutes=i)
            if speed:
                delay = began + i * 60.0 / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for source in self.sources:  # in AWS each source's functions run side by side, not one after another
                self.tick(now, [source])
                self.poll(now + timedelta(seconds=59), [source])
            self.scheduled_redrive(now)
            self.scheduled_compaction(now)
            if on_minute:
                on_minute(i, now)
        self.settle(now + timedelta(minutes=1))
        report = RunReport(start=start, minutes=minutes, wall_seconds=time.monotonic() - began, sources=self.stats)
        for source, count in self.dead_letters().items():
            self.stats[source].dead_letters = count
        return report


def _compact_handlers(sources: Iterable[SourceId]) -> dict[str, Handler]:
    """The compaction entry points of the run's sources that have one (`pipeline.handlers.compact`)."""
    from pipeline.handlers import compact

    return {s: getattr(compact, s) for s in sources if s in compact.COMPACTED_SOURCES}


def _rows_loaded(source: SourceId, bodies: Iterable[str]) -> int:
    """Rows the sink holds from the raw objects of the events just processed: counted from what was loaded, never
    from an event's `rows` claim (an event this pipeline did not write was quarantined unread: it loaded nothing)."""
    from pipeline import clients
    from pipeline.contracts import check_event

    bucket, keys = clients.settings().bucket, set()
    for body in bodies:
        try:
            event = Event.model_validate_json(body)
            check_event(event, bucket=bucket, source=source)
        except ValueError:
            continue
        keys.add(event.key)
    if not keys:
        return 0
    try:
        sink: Any = clients.sink(source)  # every sink is also `Reconcilable`: it can say what it holds
        held = sink.stored_rows(min(keys), max(keys), None, None)
    except Exception:  # a sink that stopped answering after the batch: the rows are counted by verify, not here
        return 0
    return sum(1 for row in held if row.raw_key in keys)
