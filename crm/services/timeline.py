"""Writing to a record's timeline, and follow-up tasks."""

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Activity, Task
from crm.services.notifications import mentions_notify, notify


def _owner_id(obj):
    return getattr(obj, "owner_id", None) or getattr(obj, "assignee_id", None)


def activity_log(
    *,
    subject,
    kind: str,
    summary: str,
    body: str = "",
    actor=None,
    occurred_at=None,
) -> Activity:
    """Add one entry to ``subject``'s timeline (a person's call or note, or a system event).

    Whoever a person's entry mentions (``@username`` or ``@First Last``) and may see
    ``subject`` is notified."""
    activity = Activity.objects.create(
        kind=kind,
        summary=summary[:200],
        body=body,
        occurred_at=occurred_at or timezone.now(),
        actor=actor,
        subject_owner_id=_owner_id(subject),
        content_type=ContentType.objects.get_for_model(subject),
        object_id=subject.pk,
    )
    if actor is not None and kind != ActivityKind.SYSTEM:
        mentions_notify(activity=activity, subject=subject, actor=actor)
    return activity


def system_event(*, subject, summary: str, body: str = "") -> Activity:
    """A timeline entry written by an automation."""
    return activity_log(subject=subject, kind=ActivityKind.SYSTEM, summary=summary, body=body)


def task_create(
    *, title: str, due_at, assignee, created_by=None, subject=None, notes: str = ""
) -> Task:
    task = Task(title=title, due_at=due_at, assignee=assignee, created_by=created_by, notes=notes)
    if subject is not None:
        task.content_type = ContentType.objects.get_for_model(subject)
        task.object_id = subject.pk
    task.save()
    _notify_assignee(task, actor=created_by, event="new")
    return task


def _notify_assignee(task: Task, *, actor, event: str) -> None:
    """Tell the assignee a task was given to them (not when they gave it themselves)."""
    about = f" ({task.subject})" if task.subject is not None else ""
    notify(
        recipient=task.assignee_id,
        kind="assigned",
        verb=f"Task assigned to you: {task.title}{about}",
        dedupe_key=f"task-assignee:{task.pk}:{task.assignee_id}:{event}",
        target=task.subject,
        url=task.subject.get_absolute_url() if task.subject is not None else "/tasks/",
        actor=actor,
    )


@transaction.atomic
def task_complete(*, task: Task, user) -> Task:
    """Mark a task done (once: completing a done task changes nothing)."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.done_at is None:
        task.done_at = timezone.now()
        task.done_by = user
        task.save(update_fields=["done_at", "done_by"])
        if task.subject is not None:
            activity_log(
                subject=task.subject,
                kind=ActivityKind.SYSTEM,
                summary=f"Task done: {task.title}",
                actor=user,
            )
    return task


@transaction.atomic
def task_update(*, task: Task, title: str, due_at, assignee, notes: str = "", user=None) -> Task:
    """Change a task; a new due time makes it eligible for reminders again; a new assignee is
    notified (unless ``user``, who made the change, gave it to themselves)."""
    reassigned = assignee.pk != task.assignee_id
    changed = ["title", "due_at", "assignee", "notes"]
    if due_at != task.due_at:
        task.due_soon_notified_at = None
        task.overdue_notified_at = None
        changed += ["due_soon_notified_at", "overdue_notified_at"]
    task.title, task.due_at, task.assignee, task.notes = title, due_at, assignee, notes
    task.save(update_fields=changed)
    if reassigned:
        _notify_assignee(task, actor=user, event=f"{timezone.now().timestamp():.6f}")
    return task


def task_reopen(*, task: Task) -> Task:
    task.done_at = None
    task.done_by = None
    task.save(update_fields=["done_at", "done_by"])
    return task
