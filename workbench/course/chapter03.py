"""The checkers of chapter 03 (fan-out: SNS, SQS FIFO, dead letters)."""

from __future__ import annotations

from typing import Any

from workbench.course.exercises import NotYet, exercise, whole_number

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


FIRST = ("market-data", "raw/yahoo_finance/2026/11/02/1600.csv", '"e1"')
# Why each publish is dropped or delivered: what a learner who predicted the other way missed.
WHY = {
    "the same object published again": "it has the first publish's deduplication id, within five minutes: SQS "
    "FIFO drops it (a publish retried after a timeout reaches the queue once)",
    "the same key with new content": "new content has a new ETag, so a new deduplication id: the id hashes the "
    "content's ETag, not only the key, and a re-ingest that changed the object is delivered",
    "the next minute's object": "another key is another object, with an id of its own: it is delivered",
    "the same object, its ETag without quotes": "the id strips the quotes S3 puts around an ETag, so it is the "
    "same object's id: it is dropped",
}
WORDS = {"dropped": True, "duplicate": True, "true": True, "yes": True, "delivered": False, "false": False, "no": False}


def _prediction(value: Any, label: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in WORDS:
        return WORDS[value.strip().lower()]
    if isinstance(value, bool | int) or getattr(getattr(value, "dtype", None), "kind", "") == "b":  # numpy's bools
        return bool(value)
    raise NotYet(f"predict {label!r} with True (dropped as a duplicate) or False (delivered), not {value!r}.")


def _predictions(answer: Any) -> dict[str, bool]:
    """{label: dropped?} from a dict of predictions, a list of them in course.publishes()'s order, or the set of
    the labels predicted dropped."""
    labels = list(_PUBLISHES)
    if isinstance(answer, set | frozenset) and answer <= set(labels):
        return {label: label in answer for label in labels}
    if isinstance(answer, list | tuple) and len(answer) == len(labels):
        answer = dict(zip(labels, answer, strict=True))
    if not isinstance(answer, dict):
        raise NotYet(
            "predict each publish of course.publishes() on its own, {label: True if dropped, False if delivered}: "
            "the deduplication id decides publish by publish."
        )
    missing = [label for label in labels if label not in answer]
    if missing:
        raise NotYet(f"predict every publish: {missing[0]!r} has no prediction.")
    return {label: _prediction(answer[label], label) for label in labels}


@exercise("03.dropped", "which publishes, within five minutes of the first, SQS FIFO drops as duplicates")
def _dropped(answer: Any, **_: Any) -> str:
    from pipeline.contracts import deduplication_id

    predicted = _predictions(answer)
    first = deduplication_id(*FIRST)
    for label, publish in _PUBLISHES.items():
        if predicted[label] != (deduplication_id(*publish) == first):
            raise NotYet(f"{label}: {WHY[label]}.")
    return "only the same bucket, key and content give the same id; new content, or another minute, is delivered."


@exercise("03.dlq_max1", "with maxReceiveCount 1, the receive count a message never answered has in the DLQ")
def _dlq_max1(answer: Any, *, measured: int | None = None, **_: Any) -> str:
    # One delivery (count 1); the next receive finds the count past the limit and moves the message instead.
    expected = 2 if measured is None else measured
    count = whole_number(answer, "the receive count")
    if count == expected - 1:
        raise NotYet(
            "the deliveries are not all: the receive that finds the count past the limit, and moves the message "
            "instead of delivering it, counts too."
        )
    if count < expected - 1:
        raise NotYet("with maxReceiveCount 1 the message is delivered once before it can be moved: count that too.")
    if count > expected:
        raise NotYet(
            "SQS moves the message at the first receive past the limit: no delivery follows it, so count one "
            "delivery and the receive that moved it."
        )
    return "maxReceiveCount + 1: the deliveries, then the receive at which SQS moved it instead of delivering it."


# 03.filter_policy: a second consumer, for price alerts, wants the events of the two market sources and nothing else.
WANTED = ("yahoo_finance", "coinmarketcap")
LATER_SOURCE = "us_treasury"  # a source added later (the capstone's): its events must not reach this queue uninvited
# More ids a later source could have, of the shapes a prefix, a suffix or a pattern would let through
LATER_SOURCES = (LATER_SOURCE, "yahoo_options", "yahoo_finance_eu", "coinmarketcap_v2", "coinbase_trades",
                 "crypto_news", "treasury_yields", "cme_futures")  # fmt: skip


def policy_cases() -> dict[str, dict[str, Any]]:
    """The message attributes of each event the policy is tried on, by source, as `pipeline.events.publish` sets
    them on the topic (and SNS hands them to a subscription's filter): every registered source, and a later one."""
    from pipeline.constants import SOURCE_ATTRIBUTE
    from pipeline.registry import source_ids

    return {s: {SOURCE_ATTRIBUTE: {"Type": "String", "Value": s}} for s in (*source_ids(), *LATER_SOURCES)}


def _policy(answer: Any) -> dict[str, Any]:
    """The policy as a dict, from a dict or its JSON text; NotYet for what SNS would refuse, with why."""
    import json

    if isinstance(answer, str | bytes):
        try:
            answer = json.loads(answer)
        except ValueError as exc:
            raise NotYet(f"SNS reads a filter policy as JSON, and this text is not JSON ({exc}).") from None
    if not isinstance(answer, dict):
        raise NotYet(
            "a filter policy is a JSON object, {attribute name: [the values it may take]}: a "
            f"{type(answer).__name__} names no attribute."
        )
    policy: dict[str, Any] = json.loads(json.dumps(answer))  # tuples as lists, as SNS reads them
    for name, values in policy.items():
        if isinstance(values, str):
            raise NotYet(
                f"the value of {name!r} is a string: SNS refuses it, a policy lists the values an attribute may "
                f'take, {{"{name}": ["{values}"]}}, even when there is one.'
            )
        if not isinstance(values, list) or not values:
            raise NotYet(f"the value of {name!r} must be a list of the values it may take, not {values!r}.")
    return policy


@exercise(
    "03.filter_policy", "the filter policy of a queue that receives the events of yahoo_finance and coinmarketcap"
)
def _filter_policy(answer: Any, **_: Any) -> str:
    from moto.sns.utils import FilterPolicyMatcher

    from pipeline.constants import SOURCE_ATTRIBUTE

    policy = _policy(answer)
    if not policy:
        raise NotYet("an empty policy filters nothing: the queue would receive every source's events, the rates too.")
    other = [name for name in policy if name != SOURCE_ATTRIBUTE]
    if other:
        near = " (names are case-sensitive)" if other[0].lower() == SOURCE_ATTRIBUTE else ""
        raise NotYet(
            f"the pipeline sets one message attribute, {SOURCE_ATTRIBUTE!r} (pipeline/events.py): an event has no "
            f"{other[0]!r}{near}, so the policy matches none of them."
        )
    matcher = FilterPolicyMatcher(policy, None)
    arrives = {s: matcher.matches(attributes, "{}") for s, attributes in policy_cases().items()}
    missing = [s for s in WANTED if not arrives[s]]
    if missing:
        values = ", ".join(repr(v) for v in policy[SOURCE_ATTRIBUTE] if isinstance(v, str) and v not in arrives)
        hint = f": {values} is not a source id (pipeline.registry.source_ids())" if values else ""
        raise NotYet(
            f"the events of {missing[0]} would not arrive{hint or ''}: the list holds every source the queue takes, "
            "each by its registry id."
        )
    if arrives["openexchangerates"]:
        raise NotYet("the rates' events would arrive too: the price alerts want the two market sources only.")
    uninvited = [s for s in LATER_SOURCES if arrives[s]]
    if uninvited:
        raise NotYet(
            f"a source added later ({uninvited[0]}) would arrive uninvited: name each source wanted by its id, "
            "instead of excluding the ones you know or matching a prefix or a suffix."
        )
    return "SNS delivers yahoo_finance's and coinmarketcap's events to the queue, never the rates', nor a new source's."
