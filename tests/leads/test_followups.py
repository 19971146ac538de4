from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Task
from crm.services.timeline import activity_log
from leads.choices import LeadStatus
from leads.models import Lead
from leads.services.followups import followups_create
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def _age(lead, days):
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_quiet_working_lead_gets_one_follow_up(rep, settings):
    settings.LEAD_FOLLOW_UP_DAYS = 5
    quiet = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    fresh = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    new = LeadFactory(owner=rep, status=LeadStatus.NEW)
    for lead in (quiet, fresh, new):
        _age(lead, 10)
    activity_log(subject=fresh, kind=ActivityKind.CALL, summary="Called", actor=rep)
    assert followups_create() == 1
    assert followups_create() == 0
    task = Task.objects.get()
    assert task.subject == quiet and task.assignee == rep
    assert "5 days" in task.title


def test_another_follow_up_only_after_new_activity_and_silence(rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    _age(lead, 20)
    followups_create()
    activity_log(subject=lead, kind=ActivityKind.CALL, summary="Called", actor=rep)
    assert followups_create() == 0
    later = timezone.now() + timedelta(days=10)
    assert followups_create(now=later) == 1
    assert followups_create(now=later) == 0
