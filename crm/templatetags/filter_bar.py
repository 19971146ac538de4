"""Helpers for the list pages' filter bars."""

from django import template
from django_filters.widgets import DateRangeWidget, RangeWidget

register = template.Library()


@register.filter
def date_range_inputs(field) -> list[dict]:
    """A date-range filter's two inputs (``<name>_after`` and ``<name>_before``), each a dict with
    ``name`` and ``value``; an empty list for any other field. Its bound field yields the range
    widget as one sub-widget named after the filter, which the FilterSet never reads, so the bar
    renders the range's own inputs from here."""
    widget = field.field.widget
    if not isinstance(widget, DateRangeWidget):
        return []
    context = widget.get_context(field.html_name, field.value(), {})
    return [{"name": sub["name"], "value": sub["value"]} for sub in context["widget"]["subwidgets"]]


@register.filter
def number_range_inputs(field) -> list[dict]:
    """A number range filter's two inputs (``<name>_min`` and ``<name>_max``), as
    ``date_range_inputs`` gives a date range's; an empty list for any other field."""
    widget = field.field.widget
    if not isinstance(widget, RangeWidget) or isinstance(widget, DateRangeWidget):
        return []
    context = widget.get_context(field.html_name, field.value(), {})
    return [{"name": sub["name"], "value": sub["value"]} for sub in context["widget"]["subwidgets"]]
