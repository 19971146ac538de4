"""The retention rule for leads never converted (RETENTION_UNCONVERTED_LEADS_MONTHS): old
inactive leads go with their timeline, tasks, emails and history rows; recent, converted and
active ones stay; each run is one audit line with counts; a rerun and a run beside another
never act twice; off by default; the command's dry run only counts."""

import io
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from crm.choices import ActivityKind, OutboxStatus
from crm.models import Activity, AuditEvent, OutboundEmail, Task
from crm.retention import retention_rules_run
from crm.services.timeline import activity_log
from leads.choices import LeadStatus
from leads.models import Lead
from leads.retention import ACTION, RULE
from leads.services.leads import lead_update
from tests.factories import UserFactory
from tests.factories.crm import OutboundEmailFactory, TaskFactory
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db

OLD = timedelta(days=500)  # past the 12 months the tests set
LeadEvent = apps.get_model("leads", "LeadEvent")


@pytest.fixture
def rule_on(settings):
    settings.RETENTION_UNCONVERTED_LEADS_MONTHS = 12
    return settings


def aged(lead, age=OLD):
    """Make the lead and everything about it ``age`` old, as if untouched since."""
    at = timezone.now() - age
    Lead.objects.filter(pk=lead.pk).update(created_at=at, updated_at=at, last_activity_at=at)
    about = {"content_type": ContentType.objects.get_for_model(Lead), "object_id": lead.pk}
    Activity.objects.filter(**about).update(occurred_at=at, created_at=at)
    Task.objects.filter(**about).update(created_at=at, due_at=at, done_at=at)
    return lead


def run(**kwargs):
    [outcome] = retention_rules_run(names=[RULE], **kwargs)
    return outcome


def a_lead_with_a_past(user, **fields):
    """A lead with history (edited), a timeline entry, a task and an email sent about it."""
    lead = LeadFactory(owner=user, **fields)
    lead_update(lead=lead, user=user, title="Head of Purchasing")
    activity_log(subject=lead, kind=ActivityKind.CALL, summary="Called, no answer", actor=user)
    lead_type = ContentType.objects.get_for_model(Lead)
    TaskFactory(assignee=user, content_type=lead_type, object_id=lead.pk)
    OutboundEmailFactory(
        to_email=lead.email, content_type=lead_type, object_id=lead.pk, status=OutboxStatus.SENT
    )
    return lead


def test_old_unconverted_leads_go_with_their_timeline_and_history(rule_on):
    rep = UserFactory(username="rep")
    old = aged(a_lead_with_a_past(rep, email="gone@example.com"))
    recent = a_lead_with_a_past(rep)
    converted = aged(
        a_lead_with_a_past(rep, status=LeadStatus.CONVERTED, converted_at=timezone.now() - OLD)
    )
    touched_lately = aged(a_lead_with_a_past(rep))
    activity_log(subject=touched_lately, kind=ActivityKind.NOTE, summary="Still interested")
    assert LeadEvent.objects.filter(pgh_obj_id=old.pk).count() >= 2

    outcome = run()

    assert outcome.counts == {
        "leads": 1,
        "activities": 2,  # the edit's "Changed job title" and the call
        "tasks": 1,
        "emails": 1,
        "history_rows": 2,
    }
    assert set(Lead.objects.values_list("pk", flat=True)) == {
        recent.pk,
        converted.pk,
        touched_lately.pk,
    }
    lead_type = ContentType.objects.get_for_model(Lead)
    about = {"content_type": lead_type, "object_id": old.pk}
    assert not Activity.objects.filter(**about).exists()
    assert not Task.objects.filter(**about).exists()
    assert not OutboundEmail.objects.filter(to_email="gone@example.com").exists()
    # No history row keeps their values, not even the deletion's own.
    assert not LeadEvent.objects.filter(pgh_obj_id=old.pk).exists()
    assert not LeadEvent.objects.filter(email="gone@example.com").exists()
    line = AuditEvent.objects.get(action=ACTION)
    assert line.actor is None and line.detail["leads"] == 1 and line.detail["months"] == 12
    assert "leads: 1" in line.detail_text


def test_a_second_run_finds_nothing_and_says_so(rule_on):
    aged(LeadFactory())
    assert run().counts["leads"] == 1
    again = run()
    assert again.counts == {
        "leads": 0,
        "activities": 0,
        "tasks": 0,
        "emails": 0,
        "history_rows": 0,
    }
    lines = AuditEvent.objects.filter(action=ACTION).order_by("id")
    assert [line.detail["leads"] for line in lines] == [1, 0]


def test_leads_waiting_for_mail_or_with_a_task_ahead_stay(rule_on):
    lead_type = ContentType.objects.get_for_model(Lead)
    waiting = aged(LeadFactory())
    OutboundEmailFactory(content_type=lead_type, object_id=waiting.pk)  # queued
    planned = aged(LeadFactory())
    TaskFactory(content_type=lead_type, object_id=planned.pk)  # due tomorrow
    assert run().counts["leads"] == 0
    assert Lead.objects.count() == 2


def test_the_rule_is_off_by_default(settings):
    assert settings.RETENTION_UNCONVERTED_LEADS_MONTHS == 0
    aged(LeadFactory())
    outcome = run()
    assert not outcome.is_on and outcome.counts == {}
    assert Lead.objects.count() == 1
    assert not AuditEvent.objects.filter(action=ACTION).exists()


def test_the_command_dry_run_counts_and_changes_nothing(rule_on):
    rep = UserFactory(username="rep")
    aged(a_lead_with_a_past(rep))
    aged(a_lead_with_a_past(rep))
    out = io.StringIO()
    call_command("run_retention_rules", "--dry-run", "--rule", RULE, stdout=out)
    text = out.getvalue()
    assert "would act on leads 2, activities 4, tasks 2, emails 2" in text
    assert "Dry run: nothing was changed." in text
    assert Lead.objects.count() == 2 and not AuditEvent.objects.exists()
    out = io.StringIO()
    call_command("run_retention_rules", "--rule", RULE, stdout=out)
    assert "done: leads 2" in out.getvalue()
    assert Lead.objects.count() == 0
    assert AuditEvent.objects.get(action=ACTION).detail["leads"] == 2


def test_the_command_refuses_an_unknown_rule():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No retention rule named nope"):
        call_command("run_retention_rules", "--rule", "nope", stdout=io.StringIO())


def test_the_audit_action_is_registered_and_beat_runs_the_rules_daily():
    from django.conf import settings

    from crm import registry

    assert registry.audit_actions.is_known(ACTION)
    assert registry.retention_rules.get(RULE).setting == "RETENTION_UNCONVERTED_LEADS_MONTHS"
    entry = settings.CELERY_BEAT_SCHEDULE["retention-rules"]
    assert entry["task"] == "crm.tasks.retention_rules_run"
    assert entry["schedule"] == 24 * 60 * 60.0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_skips_leads_another_run_holds_and_two_runs_share_the_work(rule_on):
    leads = [aged(LeadFactory(owner=None)) for _ in range(30)]
    held = leads[0]
    holding, release = threading.Event(), threading.Event()

    def other_run_holds_one():
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=held.pk)
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=other_run_holds_one)
    holder.start()
    assert holding.wait(timeout=30)
    try:
        # The held lead is skipped, not waited for.
        assert run(batch=7).counts["leads"] == 29
    finally:
        release.set()
        holder.join(timeout=30)
    assert list(Lead.objects.values_list("pk", flat=True)) == [held.pk]

    more = [aged(LeadFactory(owner=None)) for _ in range(40)]
    results, errors = [], []
    start = threading.Barrier(2)

    def one_run():
        try:
            start.wait(timeout=30)
            results.append(run(batch=3).counts["leads"])
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    runners = [threading.Thread(target=one_run) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
    assert not errors
    assert sum(results) == len(more) + 1 and not Lead.objects.exists()
    assert AuditEvent.objects.filter(action=ACTION).count() == 3
