"""The checkers of chapter 04 (processing)."""

from __future__ import annotations

from typing import Any, Final

from workbench.course.exercises import NotYet, exercise, function_answer

BAR = {"symbol": "AAPL", "ts": "2026-11-02T14:44:00Z", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5,
       "volume": 100, "status": "success", "error": "", "scheduled_at": "2026-11-02T14:45:00Z",
       "ingested_at": "2026-11-02T14:45:03Z"}  # fmt: skip
VOLUMES = {"a good bar": ("AAPL", 100), "a zero volume": ("AAPL", 0), "a volume of -1": ("AAPL", -1),
           "a volume of -500": ("MSFT", -500), "a large volume": ("NVDA", 10**9)}  # fmt: skip


def raw_bar_rows() -> dict[str, dict[str, str]]:
    """The rows of 04.volume_validator as the process function gets them: written to a raw CSV by the pipeline and
    read back (`pipeline.raw`), so every field is a string ("-1", not -1)."""
    from pipeline.raw import csv_to_rows, rows_to_csv

    rows = [{**BAR, "symbol": symbol, "volume": volume} for symbol, volume in VOLUMES.values()]
    return dict(zip(VOLUMES, csv_to_rows("yahoo_finance", rows_to_csv("yahoo_finance", rows)), strict=True))


def _pipeline_accepts(row: dict[str, str]) -> bool:
    from pydantic import ValidationError

    from pipeline.schemas import Bar

    try:
        Bar.model_validate(row)
    except ValidationError:
        return False
    return True


def _yours(validate: Any, label: str, row: dict[str, str]) -> tuple[bool, str]:
    """(whether the learner's validator accepts the row, its message); NotYet for a refusal of the wrong kind."""
    from pipeline.errors import one_line

    try:
        returned = validate(dict(row))
    except ValueError as exc:
        return False, str(exc)
    except TypeError as exc:
        if "'str'" not in str(exc):  # not a comparison of the CSV's text with a number: said below
            raise NotYet(f"for {label} your validator raised TypeError ({one_line(exc)}): it takes one row.") from None
        raise NotYet(
            f"the rows come as the raw CSV gives them, every field a string (volume {row['volume']!r}): convert "
            f"before you compare, int(row['volume']) ({one_line(exc)})."
        ) from None
    except AssertionError:
        raise NotYet(
            "an assert is not how the pipeline refuses a row (python -O removes it): raise ValueError."
        ) from None
    except Exception as exc:
        raise NotYet(
            f"for {label} your validator raised {type(exc).__name__} ({one_line(exc)}): a bad row raises "
            "ValueError, a good one nothing."
        ) from None
    if returned is False:
        raise NotYet(
            "returning False refuses nothing: the pipeline refuses a row by raising ValueError, which processing "
            "turns into an error row with its reason."
        )
    return True, ""


@exercise("04.volume_validator", "a row validator that refuses a negative volume and accepts what the pipeline accepts")
def _volume_validator(answer: Any, **_: Any) -> str:
    validate = function_answer(answer, "validate(row)")
    for label, row in raw_bar_rows().items():
        pipeline_ok = _pipeline_accepts(row)
        yours_ok, message = _yours(validate, label, row)
        if yours_ok and not pipeline_ok:
            raise NotYet(f"it accepts {label}, which the pipeline refuses: a negative volume raises ValueError.")
        if pipeline_ok and not yours_ok:
            if row["volume"] == "0":
                raise NotYet(
                    "it refuses a volume of 0, which the pipeline accepts: a minute without a trade is a real bar, "
                    "only a negative volume is refused."
                )
            raise NotYet(f"it refuses {label}, which the pipeline accepts ({message}).")
        if not yours_ok and row["symbol"] not in message:
            raise NotYet(
                f"its message should name the row's symbol ({row['symbol']}): the error row and the quarantine "
                "record then say which row was refused."
            )
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
    got = _ids(answer)
    if got == expected:
        return f"{expected}: the failure and everything after it in the group come back, in order."
    if "m3" not in got:
        raise NotYet("the failing record itself comes back: reported failed, SQS delivers it again.")
    if {"m1", "m2"} & set(got):
        raise NotYet("m1 and m2 succeeded before m3 failed: reported, they would be processed twice.")
    if set(got) == set(expected):
        raise NotYet("batchItemFailures lists them in the batch's order, the order SQS delivers them again in.")
    raise NotYet(
        "in a FIFO queue the records after a failure are not tried, so the group keeps its order: every one of "
        "them is reported failed too."
    )


def _ids(answer: Any) -> list[str]:
    """The ids of a list or tuple of them, or of batchItemFailures itself ([{"itemIdentifier": id}, ...])."""
    if isinstance(answer, set | frozenset):
        raise NotYet("a set has no order, and the order is the point: SQS delivers the records again in it.")
    if not isinstance(answer, list | tuple):
        raise NotYet(
            "the function reports failed records one by one, in order: answer with the list of their ids "
            "(as batchItemFailures lists them)."
        )
    return [str(item.get("itemIdentifier") if isinstance(item, dict) else item).strip() for item in answer]


# 04.batch_response: the response a process function returns for a batch, from the ids of the records that failed.
RESPONSE_CASES = {  # label: (message ids of the batch, in the order SQS delivered them; those whose processing failed)
    "a batch without a failure": (["m1", "m2", "m3"], set()),
    "the third of five failing": (BATCH, {"m3"}),
    "the first failing": (BATCH, {"m1"}),
    "the last failing": (BATCH, {"m5"}),
    "the fourth and the second failing": (BATCH, {"m4", "m2"}),
}


def response_cases() -> dict[str, tuple[dict[str, Any], set[str]]]:
    """(the SQS event, the ids that failed) of each case 04.batch_response is run on: the events built as the
    event source mapping builds them (`sqs_event`), from messages of the Yahoo FIFO queue."""
    from workbench.local.events import sqs_event

    arn = "arn:aws:sqs:us-east-1:123456789012:market-data-pipeline-yahoo_finance.fifo"
    cases = {}
    for label, (ids, failed) in RESPONSE_CASES.items():
        messages = [
            {"MessageId": _MESSAGE_IDS[i], "ReceiptHandle": f"handle-{_MESSAGE_IDS[i]}", "Body": "{}",
             "Attributes": {"MessageGroupId": "yahoo_finance", "SequenceNumber": str(18_900_000_000_000_000_000 + n),
                            "SentTimestamp": str(1_762_786_800_000 + 1000 * n)}}
            for n, i in enumerate(ids)
        ]  # fmt: skip
        cases[label] = (sqs_event(messages, arn), {_MESSAGE_IDS[i] for i in failed})
    return cases


# SQS message ids are UUIDs, in no order of their own: sorted, these are not the batch's order (m2, m4, m5, m1, m3)
_MESSAGE_IDS: Final = {
    "m1": "d7c1a3e0-4b7f-4a55-9f43-1c2a8e6b9d01", "m2": "0a3f9c12-77e4-4d0b-8a61-5f0e2b7c4d02",
    "m3": "f21b6d84-2c9a-4e1f-b3d7-9a4c0e5f1a03", "m4": "5e90b1c7-a8d2-4f36-9e05-3b7d6c2a8e04",
    "m5": "9b44e2f6-1d3c-4a8b-8f72-6e1a9c0d5b05",
}  # fmt: skip


def expected_response(event: dict[str, Any], failed: set[str]) -> list[str]:
    """The ids a FIFO batch reports failed: the first record that failed and every record after it, in order."""
    ids = [r["messageId"] for r in event["Records"]]
    first = next((n for n, i in enumerate(ids) if i in failed), len(ids))
    return ids[first:]


@exercise("04.batch_response", "batch_response(event, failed): the partial-batch response of a FIFO process function")
def _batch_response(answer: Any, **_: Any) -> str:
    respond = function_answer(answer, "batch_response(event, failed)")
    for label, (event, failed) in response_cases().items():
        expected = expected_response(event, failed)
        response = respond(event, set(failed))
        _as_lambda_returns_it(response, label)
        got = _reported(response, label, event)
        if got != expected:
            raise NotYet(_response_mistake(label, got, expected, [r["messageId"] for r in event["Records"]]))
    return (
        "from the first failed record on, every record comes back, in the batch's order: the rest are deleted, "
        "and the group's order is kept."
    )


def _as_lambda_returns_it(response: Any, label: str) -> None:
    """Lambda sends the response back as JSON: what JSON cannot hold never reaches the event source mapping."""
    import json

    try:
        json.dumps(response)
    except (TypeError, ValueError) as exc:
        raise NotYet(
            f"for {label} the response cannot be sent back as JSON ({exc}): use a list, not a generator or a set, "
            "and text ids."
        ) from None


def _reported(response: Any, label: str, event: dict[str, Any]) -> list[str]:
    """The ids a response reports, as the event source mapping reads it; NotYet for a response it cannot read."""
    if response is None or response == {}:
        return []  # Lambda reads no response, or an empty one, as a batch without a failure
    if not isinstance(response, dict):
        raise NotYet(
            f"for {label} it returned a {type(response).__name__}: the function returns a dict, "
            '{"batchItemFailures": [{"itemIdentifier": id}, ...]}, which the event source mapping reads.'
        )
    if "batchItemFailures" not in response:
        raise NotYet(
            f"the event source mapping reads only 'batchItemFailures', not {next(iter(response))!r}: under another "
            "name it sees no failure and deletes the whole batch, failed records included."
        )
    handles = {r["receiptHandle"]: r["messageId"] for r in event["Records"]}
    ids = []
    for item in response["batchItemFailures"]:
        if not isinstance(item, dict) or "itemIdentifier" not in item:
            raise NotYet(
                f"each failure is a dict {{'itemIdentifier': message id}}, not {item!r}: Lambda takes a response it "
                "cannot read for a failure of the whole batch, and every record comes back."
            )
        if item["itemIdentifier"] in handles:
            raise NotYet(
                "the itemIdentifier is the record's messageId, not its receiptHandle: Lambda takes an id it does not "
                "know for a failure of the whole batch."
            )
        ids.append(str(item["itemIdentifier"]))
    return ids


def _response_mistake(label: str, got: list[str], expected: list[str], ids: list[str]) -> str:
    """Why the ids reported for a case are not the expected ones, naming the mistake (records by their place)."""

    def name(message_id: str) -> str:
        return f"record {ids.index(message_id) + 1} ({message_id[:8]}...)"

    if not expected:
        return f"for {label} nothing failed, so nothing is reported: every record reported comes back and runs twice."
    first = expected[0]
    if first not in got:
        return f"for {label} the failed {name(first)} is not reported: the batch deletes it, and it is lost."
    if set(got) - set(expected):
        early = sorted(set(got) - set(expected), key=ids.index)[0]
        return f"for {label} {name(early)} is reported, though it was processed before the failure: it would run twice."
    if len(got) != len(set(got)):
        return f"for {label} a record is reported twice: report each failed record once, in the batch's order."
    if set(got) == set(expected):
        return (
            f"for {label} the ids are out of order: list them in the batch's order, the order SQS delivers them again."
        )
    return (
        f"for {label} the records after the failed {name(first)} are missing: in a FIFO queue they are not "
        "processed after a failure, "
        "so each comes back too (deleted, it would be lost, or run before the one that failed)."
    )
