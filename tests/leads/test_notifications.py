"""Leads notify their new owner under the bell when someone else gives them one."""

import pytest

from crm.models import Notification
from leads.models import Lead
from leads.services.leads import lead_create, lead_reassign, leads_bulk_reassign
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_lead_reassigned_by_a_manager_notifies_the_new_owner(rep, rep2, manager):
    lead = LeadFactory(owner=rep)
    lead_reassign(lead=lead, owner=rep2, user=manager)
    notification = Notification.objects.get()
    assert notification.recipient == rep2 and notification.actor == manager
    assert notification.url == lead.get_absolute_url()


def test_a_lead_one_creates_for_oneself_notifies_nobody(rep):
    lead_create(user=rep, last_name="Mine")
    assert not Notification.objects.exists()


def test_a_bulk_reassignment_notifies_once_per_lead(rep, rep2, manager):
    LeadFactory.create_batch(3, owner=rep)
    assert leads_bulk_reassign(leads=Lead.objects.all(), owner=rep2, user=manager) == 3
    assert Notification.objects.filter(recipient=rep2, kind="assigned").count() == 3
