"""07.fifo_queue's reading of what a learner writes: a YAML error told by its own problem and line, and the numbers
SQS takes (whole receives and seconds, a retention between a minute and 14 days)."""

from __future__ import annotations

from typing import Any


def _refers(value: Any, parameter: str) -> bool:
    return isinstance(value, dict) and value == {"Ref": parameter}


def yaml_mistake(exc: Any) -> str:
    """The YAML error's own problem and line, and what to do about the common ones (a tab, an unclosed quote, a key
    not indented under its parent)."""
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    hint = "look at that line and the one before it (a quote or a bracket left open, a key out of line)"
    if "'\\t'" in problem or "\t" in problem:
        hint = "YAML indents with spaces, never a tab"
    elif context and "quoted scalar" in context:
        opened = getattr(exc, "context_mark", None)
        hint = f"the quote opened at line {opened.line + 1 if opened else '?'} is never closed"
    elif "mapping values are not allowed" in problem or "'<block mapping start>'" in problem:
        hint = (
            "a key is not indented under the mapping it belongs to (Properties under the resource, its keys under it)"
        )
    said = f"{context}, {problem}" if context else problem
    return f"your YAML does not parse: {said}{where}; {hint}."


def number(value: Any) -> float | None:
    try:
        return float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def retention_mistake(retention: Any) -> str | None:
    seconds = number(retention)
    if retention is None or isinstance(retention, dict):
        return None
    if seconds is None or not float(seconds).is_integer():
        return f"MessageRetentionPeriod is a whole number of seconds, and SQS refuses {retention!r}"
    if not 60 <= seconds <= 1_209_600:
        return (
            f"MessageRetentionPeriod is between 60 seconds and 1,209,600 (14 days), and SQS refuses {seconds:.0f}: "
            "leave it out for the default of 4 days"
        )
    return None


def receives_mistake(receives: Any) -> str | None:
    if _refers(receives, "MaxReceiveCount"):
        return None
    count = number(receives)
    if count is None:
        return "maxReceiveCount is a number of receives, or !Ref MaxReceiveCount (the template's parameter)"
    if not count.is_integer():
        return f"maxReceiveCount is a whole number of receives, and SQS refuses {count:g}"
    if count < 5:
        return (
            f"after {count:.0f} receive(s) a message that failed once by bad luck (a throttle, a timeout) is "
            "dead-lettered: AWS advises at least 5, the template's parameter MaxReceiveCount says 12"
        )
    if count > 1000:
        return f"maxReceiveCount is at most 1,000 and SQS refuses {count:.0f}: the template's MaxReceiveCount says 12"
    return None
