"""Task reminders go to the assignee once before a task falls due and once when it is overdue,
however often the scheduled run repeats, and leave a trace on the record's timeline."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Activity, OutboundEmail
from crm.services import reminders
from crm.services.outbox import outbox_send_queued
from crm.services.reminders import task_reminders_run
from crm.tasks import task_reminders_run as task_reminders_run_task
from tests.factories import ContactFactory, TaskFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def _task(*, due_in: timedelta, assignee, subject=None, **kwargs):
    task = TaskFactory(due_at=NOW + due_in, assignee=assignee, **kwargs)
    if subject is not None:
        task.subject = subject
        task.save(update_fields=["content_type", "object_id"])
    return task


def test_a_task_due_within_the_hour_gets_one_reminder_however_often_the_run_repeats(rep):
    contact = ContactFactory(owner=rep)
    task = _task(due_in=timedelta(minutes=30), assignee=rep, subject=contact, title="Call Ann")

    first = task_reminders_run(now=NOW)
    second = task_reminders_run(now=NOW + timedelta(minutes=5))

    assert first == {"due_soon": 1, "overdue": 0, "without_email": 0}
    assert second == {"due_soon": 0, "overdue": 0, "without_email": 0}
    email = OutboundEmail.objects.get()
    assert email.idempotency_key == f"task-due-soon:{task.pk}:{int(task.due_at.timestamp())}"
    assert email.to_email == rep.email
    assert email.subject == "Due soon: Call Ann"
    event = Activity.objects.for_object(contact).get()
    assert event.kind == ActivityKind.SYSTEM
    assert event.summary.startswith(f"Reminder sent to {rep}: Call Ann is due at ")
    task.refresh_from_db()
    assert task.due_soon_notified_at == NOW
    assert task.overdue_notified_at is None


def test_an_overdue_task_gets_one_overdue_reminder(rep):
    contact = ContactFactory(owner=rep)
    task = _task(due_in=timedelta(minutes=-10), assignee=rep, subject=contact, title="Send quote")

    first = task_reminders_run(now=NOW)
    second = task_reminders_run(now=NOW + timedelta(minutes=5))

    assert first == {"due_soon": 0, "overdue": 1, "without_email": 0}
    assert second == {"due_soon": 0, "overdue": 0, "without_email": 0}
    # Already overdue when first seen: no "due soon" reminder as well.
    email = OutboundEmail.objects.get()
    assert email.idempotency_key == f"task-overdue:{task.pk}:{int(task.due_at.timestamp())}"
    assert email.subject == "Overdue: Send quote"
    event = Activity.objects.for_object(contact).get()
    assert "Send quote was due at" in event.summary


def test_a_task_gets_the_due_soon_then_the_overdue_reminder(rep):
    contact = ContactFactory(owner=rep)
    task = _task(due_in=timedelta(minutes=30), assignee=rep, subject=contact)

    task_reminders_run(now=NOW)
    task_reminders_run(now=NOW + timedelta(minutes=31))
    task_reminders_run(now=NOW + timedelta(minutes=36))

    keys = set(OutboundEmail.objects.values_list("idempotency_key", flat=True))
    stamp = int(task.due_at.timestamp())
    assert keys == {f"task-due-soon:{task.pk}:{stamp}", f"task-overdue:{task.pk}:{stamp}"}
    assert Activity.objects.for_object(contact).count() == 2


def test_tasks_due_later_or_done_get_no_reminder(rep):
    _task(due_in=timedelta(hours=2), assignee=rep)
    _task(due_in=timedelta(minutes=-30), assignee=rep, done_at=NOW - timedelta(hours=1))
    _task(due_in=timedelta(minutes=10), assignee=rep, done_at=NOW - timedelta(hours=1))

    assert task_reminders_run(now=NOW) == {"due_soon": 0, "overdue": 0, "without_email": 0}
    assert not OutboundEmail.objects.exists()


def test_an_assignee_without_email_is_marked_reminded_without_an_email(rep):
    rep.email = ""
    rep.save(update_fields=["email"])
    contact = ContactFactory(owner=rep)
    task = _task(due_in=timedelta(minutes=-5), assignee=rep, subject=contact)

    assert task_reminders_run(now=NOW) == {"due_soon": 0, "overdue": 0, "without_email": 1}
    assert task_reminders_run(now=NOW) == {"due_soon": 0, "overdue": 0, "without_email": 0}

    assert not OutboundEmail.objects.exists()
    assert not Activity.objects.for_object(contact).exists()
    task.refresh_from_db()
    assert task.overdue_notified_at == NOW


def test_a_task_about_no_record_still_reminds_its_assignee(rep):
    _task(due_in=timedelta(minutes=20), assignee=rep)

    assert task_reminders_run(now=NOW)["due_soon"] == 1
    assert OutboundEmail.objects.count() == 1
    assert not Activity.objects.exists()


def test_many_tasks_are_processed_in_chunks(rep, rep2, monkeypatch):
    monkeypatch.setattr(reminders, "CHUNK_SIZE", 2)
    for n in range(5):
        _task(due_in=timedelta(minutes=n - 2), assignee=rep if n % 2 else rep2)

    counts = task_reminders_run(now=NOW)

    assert counts == {"due_soon": 3, "overdue": 2, "without_email": 0}
    assert OutboundEmail.objects.count() == 5


def test_selection_does_not_cost_a_query_per_task(rep, django_assert_max_num_queries):
    """Per task: claim UPDATE, notification INSERT, outbox INSERT in a savepoint (3), timeline
    INSERT. Selection and loading are a fixed handful of queries per chunk, whatever the number
    of tasks."""
    contacts = ContactFactory.create_batch(10, owner=rep)
    for contact in contacts:
        _task(due_in=timedelta(minutes=15), assignee=rep, subject=contact)

    per_task = 6
    with django_assert_max_num_queries(per_task * 10 + 10):
        assert task_reminders_run(now=NOW)["due_soon"] == 10


def test_reminders_are_delivered_by_the_outbox(rep):
    _task(due_in=timedelta(minutes=45), assignee=rep, title="Renewal call")

    task_reminders_run(now=NOW)
    outbox_send_queued()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [rep.email]
    assert "Renewal call" in mail.outbox[0].body


def test_the_celery_task_calls_the_service(rep):
    TaskFactory(due_at=timezone.now() - timedelta(minutes=1), assignee=rep)
    TaskFactory(due_at=timezone.now() + timedelta(minutes=30), assignee=rep)

    result = task_reminders_run_task.apply().get()

    assert result == {"due_soon": 1, "overdue": 1, "without_email": 0}


def test_rescheduled_task_is_reminded_again(rep_client, rep):
    """Moving a task's due time re-arms its reminders (and the outbox key names the due time)."""
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from crm.models import OutboundEmail
    from crm.services.reminders import task_reminders_run
    from tests.factories import TaskFactory

    task = TaskFactory(assignee=rep, due_at=timezone.now() - timedelta(hours=1))
    task_reminders_run()
    assert (
        OutboundEmail.objects.filter(idempotency_key__startswith=f"task-overdue:{task.pk}:").count()
        == 1
    )
    new_due = timezone.localtime(timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    response = rep_client.post(
        reverse("task_edit", args=[task.pk]),
        {"title": task.title, "due_at": new_due, "assignee": rep.pk, "notes": ""},
    )
    assert response.status_code == 302
    task_reminders_run()
    assert (
        OutboundEmail.objects.filter(idempotency_key__startswith=f"task-overdue:{task.pk}:").count()
        == 2
    )
