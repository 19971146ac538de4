"""A double click sends the same form twice at the same moment: each answer is a page, never a
500, and the work is done once. Two browsers (clients) POST together through real connections."""

import threading

import pytest
from django.test import Client
from django.urls import reverse

from leads.choices import LeadStatus
from leads.models import Lead
from sales.models import Opportunity, Order
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory

# serialized_rollback: the pipelines and roles the data migrations made are there for each test.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
CLICKS = 4


def post_together(user, url: str, data: dict) -> list[int]:
    """POST ``data`` to ``url`` from ``CLICKS`` clients signed in as ``user``, released at
    once; the status codes (a thread's exception is re-raised here)."""
    barrier = threading.Barrier(CLICKS)
    statuses, errors = [], []

    def click():
        from django.db import connection

        client = Client()
        client.force_login(user)
        try:
            barrier.wait(timeout=30)
            statuses.append(client.post(url, data).status_code)
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(CLICKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return statuses


def test_double_won_answers_every_click_and_records_one_order(rep):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep, email="a@example.com")
    deal = OpportunityFactory(owner=rep, account=account, primary_contact=contact)

    statuses = post_together(rep, reverse("sales:opportunity_win", args=[deal.pk]), {})

    assert statuses == [302] * CLICKS
    deal = Opportunity.objects.get(pk=deal.pk)
    assert deal.is_won
    assert Order.objects.filter(opportunity=deal).count() == 1


def test_double_convert_answers_every_click_and_converts_once(rep):
    lead = LeadFactory(owner=rep, company_name="Twice Ltd", website="twice.example")

    statuses = post_together(
        rep,
        reverse("leads:lead_convert", args=[lead.pk]),
        {"create_opportunity": "on", "opportunity_name": "Twice rollout"},
    )

    assert set(statuses) <= {200, 302} and 500 not in statuses
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.status == LeadStatus.CONVERTED
    assert Opportunity.objects.filter(name="Twice rollout").count() == 1
    assert lead.converted_account.contacts.count() == 1
