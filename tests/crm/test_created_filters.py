"""The "Created between" filter of every main list (and of the API, which reuses the list pages'
FilterSets) keeps only the records created in the range, and the filter bar keeps the range."""

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Account, Contact, Task
from leads.models import Lead
from support.models import Ticket
from tests.api.conftest import client_for
from tests.factories import AccountFactory, ContactFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

LISTS = [
    ("/accounts/", "accounts", Account, lambda owner, name: AccountFactory(owner=owner, name=name)),
    (
        "/contacts/",
        "contacts",
        Contact,
        lambda owner, name: ContactFactory(owner=owner, last_name=name),
    ),
    ("/leads/", "leads", Lead, lambda owner, name: LeadFactory(owner=owner, last_name=name)),
    ("/tickets/", "tickets", Ticket, lambda owner, name: TicketFactory(subject=name)),
    ("/tasks/", "tasks", Task, lambda owner, name: TaskFactory(assignee=owner, title=name)),
]


def _old_and_new(model, make, owner):
    old = make(owner, "Oldrecordname")
    model.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    new = make(owner, "Newrecordname")
    return old, new


@pytest.mark.parametrize(("url", "resource", "model", "make"), LISTS, ids=[r[1] for r in LISTS])
def test_the_list_page_keeps_only_records_created_in_the_range(
    admin_client_, admin, url, resource, model, make
):
    _old_and_new(model, make, admin)
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()

    page = admin_client_.get(url, {"created_after": since}).content.decode()

    assert "Newrecordname" in page
    assert "Oldrecordname" not in page
    assert f'name="created_after" value="{since}"' in page
    assert 'name="created_before"' in page

    until = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
    page = admin_client_.get(url, {"created_before": until}).content.decode()
    assert "Oldrecordname" in page
    assert "Newrecordname" not in page


@pytest.mark.parametrize(("url", "resource", "model", "make"), LISTS, ids=[r[1] for r in LISTS])
def test_the_api_list_keeps_only_records_created_in_the_range(admin, url, resource, model, make):
    old, new = _old_and_new(model, make, admin)
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()

    response = client_for(admin).get(f"/api/v1/{resource}/", {"created_after": since})

    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert new.pk in ids
    assert old.pk not in ids
