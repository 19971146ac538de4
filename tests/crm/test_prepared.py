"""Prepared statements (``crm.prepared``): a query a connection runs again is prepared once, and
a write made inside a history context (several statements, parameters of their own) still goes
through and keeps its context."""

import pytest
from django.db import connection

from crm.history import Source, source
from crm.models import Contact
from tests.factories.crm import ContactFactory

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_query_run_again_is_prepared_and_answers_for_its_own_parameters():
    first, second = ContactFactory(first_name="Ada"), ContactFactory(first_name="Grace")
    names = [
        Contact.objects.filter(pk=pk).values_list("first_name", flat=True).get()
        for pk in (first.pk, second.pk, first.pk, second.pk)
    ]
    assert names == ["Ada", "Grace", "Ada", "Grace"]
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    assert any('FROM "crm_contact" WHERE "crm_contact"."id" = $1' in sql for sql in _prepared())


def test_a_write_in_a_history_context_keeps_its_source(rep):
    contact = ContactFactory(first_name="Ada")
    with source(Source.IMPORT, user=rep, job=7):
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
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::int; SELECT %s::text", [1, "a;b"])
        assert cursor.fetchone() == (1,)
        assert cursor.nextset() and cursor.fetchone() == ("a;b",)
