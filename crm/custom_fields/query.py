"""Filtering and sorting by a custom field, for list filters, saved views and segments.

Equality and containment (choice, multiple choice, yes/no, user, link) compile to
``custom @> '{"key": value}'``, which the GIN index answers; ranges (number, money amount,
date) and text search compare the key's value (``custom -> 'key'``), so they are best
combined with an indexed condition on large tables."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from crm.models.custom_fields import CustomFieldKind as K

#: Operators per kind, with their labels (the first is the default).
OPERATORS = {
    K.TEXT: [("contains", "contains"), ("is", "is"), ("set", "is filled in")],
    K.LONG_TEXT: [("contains", "contains"), ("set", "is filled in")],
    K.NUMBER: [("gte", "at least"), ("lte", "at most"), ("eq", "equals"), ("set", "is filled in")],
    K.MONEY: [("gte", "at least"), ("lte", "at most"), ("set", "is filled in")],
    K.DATE: [("gte", "on or after"), ("lte", "on or before"), ("set", "is filled in")],
    K.BOOLEAN: [("is", "is")],
    K.CHOICE: [("in", "is any of"), ("set", "is filled in")],
    K.MULTI_CHOICE: [
        ("in", "includes any of"),
        ("all", "includes all of"),
        ("set", "is filled in"),
    ],
    K.USER: [("in", "is any of"), ("set", "is filled in")],
    K.RECORD: [("is", "is"), ("set", "is filled in")],
}


def operators(field) -> list[tuple[str, str]]:
    return OPERATORS[field.kind]


def custom_q(field, operator: str, value, *, prefix: str = "") -> Q:
    """Records whose ``field`` matches ``operator``/``value`` (``value`` already parsed by
    ``values.parse`` for single values, a list of parsed values for ``in``/``all``).
    ``prefix`` reaches the record through a relation ("account__")."""
    column = f"{prefix}custom"
    key = field.key
    if operator == "set":
        return Q(**{f"{column}__has_key": key})
    kind = field.kind
    if operator in ("in", "all") and kind in (K.CHOICE, K.USER):
        return _any(column, key, value)
    if kind == K.MULTI_CHOICE:
        values = value if isinstance(value, list) else [value]
        if operator == "all":
            return Q(**{f"{column}__contains": {key: values}})
        parts = [Q(**{f"{column}__contains": {key: [v]}}) for v in values]
        return _or(parts)
    if operator in ("is", "eq") and kind in (K.BOOLEAN, K.RECORD, K.NUMBER, K.TEXT):
        if kind == K.TEXT:
            return Q(**{f"{column}__{key}__iexact": value})
        return Q(**{f"{column}__contains": {key: value}})
    if kind in (K.TEXT, K.LONG_TEXT):
        return Q(**{f"{column}__{key}__icontains": value})
    if kind in (K.NUMBER, K.MONEY, K.DATE) and operator in ("gte", "lte"):
        path = f"{column}__{key}__amount" if kind == K.MONEY else f"{column}__{key}"
        if kind == K.MONEY and isinstance(value, dict):
            value = value["amount"]
        if kind != K.DATE:
            value = _json_number(value)
        return Q(**{f"{path}__{operator}": value})
    raise ValueError(f"{operator!r} does not apply to a {kind} field")


def _json_number(value):
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _any(column, key, values) -> Q:
    values = values if isinstance(values, list) else [values]
    return _or([Q(**{f"{column}__contains": {key: v}}) for v in values])


def _or(parts: list[Q]) -> Q:
    if not parts:
        return Q(pk__in=[])
    condition = parts[0]
    for part in parts[1:]:
        condition |= part
    return condition


def order_expression(field, *, descending: bool = False):
    """Sort by the field: numbers, money amounts and dates by their JSON value, the rest by
    text; empty values last."""
    if field.kind == K.MONEY:
        expression = KeyTransform("amount", KeyTransform(field.key, "custom"))
    elif field.kind in (K.NUMBER, K.DATE):
        expression = KeyTransform(field.key, "custom")
    else:
        expression = KeyTextTransform(field.key, "custom")
    expression = F("custom") if expression is None else expression
    return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
