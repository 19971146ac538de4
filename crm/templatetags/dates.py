"""The ``date`` filter, with the project's numeric formats written directly.

Django's ``date`` looks its format up among the localized ones and walks it letter by letter
through ``DateFormat`` on every call: 30 to 50 µs, and a record page has several. The formats
the templates use most (``"Y-m-d H:i"``, ``"Y-m-d"``, ``"Y-m-d H:i:s"``, ``"H:i"``) are numbers
only, the same in every language, and are written here with the same zero-padding; any other
format, no format, or a value of another type takes Django's filter.

Installed for every template as a built-in (``TEMPLATES["OPTIONS"]["builtins"]``), after
Django's own built-ins, so ``{{ value|date:"Y-m-d" }}`` needs no ``{% load %}``.
"""

import datetime as dt

from django import template
from django.template.defaultfilters import date as django_date

register = template.Library()

#: Format -> (takes a time, how it is written from the value's fields).
_NUMERIC = {
    "Y-m-d H:i": (
        True,
        lambda v: f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}",
    ),
    "Y-m-d H:i:s": (
        True,
        lambda v: (
            f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        ),
    ),
    "Y-m-d": (False, lambda v: f"{v.year:04d}-{v.month:02d}-{v.day:02d}"),
    "H:i": (True, lambda v: f"{v.hour:02d}:{v.minute:02d}"),
}


@register.filter(expects_localtime=True, is_safe=False)
def date(value, arg=None):
    """Django's ``date`` (the value already in the current time zone, as for Django's)."""
    numeric = _NUMERIC.get(arg) if isinstance(arg, str) else None
    if numeric is not None:
        with_time, write = numeric
        if isinstance(value, dt.datetime) or (not with_time and isinstance(value, dt.date)):
            return write(value)
    return django_date(value, arg)
