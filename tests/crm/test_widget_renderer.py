"""The filter and bulk bars' widgets written in Python (``crm.widgets.WidgetRenderer``) are the
markup Django's widget templates write, every value escaped."""

import datetime as dt

import pytest
from django import forms
from django.forms.renderers import get_default_renderer

from crm.widgets import widget_renderer

HOSTILE = "<script>alert(\"x\")</script> & 'quoted'"

WIDGETS = [
    (forms.Select(choices=[("", "—"), ("a", "A & B"), ("<b>", HOSTILE)]), "a"),
    (forms.Select(choices=[("", "—"), ("Group <1>", [("1", "One"), ("2", HOSTILE)])]), "2"),
    (
        forms.SelectMultiple(attrs={"size": 3, "class": "form-select"}, choices=[(1, 1), (2, 2)]),
        [2],
    ),
    (forms.NullBooleanSelect(), None),
    (forms.HiddenInput(), HOSTILE),
    (forms.HiddenInput(), None),
    (forms.TextInput(attrs={"placeholder": HOSTILE, "required": True, "disabled": False}), "x"),
    (forms.NumberInput(attrs={"step": "any"}), 12.5),
    (forms.DateInput(attrs={"type": "date"}), dt.date(2026, 1, 31)),
    (forms.EmailInput(), ""),
]


@pytest.mark.parametrize(("widget", "value"), WIDGETS)
def test_python_widgets_write_what_the_templates_write(widget, value):
    attrs = {"id": "id_field", "aria-describedby": HOSTILE}
    python = widget.render("field", value, attrs=attrs, renderer=widget_renderer)
    templates = widget.render("field", value, attrs=attrs, renderer=get_default_renderer())
    assert python == templates
    assert "<script" not in python


def test_other_widgets_are_rendered_by_their_templates():
    widget = forms.CheckboxSelectMultiple(choices=[("a", HOSTILE)])
    python = widget.render("field", ["a"], renderer=widget_renderer)
    assert python == widget.render("field", ["a"], renderer=get_default_renderer())
