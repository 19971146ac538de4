"""Custom fields in a list's filter bar: one filter per field the user may see, after the
list's own filters.

Query-string names are ``cf_<key>`` (``cf_<key>_min`` and ``cf_<key>_max`` for ranges), so a
saved view, which keeps the query string, keeps them too. A value the field cannot take (a
choice it does not have, a number that is not one) is the filter form's error on that filter,
and the filter is then left out of the query."""

from __future__ import annotations

import django_filters
from django import forms
from django_filters.fields import RangeField
from django_filters.widgets import DateRangeWidget, RangeWidget

from crm.custom_fields.definitions import fields_for_request
from crm.custom_fields.query import custom_q
from crm.custom_fields.registry import custom_field_entities
from crm.models.custom_fields import CustomFieldKind as K

PREFIX = "cf_"
SELECT_CLASS = "form-select form-select-sm"


class MinMaxDateWidget(DateRangeWidget):
    """From–to dates named ``<name>_min`` and ``<name>_max``."""

    suffixes = ["min", "max"]


class CustomFieldFilter(django_filters.Filter):
    """Filters rows on one custom field (``definition``), through ``custom_q``."""

    def __init__(self, *, definition, field_class, **kwargs):
        self.definition = definition
        kwargs.setdefault("label", definition.label)
        kwargs.setdefault("required", False)
        super().__init__(field_name="custom", **kwargs)
        self.field_class = field_class

    def filter(self, qs, value):
        field = self.definition
        kind = field.kind
        if value in (None, "", [], ()):
            return qs
        if kind in (K.CHOICE, K.MULTI_CHOICE):
            return qs.filter(custom_q(field, "in", [str(v) for v in value]))
        if kind == K.USER:
            return qs.filter(custom_q(field, "in", [int(v) for v in value]))
        if kind == K.BOOLEAN:
            return qs.filter(custom_q(field, "is", value == "true"))
        if kind in (K.NUMBER, K.MONEY, K.DATE):
            low, high = value.start, value.stop
            if kind == K.DATE:
                low, high = (d.isoformat() if d else None for d in (low, high))
            if low not in (None, ""):
                qs = qs.filter(custom_q(field, "gte", low))
            if high not in (None, ""):
                qs = qs.filter(custom_q(field, "lte", high))
            return qs
        if kind in (K.TEXT, K.LONG_TEXT):
            return qs.filter(custom_q(field, "contains", value.strip()))
        return qs


def people_for_request(request) -> dict:
    """``{pk: name}`` of the users a user field may hold, read once per request: the user
    filters' choices, and the names of a list page's user columns."""
    people = getattr(request, "_custom_field_people", None)
    if people is None:
        from crm.custom_fields.values import _users

        users = _users().order_by("first_name", "last_name", "username")
        people = {u.pk: str(u) for u in users}
        if request is not None:
            request._custom_field_people = people
    return people


def custom_filter(field, *, request=None) -> CustomFieldFilter | None:
    """The filter of one custom field (None for a kind without one: links to records)."""
    kind = field.kind
    if kind in (K.CHOICE, K.MULTI_CHOICE):
        choices = [
            (str(c["value"]), str(c.get("label") or c["value"])) for c in field.choices or []
        ]
        return CustomFieldFilter(
            definition=field,
            field_class=forms.MultipleChoiceField,
            choices=choices,
            widget=forms.SelectMultiple(
                attrs={"size": min(4, max(2, len(choices))), "class": SELECT_CLASS}
            ),
        )
    if kind == K.USER:
        return CustomFieldFilter(
            definition=field,
            field_class=forms.MultipleChoiceField,
            choices=[(str(pk), name) for pk, name in people_for_request(request).items()],
            widget=forms.SelectMultiple(attrs={"size": 3, "class": SELECT_CLASS}),
        )
    if kind == K.BOOLEAN:
        return CustomFieldFilter(
            definition=field,
            field_class=forms.ChoiceField,
            choices=[("", "Any"), ("true", "Yes"), ("false", "No")],
            widget=forms.Select(attrs={"class": SELECT_CLASS}),
        )
    if kind in (K.NUMBER, K.MONEY):
        number = forms.DecimalField(max_digits=21, decimal_places=6)
        return CustomFieldFilter(
            definition=field,
            field_class=RangeField,
            fields=(number, forms.DecimalField(max_digits=21, decimal_places=6)),
            widget=RangeWidget(attrs={"step": "any", "type": "number"}),
            label=field.label,
        )
    if kind == K.DATE:
        return CustomFieldFilter(
            definition=field,
            field_class=RangeField,
            fields=(forms.DateField(), forms.DateField()),
            widget=MinMaxDateWidget(attrs={"type": "date"}),
            label=f"{field.label} between",
        )
    if kind in (K.TEXT, K.LONG_TEXT):
        return CustomFieldFilter(
            definition=field,
            field_class=forms.CharField,
            max_length=200,
            widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
            label=f"{field.label} contains",
        )
    return None


class CustomFieldFilterMixin:
    """Put first among a FilterSet's bases: adds a ``cf_<key>`` filter per custom field of the
    FilterSet model's kind that the request's user may see (the definitions are read once per
    request, shared with the list's columns)."""

    custom_entity = ""

    def custom_definitions(self) -> list:
        request = getattr(self, "request", None)
        if request is None or not getattr(request, "user", None):
            return []
        entity = self.custom_entity or getattr(
            custom_field_entities.for_model(self._meta.model), "key", ""
        )
        return fields_for_request(request, entity) if entity else []

    def add_custom_filters(self) -> None:
        if getattr(self, "_custom_filters_added", False):
            return
        self._custom_filters_added = True
        for field in self.custom_definitions():
            found = custom_filter(field, request=self.request)
            if found is not None:
                found.model = self._meta.model
                found.parent = self
                self.filters[PREFIX + field.key] = found

    def get_form_class(self):
        self.add_custom_filters()
        return super().get_form_class()

    def filter_queryset(self, queryset):
        self.add_custom_filters()
        return super().filter_queryset(queryset)
