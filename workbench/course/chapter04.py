"""The checkers of chapter 04 (processing)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, function_answer, same


def _bar_row(**changes: Any) -> dict[str, Any]:
    row = {"symbol": "AAPL", "ts": "2026-11-02T14:44:00Z", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5}
    return {**row, "volume": 100, **changes}


@exercise("04.volume_validator", "a row validator that refuses a negative volume and accepts what the pipeline accepts")
def _volume_validator(answer: Any, **_: Any) -> str:
    from pydantic import ValidationError

    from pipeline.schemas import Bar

    validate = function_answer(answer, "validate(row) that raises ValueError for a bad row")
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
    same(list(answer) if isinstance(answer, list | tuple) else answer, expected, "the list of reported ids")
    return f"{expected}: the failure and everything after it in the group come back, in order."
