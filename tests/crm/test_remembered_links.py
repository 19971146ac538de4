"""``{% url %}`` and ``{% static %}`` remember what they resolved (``crm.templatetags.remembered``)
and answer exactly as Django's."""

from decimal import Decimal

import pytest
from django.template import Context, Template, engines
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from crm.templatetags import remembered


def render(text: str, **context) -> str:
    return engines["django"].from_string(text).render(context)


def test_url_answers_as_django_and_is_kept():
    remembered._reverse.cache_clear()
    text = "{% url 'contact_detail' pk %}|{% url 'contact_list' %}|{% url 'contact_detail' pk=pk %}"
    for pk in (7, 7, 8):
        expected = "|".join(
            [
                reverse("contact_detail", args=[pk]),
                reverse("contact_list"),
                reverse("contact_detail", kwargs={"pk": pk}),
            ]
        )
        assert render(text, pk=pk) == expected
    info = remembered._reverse.cache_info()
    assert info.hits == 4 and info.misses == 5  # contact_list once, each key's address once


def test_url_as_a_variable_and_errors_as_django():
    assert render("{% url 'contact_list' as u %}[{{ u }}]") == f"[{reverse('contact_list')}]"
    assert render("{% url 'no_such_page' as u %}[{{ u }}]") == "[]"
    with pytest.raises(NoReverseMatch):
        render("{% url 'no_such_page' %}")
    with pytest.raises(NoReverseMatch):
        render("{% url 'contact_detail' 'x' %}")


def test_url_of_other_arguments_is_not_kept(db):
    """A model instance (or any argument not a whole number or text) is reversed each time."""
    from tests.factories.crm import ContactFactory

    contact = ContactFactory()
    remembered._reverse.cache_clear()
    assert render("{% url 'contact_detail' c.pk %}", c=contact) == contact.get_absolute_url()
    assert render("{% url 'account_list' %}?x={{ flag }}", flag=True).startswith("/")
    before = remembered._reverse.cache_info().currsize
    assert render("{% url 'contact_detail' d %}", d=Decimal(5)) == reverse(
        "contact_detail", args=[5]
    )
    assert remembered._reverse.cache_info().currsize == before


def test_url_follows_a_changed_url_configuration(settings):
    assert render("{% url 'contact_list' %}") == reverse("contact_list")
    settings.ROOT_URLCONF = "tests.crm.urls_without_contacts"
    with pytest.raises(NoReverseMatch):
        render("{% url 'contact_list' %}")


def test_static_answers_as_django_without_a_load():
    remembered._static.cache_clear()
    out = render("{% static 'crm/app.css' %} {% static name as s %}{{ s }}", name="crm/app.js")
    assert out == f"{static('crm/app.css')} {static('crm/app.js')}"
    assert remembered._static.cache_info().currsize == 2
    # The other tags of Django's library are there too, and loading it still works.
    assert Template("{% get_static_prefix %}").render(Context()).startswith("/")
    assert render("{% load static %}{% static 'crm/app.css' %}") == static("crm/app.css")


def test_the_project_templates_use_the_remembered_static():
    """``{% load static %}`` would put Django's tag back in a template."""
    import re
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    templates = [*root.glob("templates/**/*.html"), *root.glob("*/templates/**/*.html")]
    loading = [
        str(path) for path in templates if re.search(r"\{% load [^%]*\bstatic\b", path.read_text())
    ]
    assert len(templates) > 100 and loading == []
