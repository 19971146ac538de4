"""The built-in ``date`` filter writes the numeric formats itself: what it writes is what
Django's ``date`` writes, for every kind of value, in the current time zone."""

import datetime as dt
import re

import pytest
from django.template import Context, Engine, Template
from django.utils import timezone

from crm.templatetags.dates import _NUMERIC

FORMATS = [*_NUMERIC, "F Y", "D j M Y, H:i", "", None]
VALUES = [
    dt.datetime(2026, 3, 7, 4, 5, 6, tzinfo=dt.UTC),  # another day in Berlin than in UTC: no
    dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # the next day and year in Berlin
    dt.datetime(987, 1, 2, 3, 4, 5),  # naive, a year of three digits
    dt.date(2026, 2, 28),
    dt.time(9, 30),
    None,
    "",
    "2026-01-01",
]


def _django(source: str, value) -> str:
    """The template rendered by an engine with Django's own built-ins only."""
    return Engine().from_string(source).render(Context({"value": value}))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Los_Angeles"])
@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("format_", FORMATS)
def test_the_date_filter_writes_what_djangos_writes(settings, zone, value, format_):
    settings.TIME_ZONE = zone
    source = "{{ value|date }}" if format_ is None else f'{{{{ value|date:"{format_}" }}}}'
    with timezone.override(zone):
        try:
            expected = _django(source, value)
        except TypeError as error:  # a time format of a date: Django's error, as Django's
            with pytest.raises(TypeError, match=re.escape(str(error))):
                Template(source).render(Context({"value": value}))
            return
        assert Template(source).render(Context({"value": value})) == expected


def test_the_project_templates_use_the_built_in():
    from django.template import engines

    engine = engines["django"].engine
    assert engine.template_builtins[-1].filters["date"].__module__ == "crm.templatetags.dates"
