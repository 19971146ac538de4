"""Task reminders: one email and one notification (the bell) to the assignee before a task
falls due, and one of each when it is overdue.

Each reminder is claimed by setting its ``*_notified_at`` column with a conditional UPDATE, in the
same transaction as queueing the email and writing the timeline entry, so a re-run, a retried task
or two overlapping runs remind exactly once (the outbox idempotency key guards the email too).
"""

from collections.abc import Iterator
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from crm.models import Task
from crm.services.notifications import notify
from crm.services.outbox import email_queue
from crm.services.timeline import system_event

#: How far ahead a task counts as "due soon".
DUE_SOON_WINDOW = timedelta(hours=1)
#: Tasks selected and processed per transaction.
CHUNK_SIZE = 500

DUE_SOON = "due_soon"
OVERDUE = "overdue"


def task_reminders_run(*, now=None) -> dict:
    """Send the due-soon and overdue reminders that are owed at ``now``; returns counts.

    Overdue runs first: a task already overdue when first seen gets only the overdue reminder,
    because the due-soon selection only looks at tasks that are not yet due.
    """
    now = now or timezone.now()
    counts = {"due_soon": 0, "overdue": 0, "without_email": 0}
    open_tasks = Task.objects.open()
    overdue = open_tasks.filter(due_at__lt=now, overdue_notified_at__isnull=True)
    due_soon = open_tasks.filter(
        due_at__gte=now, due_at__lte=now + DUE_SOON_WINDOW, due_soon_notified_at__isnull=True
    )
    for kind, queryset in ((OVERDUE, overdue), (DUE_SOON, due_soon)):
        for ids in _id_chunks(queryset):
            sent, without_email = _remind_chunk(kind=kind, ids=ids, now=now)
            counts[kind] += sent
            counts["without_email"] += without_email
    return counts


def _id_chunks(queryset) -> Iterator[list[int]]:
    """Ids in ascending chunks (keyset, so claimed rows dropping out of the filter are fine)."""
    last_id = 0
    while True:
        ids = list(
            queryset.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:CHUNK_SIZE]
        )
        if not ids:
            return
        yield ids
        last_id = ids[-1]


def _remind_chunk(*, kind: str, ids: list[int], now) -> tuple[int, int]:
    """Claim and remind a chunk of tasks in one transaction; returns (reminded, without email)."""
    field = "due_soon_notified_at" if kind == DUE_SOON else "overdue_notified_at"
    reminded = without_email = 0
    with transaction.atomic():
        tasks = (
            Task.objects.filter(pk__in=ids, done_at__isnull=True, **{f"{field}__isnull": True})
            .select_related("assignee", "content_type")
            .prefetch_related("subject")
            .order_by("pk")
        )
        for task in tasks:
            claimed = Task.objects.filter(
                pk=task.pk, done_at__isnull=True, **{f"{field}__isnull": True}
            ).update(**{field: now})
            if not claimed:
                continue  # another run got there first, or it was completed meanwhile
            _notify(kind=kind, task=task)
            if not task.assignee.email:
                without_email += 1
                continue
            _remind(kind=kind, task=task)
            reminded += 1
    return reminded, without_email


def _notify(*, kind: str, task: Task) -> None:
    """The bell's side of the reminder (also for assignees without an email address)."""
    due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")
    verb = f"Task due at {due}: {task.title}" if kind == DUE_SOON else f"Task overdue: {task.title}"
    notify(
        recipient=task.assignee_id,
        kind="task_due",
        verb=verb,
        dedupe_key=f"task-{kind.replace('_', '-')}:{task.pk}:{int(task.due_at.timestamp())}",
        target=task.subject,
        url=task.subject.get_absolute_url() if task.subject is not None else "/tasks/",
    )


def _remind(*, kind: str, task: Task) -> None:
    assignee = task.assignee
    due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M %Z")
    name = assignee.get_full_name() or assignee.username
    if kind == DUE_SOON:
        subject = f"Due soon: {task.title}"
        lead = f"Your task “{task.title}” is due at {due}."
        summary = f"Reminder sent to {assignee}: {task.title} is due at {due}"
    else:
        subject = f"Overdue: {task.title}"
        lead = f"Your task “{task.title}” was due at {due} and is not done yet."
        summary = f"Reminder sent to {assignee}: {task.title} was due at {due} (overdue)"
    about = f"\nAbout: {task.subject}" if task.subject is not None else ""
    notes = f"\n\n{task.notes}" if task.notes else ""
    email_queue(
        to_email=assignee.email,
        subject=subject,
        body_text=f"Hello {name},\n\n{lead}{about}{notes}\n",
        # The due time is part of the key: a rescheduled task is reminded again.
        idempotency_key=f"task-{kind.replace('_', '-')}:{task.pk}:{int(task.due_at.timestamp())}",
    )
    if task.subject is not None:
        system_event(subject=task.subject, summary=summary)
