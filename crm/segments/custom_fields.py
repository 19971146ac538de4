"""Segment criteria from custom fields: one per active field of the target's kind of record,
keyed ``cf_<key>``, in the "Custom fields" group, computed when used (an archived field's
criterion is gone, so a segment still using it reports the condition as a problem).

Registered per target from ``apps.py``::

    segment_criteria.register_provider("lead", custom_field_criteria("lead"))

A target whose kind of record carries no custom fields (yet) simply gets none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from crm.custom_fields.definitions import fields_for
from crm.custom_fields.query import custom_q
from crm.custom_fields.registry import custom_field_entities
from crm.models.custom_fields import CustomFieldKind as K
from crm.segments.registry import NEGATED, Criterion, Group, Kind

PREFIX = "cf_"


def _negated(condition: Q, operator: str) -> Q:
    return ~condition if operator in NEGATED else condition


def _number(value):
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _users():
    from crm.custom_fields.values import _users as active_users

    return [(u.pk, str(u)) for u in active_users().order_by("first_name", "last_name", "pk")]


def criterion_for(field) -> Criterion | None:
    """The criterion of one custom field (None for a kind segments do not compare)."""
    key, label, help_text = f"{PREFIX}{field.key}", field.label, field.help_text
    kind = field.kind
    # A field limited to some roles is a criterion only for them (else its values could be
    # found out by counting).
    common = {"help_text": help_text, "usable_by": field.visible_to if field.roles else None}
    if kind in (K.CHOICE, K.MULTI_CHOICE):
        return Criterion(
            key,
            label,
            Group.CUSTOM,
            Kind.MULTI_CHOICE,
            lambda value, op: _negated(custom_q(field, "in", list(value)), op),
            choices=[(c["value"], c.get("label") or c["value"]) for c in field.choices or []],
            **common,
        )
    if kind == K.USER:
        return Criterion(
            key,
            label,
            Group.CUSTOM,
            Kind.MULTI_CHOICE,
            lambda value, op: _negated(custom_q(field, "in", [int(v) for v in value]), op),
            choices=_users,
            **common,
        )
    if kind in (K.TEXT, K.LONG_TEXT):
        return Criterion(
            key,
            label,
            Group.CUSTOM,
            Kind.TEXT,
            lambda value, op: _negated(custom_q(field, "contains", value), op),
            **common,
        )
    if kind in (K.NUMBER, K.MONEY):
        return Criterion(
            key,
            label,
            Group.CUSTOM,
            Kind.NUMBER,
            lambda value, op: custom_q(field, op, _number(value)),
            operators=("gte", "lte", "eq") if kind == K.NUMBER else ("gte", "lte"),
            **common,
        )
    if kind == K.DATE:
        return Criterion(
            key,
            label,
            Group.CUSTOM,
            Kind.DAYS,
            lambda value, op: _negated(custom_q(field, "gte", _days_ago(value)), op),
            unit="days",
            help_text=help_text or "The date is in the last N days (or today).",
        )
    if kind == K.BOOLEAN:
        return Criterion(
            key, label, Group.CUSTOM, Kind.BOOLEAN, lambda value, op: custom_q(field, "is", True)
        )
    # a link to a record: whether one is set
    return Criterion(
        key,
        f"{label} is filled in",
        Group.CUSTOM,
        Kind.BOOLEAN,
        lambda value, op: custom_q(field, "set", True),
        **common,
    )


def _days_ago(days) -> str:
    return (timezone.localdate() - dt.timedelta(days=int(days))).isoformat()


def custom_field_criteria(entity: str):
    """A provider for ``segment_criteria.register_provider``: the criteria of ``entity``'s
    active custom fields (one query when called)."""

    def provide() -> list[Criterion]:
        if custom_field_entities.get(entity) is None:
            return []
        return [c for c in map(criterion_for, fields_for(entity)) if c is not None]

    return provide
