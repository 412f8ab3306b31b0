"""The checkers of chapter 04 (processing)."""

from __future__ import annotations

from typing import Any

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
