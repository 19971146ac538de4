"""Writing to a record's timeline (activities, tasks) takes change rights on the record, not
only sight of it; the forms are offered only to those who may use them."""

import pytest
from django.urls import reverse

from crm.models import Activity, Task
from tests.factories import AccountFactory, ContactFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

FUTURE = "2031-01-01T10:00"


def _post_note(client, label, pk):
    url = reverse("activity_create", args=[label, pk])
    return client.post(url, {"activity-kind": "note", "activity-summary": "Written"})


def _post_task(client, label, pk):
    url = reverse("task_create", args=[label, pk])
    return client.post(url, {"task-title": "Call back", "task-due_at": FUTURE})


def test_rep_reads_a_ticket_of_their_account_but_writes_nothing_to_it(client, rep, agent):
    ticket = TicketFactory(contact=ContactFactory(owner=rep))
    client.force_login(rep)

    page = client.get(ticket.get_absolute_url())
    assert page.status_code == 200
    assert "Log activity" not in page.content.decode()
    assert "Add task" not in page.content.decode()
    assert _post_note(client, "support.ticket", ticket.pk).status_code == 404
    assert _post_task(client, "support.ticket", ticket.pk).status_code == 404
    assert not Activity.objects.for_object(ticket).filter(summary="Written").exists()
    assert not Task.objects.for_object(ticket).exists()

    client.force_login(agent)
    assert "Log activity" in client.get(ticket.get_absolute_url()).content.decode()
    assert _post_note(client, "support.ticket", ticket.pk).status_code == 302
    assert Activity.objects.for_object(ticket).filter(summary="Written").exists()


def test_agent_reads_an_account_but_writes_nothing_to_it(client, rep, agent):
    account = AccountFactory(owner=rep)
    client.force_login(agent)

    page = client.get(account.get_absolute_url())
    assert page.status_code == 200
    assert "Log activity" not in page.content.decode()
    assert _post_note(client, "crm.account", account.pk).status_code == 404
    assert _post_task(client, "crm.account", account.pk).status_code == 404

    client.force_login(rep)
    assert "Log activity" in client.get(account.get_absolute_url()).content.decode()
    assert _post_task(client, "crm.account", account.pk).status_code == 302
    assert Task.objects.for_object(account).count() == 1
