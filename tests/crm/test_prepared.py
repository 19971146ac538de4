"""Prepared statements (``crm.prepared``): inside ``prepared()`` a query run again is prepared
once per connection and answers for its own parameters; outside it nothing is prepared and
parameters are merged on the client as Django does; a query of several statements (a write with
history context) is always merged, and keeps its context."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from crm.history import Source, source
from crm.models import Contact
from crm.prepared import prepared
from tests.factories.crm import ContactFactory

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _first_name(pk) -> str:
    return Contact.objects.filter(pk=pk).values_list("first_name", flat=True).get()


def test_inside_prepared_a_query_run_again_is_prepared_and_answers_for_its_parameters():
    first, second = ContactFactory(first_name="Ada"), ContactFactory(first_name="Grace")
    assert [_first_name(pk) for pk in (first.pk, second.pk, first.pk)] == ["Ada", "Grace", "Ada"]
    assert not any("crm_contact" in sql for sql in _prepared())  # outside: never prepared

    with prepared():
        names = [_first_name(pk) for pk in (first.pk, second.pk, first.pk, second.pk)]
    assert names == ["Ada", "Grace", "Ada", "Grace"]
    assert any('FROM "crm_contact" WHERE "crm_contact"."id" = $1' in sql for sql in _prepared())


def test_outside_prepared_parameters_and_percent_signs_are_merged_as_by_django():
    ContactFactory(first_name="100%")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_contact WHERE first_name LIKE %s", ["100%%"])
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT '50%%' || %s", ["!"])
        assert cursor.fetchone() == ("50%!",)
        cursor.execute("SELECT '50%%'")  # no parameters: the text as it is
        assert cursor.fetchone() == ("50%%",)


def test_a_record_page_prepares_its_queries(rep_client, rep):
    contact = ContactFactory(owner=rep)
    for _ in range(3):
        assert rep_client.get(reverse("contact_detail", args=[contact.pk])).status_code == 200
    statements = _prepared()
    # The record with its probes (their parameters come first, in the select list).
    assert any(re.search(r'WHERE "crm_contact"\."id" = \$\d+$', sql) for sql in statements)
    assert any('"django_session"."session_key" = $' in sql for sql in statements)  # every page


def test_a_write_in_a_history_context_keeps_its_source(rep):
    contact = ContactFactory(first_name="Ada")
    with prepared(), source(Source.IMPORT, user=rep, job=7):
        for name in ("Ada;", "Ada; Lovelace", "Ada's"):  # a ; in a value stays a value
            Contact.objects.filter(pk=contact.pk).update(first_name=name)
    contact.refresh_from_db()
    assert contact.first_name == "Ada's"
    events = contact.history_events.filter(pgh_label="update").select_related("pgh_context")
    assert [e.pgh_changes["first_name"][1] for e in events.order_by("pgh_id")] == [
        "Ada;",
        "Ada; Lovelace",
        "Ada's",
    ]
    assert {e.pgh_context.metadata["source"] for e in events} == {Source.IMPORT}
    assert {e.pgh_context.metadata["job"] for e in events} == {7}


def test_several_statements_with_parameters_run_merged():
    with prepared(), connection.cursor() as cursor:
        cursor.execute("SELECT %s::int; SELECT %s::text", [1, "a;b"])
        assert cursor.fetchone() == (1,)
        assert cursor.nextset() and cursor.fetchone() == ("a;b",)
