from django import forms
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import get_default_renderer
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, mark_safe

from crm.selectors import is_record_key
from crm.tables import text


class AutocompleteSelect(forms.Select):
    """A select that renders only the chosen option and searches the rest as the user types
    (static/crm/app.js wires Tom Select to ``data-autocomplete-url``), so a field pointing at
    100,000 accounts stays one small query."""

    def __init__(self, url_name: str, attrs=None):
        super().__init__(attrs)
        self.url_name = url_name

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-autocomplete-url"] = reverse(self.url_name)
        return context

    def optgroups(self, name, value, attrs=None):
        # Only whole numbers in the key range are looked up: a mangled value shows as none
        # chosen (the form says why) instead of failing the query.
        selected = {str(v) for v in value if is_record_key(v)}
        options = [self.create_option(name, "", "—", not selected, 0)]
        if selected:
            queryset = self.choices.queryset.filter(pk__in=selected)
            for index, obj in enumerate(queryset, start=1):
                options.append(self.create_option(name, obj.pk, str(obj), True, index))
        return [(None, options, 0)]


#: Options already written, by (value, label, selected): the filter bars of the lists show the
#: same few hundred (countries, stages, people) on every page. Only plain-text labels are kept
#: (one marked safe is written as it is, never mistaken for the same text to escape). Emptied
#: when it grows past ``_OPTIONS_KEPT`` (labels of records change).
_options: dict[tuple[str, str, bool], str] = {}
_OPTIONS_KEPT = 20000


def _flat_attributes(attrs) -> str:
    """``django.forms.utils.flatatt`` (names and values escaped; sorted, flags last), without
    a ``format_html`` call per attribute."""
    pairs = sorted(
        (name, value)
        for name, value in attrs.items()
        if not isinstance(value, bool) and value is not None
    )
    flags = sorted(name for name, value in attrs.items() if value is True)
    return "".join(
        f' {conditional_escape(name)}="{conditional_escape(value)}"' for name, value in pairs
    ) + "".join(f" {conditional_escape(name)}" for name in flags)


class FastSelect(forms.Select):
    """A select rendered in Python rather than one template include per option: a country list
    has 250 options, and rendering each through the template engine costs a list page tens of
    milliseconds. Each option's markup is kept once written."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = {str(v) for v in self.format_value(value)}
        attrs = self.build_attrs(self.attrs, attrs)
        attrs["name"] = name
        parts = []
        for option_value, option_label in self.choices:
            if isinstance(option_label, list | tuple):
                inner = "".join(self._option(v, label, selected) for v, label in option_label)
                parts.append(f'<optgroup label="{escape(option_value)}">{inner}</optgroup>')
            else:
                parts.append(self._option(option_value, option_label, selected))
        return mark_safe(f"<select{_flat_attributes(attrs)}>{''.join(parts)}</select>")

    @staticmethod
    def _option(value, label, selected) -> str:
        value = "" if value is None else str(value)
        if isinstance(label, Promise):
            label = str(label)
        key = (value, label, value in selected)
        html = _options.get(key) if type(label) is str else None
        if html is None:
            flag = " selected" if key[2] else ""
            html = f'<option value="{escape(value)}"{flag}>{escape(label)}</option>'
            if type(label) is str:
                if len(_options) >= _OPTIONS_KEPT:
                    _options.clear()
                _options[key] = html
        return html


class QueryChoiceIterator(ModelChoiceIterator):
    """A model choice field's options read with one plain query.

    Django's own iterator reads them through ``queryset.iterator()``, which on PostgreSQL opens
    a server-side cursor: DECLARE, FETCH and CLOSE, three round trips for a few dozen users,
    stages or campaigns, several times on a list page's filter bar. The rows are kept on the
    field's queryset (its own copy for each form), so a second pass costs nothing."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        # django-filter's "none of them" choice (``null_label``) comes after the empty one.
        null_label = getattr(self.field, "null_label", None)
        if null_label is not None:
            yield (self.field.null_value, null_label)
        for obj in option_rows(self.field):
            yield self.choice(obj)

    def __len__(self):
        extra = (self.field.empty_label is not None) + (
            getattr(self.field, "null_label", None) is not None
        )
        return len(option_rows(self.field)) + extra


def option_rows(field):
    """The field's queryset, its rows read once: from the catalog (``crm.catalog``: kept by the
    process while it is unchanged) when the field was given the request's user and reads only
    the catalog's tables."""
    queryset = field.queryset
    user = getattr(field, "catalog_user", None)
    if queryset._result_cache is None and user is not None:
        from crm import catalog

        # As a prefetch fills a queryset: iterating it, and len(), read these rows.
        name = getattr(field, "catalog_name", None)
        queryset._result_cache = catalog.rows(user, queryset, name=name)
    return queryset


def read_choices_plainly(field, user=None, *, name=None) -> None:
    """Make a model choice field (and its select) read its options with ``QueryChoiceIterator``,
    and find a submitted choice among them: the select lists every option anyway, so the choice
    costs no query of its own (a filter bar's "Owner" was read twice). Given the request's
    ``user``, options over the catalog's tables are read from it (under ``name``, when the
    field's query is one the catalog names: ``crm.catalog.rows``)."""
    if not isinstance(field, forms.ModelChoiceField) or field.queryset is None:
        return
    field.catalog_user = user
    if name is not None:
        field.catalog_name = name
    field.iterator = QueryChoiceIterator
    field.widget.choices = field.choices
    if field.to_field_name is None and not isinstance(field, forms.ModelMultipleChoiceField):
        field.to_python = _chosen_among_options(field, field.to_python)


def _chosen_among_options(field, to_python):
    def chosen(value):
        if value not in field.empty_values and not isinstance(value, field.queryset.model):
            key = str(value)
            for obj in option_rows(field):  # read once, then kept for the options
                if str(obj.pk) == key:
                    return obj
        return to_python(value)  # empty, the "none" choice, or not an option: the form's way

    return chosen


def _attribute_text(value) -> str:
    """``{{ value|stringformat:'s' }}`` in a widget template."""
    if isinstance(value, SafeData):
        return value
    return escape(str(value))


def _attributes(attrs) -> str:
    """``django/forms/widgets/attrs.html``."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        else:
            parts.append(f' {conditional_escape(name)}="{_attribute_text(value)}"')
    return "".join(parts)


OPTION_TEMPLATE = "django/forms/widgets/select_option.html"


def _select(widget) -> str | None:
    """``django/forms/widgets/select.html`` (None for options of another template)."""
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{text(group_name)}">')
        for option in group_choices:
            if option["template_name"] != OPTION_TEMPLATE:
                return None
            parts.append(
                f'\n  <option value="{_attribute_text(option["value"])}"'
                f"{_attributes(option['attrs'])}>{text(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts).strip()


def _input(widget) -> str:
    """``django/forms/widgets/input.html``."""
    value = widget["value"]
    shown = "" if value is None else f' value="{_attribute_text(value)}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{shown}{_attributes(widget["attrs"])}>'
    )


_WRITERS = {"django/forms/widgets/select.html": _select} | {
    f"django/forms/widgets/{name}.html": _input
    for name in ("input", "text", "hidden", "number", "email", "url", "password", "search")
    + ("date", "datetime", "time", "tel", "color")
}


class WidgetRenderer:
    """A form renderer that writes selects and inputs in Python, markup for markup what their
    Django templates write (every value escaped), and renders any other template as the
    project's renderer does. A list page's filter and bulk bars hold selects of dozens of
    options; each option through the template engine is an include, a dozen lookups."""

    def __getattr__(self, name):
        return getattr(get_default_renderer(), name)

    def render(self, template_name, context, request=None):
        write = _WRITERS.get(template_name)
        html = write(context["widget"]) if write is not None else None
        if html is None:
            return get_default_renderer().render(template_name, context, request=request)
        return html


widget_renderer = WidgetRenderer()
