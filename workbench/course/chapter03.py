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
                 "crypto_news", "treasury_yields", "cme_futures", "google_finance", "defi_marketcap")  # fmt: skip


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
    try:
        policy: dict[str, Any] = json.loads(json.dumps(answer))  # tuples as lists, as SNS reads them
    except (TypeError, ValueError) as exc:
        raise NotYet(_not_json(exc)) from None
    if "$or" in policy and not _is_or("$or", policy["$or"]):
        raise NotYet(
            'SNS reads "$or" as its operator only over a list of two objects or more, each {attribute: [values]} '
            "(no match type among their names); otherwise it is an attribute name, which no event has."
        )
    for branch in _branches(policy):
        for name, values in branch:
            if isinstance(values, str):
                raise NotYet(
                    f"the value of {name!r} is a string: SNS refuses it, a policy lists the values an attribute may "
                    f'take, {{"{name}": ["{values}"]}}, even when there is one.'
                )
            if values == []:
                raise NotYet(
                    f"the list of {name!r} is empty, and SNS refuses an empty list (it would match no event): list "
                    "the source ids the queue takes."
                )
            if not isinstance(values, list):
                raise NotYet(f"the value of {name!r} must be a list of the values it may take, not {values!r}.")
            for rule in values:
                _known_rule(rule)
    return policy


def _not_json(exc: Exception) -> str:
    """Why an answer that json.dumps refuses is no filter policy: a set, most often."""
    if "set" in str(exc):
        return (
            'a filter policy lists its values in a JSON list, ["yahoo_finance", ...]: a Python set is no JSON '
            "(json.dumps refuses it), write a list or a tuple."
        )
    return f"SNS reads a filter policy as JSON, and your answer holds a value JSON cannot write ({exc})."


# The match types of SNS's filter policies (a rule {type: value}); a name of "$or"'s branches may not be one of them
MATCH_TYPES = ("anything-but", "cidr", "equals-ignore-case", "exists", "numeric", "prefix", "suffix")


def _is_or(key: str, value: Any) -> bool:
    """Whether SNS reads `key: value` as the "$or" operator: a list of two or more objects, none of whose names is
    a match type (otherwise "$or" is an attribute name like any other)."""
    return (
        key == "$or"
        and isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(v, dict) and v and not set(v) & set(MATCH_TYPES) for v in value)
    )


def _branches(policy: dict[str, Any]) -> list[list[tuple[str, Any]]]:
    """The policy as the alternatives "$or" makes of it, each a list of (attribute, its rules) that must all match
    (one alternative for a policy without "$or")."""
    branches: list[list[tuple[str, Any]]] = [[]]
    for key, value in policy.items():
        if _is_or(key, value):
            branches = [[*b, *alt] for b in branches for option in value for alt in _branches(option)]
        else:
            branches = [[*b, (key, value)] for b in branches]
    return branches


def _known_rule(rule: Any) -> None:
    """NotYet for a rule SNS refuses: an object that is not one known match type, or a list or object as a value."""
    if rule is None:
        raise NotYet(
            "the list holds a None, JSON's null, and no event's source is null: list the source ids alone (a name "
            "set to None, or a function without a return, gives a None)."
        )
    if isinstance(rule, str | int | float):  # a value (numbers and booleans too)
        return
    if not isinstance(rule, dict) or len(rule) != 1:
        raise NotYet(
            f"SNS refuses the rule {rule!r}: each item of the list is a value, or one match type such as "
            '{"prefix": "..."}.'
        )
    [(kind, value)] = rule.items()
    if kind not in MATCH_TYPES:
        raise NotYet(
            f"SNS has no match type {kind!r} and refuses the policy: its match types are {', '.join(MATCH_TYPES)}."
        )
    if kind in ("equals-ignore-case", "prefix", "suffix") and not isinstance(value, str):
        raise NotYet(f"SNS refuses {rule!r}: the value of {kind} is a string.")


def _rule_matches(rule: Any, value: str) -> bool:
    """Whether one rule of a policy matches a String attribute's value, as SNS matches it."""
    if not isinstance(rule, dict):
        return isinstance(rule, str) and rule == value  # a number, a boolean or null never matches a String
    [(kind, operand)] = rule.items()
    if kind == "equals-ignore-case":
        return str(operand).casefold() == value.casefold()
    if kind == "prefix":
        return value.startswith(str(operand))
    if kind == "suffix":
        return value.endswith(str(operand))
    if kind == "exists":
        return operand is True
    if kind == "anything-but":
        if isinstance(operand, dict):  # anything-but a prefix (or a suffix, or a value in any case)
            return not any(_rule_matches({k: v}, value) for k, v in operand.items())
        return not any(_rule_matches(v, value) for v in (operand if isinstance(operand, list) else [operand]))
    return False  # numeric, cidr: a source id is neither a number nor an IP address


def matches(policy: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether SNS delivers a message with `attributes` (String ones, as `pipeline.events.publish` sets them) to a
    subscription with `policy`: every attribute a branch names is present and one of its rules matches its value.
    Written here after SNS's documentation, because moto's matcher compares equals-ignore-case with the policy's
    value as written (a value in upper case never matches)."""
    return any(
        all(
            (name in attributes and any(_rule_matches(rule, attributes[name]["Value"]) for rule in rules))
            or (name not in attributes and {"exists": False} in rules)
            for name, rules in branch
        )
        for branch in _branches(policy)
    )


def for_the_local_stack(policy: Any) -> str:
    """The policy's JSON text as the local stack (moto) must be given it to deliver what SNS delivers: moto lowers
    the attribute's value, not the policy's, before it compares them for equals-ignore-case."""
    import json

    def lowered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v.lower() if k == "equals-ignore-case" and isinstance(v, str) else lowered(v)
                    for k, v in value.items()}  # fmt: skip
        return [lowered(v) for v in value] if isinstance(value, list) else value

    return json.dumps(lowered(json.loads(policy if isinstance(policy, str | bytes) else json.dumps(policy))))


@exercise(
    "03.filter_policy",
    "the filter policy of a queue that receives the events of yahoo_finance and coinmarketcap",
    none_is_a_value=True,
)
def _filter_policy(answer: Any, **_: Any) -> str:
    policy = _policy(answer)
    if not policy:
        raise NotYet("an empty policy filters nothing: the queue would receive every source's events, the rates too.")
    _attribute_mistake(policy)
    arrives = {s: matches(policy, attributes) for s, attributes in policy_cases().items()}
    _missing_mistake(policy, arrives)
    if arrives["openexchangerates"]:
        raise NotYet("the rates' events would arrive too: the price alerts want the two market sources only.")
    uninvited = [s for s in LATER_SOURCES if arrives[s]]
    named = [s for s in uninvited if s in {_named(r) for b in _branches(policy) for _, rules in b for r in rules}]
    if named:
        raise NotYet(
            f"the list names {named[0]}, a source the queue does not want: the price alerts take yahoo_finance's "
            "and coinmarketcap's events only, so list those two."
        )
    if uninvited:
        raise NotYet(
            f"a source added later ({uninvited[0]}) would arrive uninvited: name each source wanted by its id, "
            "instead of excluding the ones you know or matching a prefix or a suffix."
        )
    return "SNS delivers yahoo_finance's and coinmarketcap's events to the queue, never the rates', nor a new source's."


def _attribute_mistake(policy: dict[str, Any]) -> None:
    """NotYet if the policy names an attribute the pipeline's events do not carry."""
    from pipeline.constants import SOURCE_ATTRIBUTE

    other = [  # an attribute an event lacks satisfies {"exists": false}: SNS delivers the event
        name
        for branch in _branches(policy)
        for name, rules in branch
        if name != SOURCE_ATTRIBUTE and not (isinstance(rules, list) and {"exists": False} in rules)
    ]
    if other:
        near = " (names are case-sensitive)" if other[0].lower() == SOURCE_ATTRIBUTE else ""
        raise NotYet(
            f"the pipeline sets one message attribute, {SOURCE_ATTRIBUTE!r} (pipeline/events.py): an event has no "
            f"{other[0]!r}{near}, so the policy matches none of them."
        )


def _missing_mistake(policy: dict[str, Any], arrives: dict[str, bool]) -> None:
    """NotYet if a wanted source's events would not arrive, naming the values that are no source id."""
    missing = [s for s in WANTED if not arrives[s]]
    if missing:
        named = [_named(rule) for branch in _branches(policy) for _, rules in branch for rule in rules]
        values = ", ".join(repr(v) for v in named if v is not None and v not in arrives)
        hint = f": {values} is not a source id (pipeline.registry.source_ids())" if values else ""
        raise NotYet(
            f"the events of {missing[0]} would not arrive{hint}: the list holds every source the queue takes, "
            "each by its registry id."
        )


def _named(rule: Any) -> str | None:
    """The source id a rule names, if it names one: a value, or equals-ignore-case's (in lower case, as ids are)."""
    if isinstance(rule, dict) and set(rule) == {"equals-ignore-case"}:
        return str(rule["equals-ignore-case"]).lower()
    return rule if isinstance(rule, str) else None
