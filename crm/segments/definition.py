"""A segment's definition: a tree of AND/OR groups of conditions, checked and compiled to a Q.

The stored JSON::

    {"op": "and", "children": [
        {"criterion": "title", "operator": "contains", "value": "VP"},
        {"criterion": "account_country", "operator": "is", "value": "DE"},
        {"op": "or", "children": [
            {"criterion": "last_activity", "operator": "not_within", "value": 30},
            {"criterion": "marketing_consent", "operator": "is", "value": true}]}]}

``definition_clean`` checks it against the registry (unknown criterion, bad operator or value,
too deep or too big) and returns it normalised, or raises one ``ValidationError`` listing every
problem with where it is. ``definition_q`` compiles a clean definition to one ``Q``. An empty
group matches everything (an empty segment is "all the records I can see").
"""

from __future__ import annotations

from functools import reduce
from operator import and_, or_

from django.core.exceptions import ValidationError
from django.db.models import Q

from crm.segments.registry import Kind, segment_criteria

MAX_DEPTH = 4
MAX_CONDITIONS = 50
GROUP_OPS = {"and": "all of", "or": "any of"}


def empty_definition() -> dict:
    return {"op": "and", "children": []}


def is_group(node) -> bool:
    return isinstance(node, dict) and "children" in node


def definition_clean(target_key: str, definition, cache=None) -> dict:
    """The definition checked and normalised, or ``ValidationError`` with every problem
    (``cache``: a dict shared with ``definition_q`` so criteria are read once)."""
    if segment_criteria.target(target_key) is None:
        raise ValidationError(f"“{str(target_key)[:50]}” is not a kind of segment.")
    errors: list[str] = []
    counter = [0]
    choices: dict = {} if cache is None else cache
    cleaned = _clean_group(
        target_key, definition, (errors, counter, choices), depth=1, where="The segment"
    )
    if counter[0] > MAX_CONDITIONS:
        errors.append(f"A segment can have at most {MAX_CONDITIONS} conditions.")
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_group(target_key, node, state, *, depth, where) -> dict:
    errors, counter, _ = state
    if not is_group(node) or not isinstance(node["children"], list):
        errors.append(f"{where} is not a group of conditions.")
        return empty_definition()
    op = node.get("op", "and")
    if op not in GROUP_OPS:
        errors.append(f"{where}: “{str(op)[:20]}” is not AND or OR.")
    if depth > MAX_DEPTH:
        errors.append(f"{where}: groups can be nested at most {MAX_DEPTH} deep.")
        return empty_definition()
    children = []
    for index, child in enumerate(node["children"], start=1):
        if is_group(child):
            inner = f"group {index}" if depth == 1 else f"{where.lower()}, group {index}"
            group = _clean_group(
                target_key, child, state, depth=depth + 1, where=inner.capitalize()
            )
            if group["children"]:
                children.append(group)
            continue
        counter[0] += 1
        place = f"Condition {index}" if depth == 1 else f"{where}, condition {index}"
        condition = _clean_condition(target_key, child, state, place)
        if condition is not None:
            children.append(condition)
    return {"op": op if op in GROUP_OPS else "and", "children": children}


def _clean_condition(target_key, node, state, place) -> dict | None:
    errors, _, choices = state
    if not isinstance(node, dict) or "criterion" not in node:
        errors.append(f"{place}: not a condition.")
        return None
    key = node.get("criterion")
    if not key:
        errors.append(f"{place}: choose a criterion.")
        return None
    criterion = segment_criteria.criterion(target_key, str(key), cache=choices)
    if criterion is None:
        errors.append(f"{place}: “{str(key)[:50]}” is not a criterion of this kind of segment.")
        return None
    value_choices = None
    if criterion.kind in (Kind.CHOICE, Kind.MULTI_CHOICE):
        if criterion.key not in choices:
            choices[criterion.key] = criterion.value_choices()
        value_choices = choices[criterion.key]
    try:
        operator, value = criterion.clean(
            node.get("operator"), node.get("value"), value_choices=value_choices
        )
    except ValidationError as exc:
        errors.extend(f"{place}: {message}" for message in exc.messages)
        return None
    return {"criterion": criterion.key, "operator": operator, "value": value}


def definition_q(target_key: str, cleaned: dict, cache=None) -> Q:
    """One ``Q`` for a definition already passed through ``definition_clean``."""
    return _group_q(target_key, cleaned, {} if cache is None else cache)


def _group_q(target_key, group, cache) -> Q:
    parts = []
    for child in group["children"]:
        if is_group(child):
            parts.append(_group_q(target_key, child, cache))
        else:
            criterion = segment_criteria.criterion(target_key, child["criterion"], cache=cache)
            parts.append(criterion.q(child["operator"], child["value"]))
    if not parts:
        return Q()
    return reduce(and_ if group["op"] == "and" else or_, parts)


def definition_conditions(definition) -> int:
    """How many conditions a (clean) definition holds."""
    if not is_group(definition):
        return 0
    return sum(
        definition_conditions(c) if is_group(c) else 1 for c in definition.get("children", [])
    )


def definition_unusable(target_key: str, cleaned: dict, user, cache=None) -> list[str]:
    """The labels of the criteria in a clean definition that ``user`` may not use."""
    cache = {} if cache is None else cache
    labels: list[str] = []
    for child in cleaned.get("children", []):
        if is_group(child):
            labels.extend(
                label
                for label in definition_unusable(target_key, child, user, cache)
                if label not in labels
            )
            continue
        criterion = segment_criteria.criterion(target_key, child["criterion"], cache=cache)
        if criterion is not None and not criterion.usable(user) and criterion.label not in labels:
            labels.append(criterion.label)
    return labels
