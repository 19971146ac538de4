"""A double click sends the same form twice at the same moment: each answer is a page, never a
500, and the work is done once. Two browsers (clients) POST together through real connections."""

import pytest
from django.urls import reverse

from leads.choices import LeadStatus
from leads.models import Lead
from sales.models import Opportunity, Order
from tests import concurrency
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory

# serialized_rollback: the pipelines and roles the data migrations made are there for each test.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.pgbouncer,
]
CLICKS = 4


def post_together(user, url: str, data: dict) -> list[int]:
    return [r.status_code for r in concurrency.post_together(user, url, data, clicks=CLICKS)]


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


def test_undo_merge_clicked_at_once_undoes_once(rep):
    from leads.models import LeadMerge
    from leads.services.merge import lead_merge

    keep = LeadFactory(owner=rep)
    merge = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    lead_merge(keep=keep, merge=merge, user=rep)
    record = LeadMerge.objects.get()

    statuses = post_together(rep, reverse("leads:lead_merge_undo", args=[record.pk]), {})

    assert set(statuses) <= {200, 302} and statuses.count(302) == 1
    assert Lead.objects.get(pk=merge.pk).status == LeadStatus.WORKING
    assert LeadMerge.objects.get().undone_by == rep
