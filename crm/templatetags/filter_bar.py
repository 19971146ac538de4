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


@register.simple_tag
def filter_fields(form):
    """The fields of a list's filter bar (``crm.tables.filter_fields``)."""
    from crm.tables import filter_fields as fields

    return fields(form)


@register.simple_tag(takes_context=True)
def column_headers(context):
    """The list table's header cells (``crm.tables.column_headers``)."""
    from crm.tables import column_headers as headers

    return headers(
        context.get("columns") or (),
        current_sort=context.get("current_sort", ""),
        query=context.get("query_without_sort", ""),
    )


@register.simple_tag(takes_context=True)
def list_pager(context):
    """The pager under a list table (``crm.tables.list_pager``)."""
    from crm.tables import list_pager as pager

    return pager(
        page=context["page_obj"],
        links=context["page_links"],
        query=context.get("query_without_page") or "",
        page_sizes=context.get("page_sizes") or (),
        per_page=context.get("per_page"),
        size_query=context.get("query_without_size") or "",
    )


@register.simple_tag
def saved_view_columns(columns):
    """The column tick boxes of a list's "Save current view" form."""
    from crm.tables import saved_view_columns as boxes

    return boxes(columns)


@register.filter
def as_options(choices):
    """``<option>`` of each ``(value, label)`` of ``choices`` (``crm.tables.options``)."""
    from crm.tables import options

    return options(choices)


@register.filter
def records_as_options(records):
    """``<option>`` of each record: its key, and its name."""
    from crm.tables import options

    return options((record.pk, str(record)) for record in records)
