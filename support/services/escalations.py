"""The SLA watch (run by beat every minute): warn the assignee when 75% of a target's business
time has passed, and on breach escalate: notify the queue's managers, raise the priority one
step (``tickets.ticket_change_priority``, keeping the ticket's SLA targets), write the
timeline.

Each warning and escalation is claimed with a conditional UPDATE (``…_warned_at`` /
``…_escalated_at`` still empty) in the same transaction as its emails and timeline entry, so a
rerun, a retried task or two overlapping runs act exactly once; the outbox idempotency keys guard
the emails too.
"""

import time
from collections.abc import Iterator

from django.db import transaction
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import User
from crm.services.notifications import notify
from crm.services.outbox import email_queue
from crm.services.timeline import activity_log
from support.choices import ACTIVE_STATUSES, Priority
from support.models import Ticket
from support.services import clock
from support.services.tickets import site_url, ticket_change_priority

CHUNK_SIZE = 200
TARGETS = (
    ("first_response", "first_responded_at", "first response"),
    ("resolution", "resolved_at", "resolution"),
)


def sla_watch_run(*, now=None, budget_seconds: float | None = None) -> dict:
    """Warn and escalate what is owed at ``now``; returns counts.

    With ``budget_seconds``, no ticket is taken up once that long has passed, and the counts
    say ``"unfinished": True``: what is left is still owed, and the next run (beat's, a minute
    later) takes it up. Each warning and escalation is its own transaction, so one cut short
    is neither half done nor done twice. A backlog (a desk's first run after an outage, a
    seeded database a day old: thousands of tickets breached at once) is so worked off over
    several runs instead of the task running into its time limit and failing."""
    now = now or timezone.now()
    started = time.monotonic()
    counts = {"warned": 0, "escalated": 0}

    def spent() -> bool:
        if budget_seconds is None or time.monotonic() - started < budget_seconds:
            return False
        counts["unfinished"] = True
        return True

    running = Ticket.objects.filter(status__in=ACTIVE_STATUSES, sla_paused_at__isnull=True)
    for target, met_field, label in TARGETS:
        owed_escalations = running.filter(
            **{
                f"{target}_due_at__lte": now,
                f"{target}_escalated_at__isnull": True,
                f"{met_field}__isnull": True,
            }
        )
        for ids in _id_chunks(owed_escalations):
            for pk in ids:
                if spent():
                    return counts
                counts["escalated"] += _escalate(pk, target=target, label=label, now=now)
        owed_warnings = running.filter(
            **{
                f"{target}_warn_at__lte": now,
                f"{target}_warned_at__isnull": True,
                f"{met_field}__isnull": True,
            }
        )
        for ids in _id_chunks(owed_warnings):
            for pk in ids:
                if spent():
                    return counts
                counts["warned"] += _warn(pk, target=target, label=label, now=now)
    return counts


def _id_chunks(queryset) -> Iterator[list[int]]:
    last_id = 0
    while True:
        ids = list(
            queryset.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:CHUNK_SIZE]
        )
        if not ids:
            return
        yield ids
        last_id = ids[-1]


def _claim(pk: int, *, target: str, met_field: str, marker: str, now, extra=None) -> bool:
    return bool(
        Ticket.objects.filter(
            pk=pk,
            status__in=ACTIVE_STATUSES,
            sla_paused_at__isnull=True,
            **{f"{marker}__isnull": True, f"{met_field}__isnull": True},
        ).update(**{marker: now, **(extra or {})})
    )


def _met_field(target: str) -> str:
    return {t: m for t, m, _ in TARGETS}[target]


@transaction.atomic
def _warn(pk: int, *, target: str, label: str, now) -> int:
    if not _claim(
        pk, target=target, met_field=_met_field(target), marker=f"{target}_warned_at", now=now
    ):
        return 0
    ticket = Ticket.objects.select_related("assignee", "sla_policy__calendar").get(pk=pk)
    due = getattr(ticket, f"{target}_due_at")
    left = clock.remaining_minutes(ticket, now=now, target=target)
    left_text = f"{round(left)} business minutes" if left is not None else "little time"
    summary = f"SLA warning: {label} due {timezone.localtime(due):%Y-%m-%d %H:%M}, {left_text} left"
    assignee = ticket.assignee
    if assignee is not None:
        notify(
            recipient=assignee,
            kind="sla_warning",
            verb=f"SLA {label} due soon ({left_text} left): {ticket.reference} {ticket.subject}",
            dedupe_key=f"sla-warn:{target}:{ticket.pk}:{int(due.timestamp())}",
            target=ticket,
        )
    if assignee is not None and assignee.email:
        email_queue(
            to_email=assignee.email,
            subject=f"[{ticket.reference}] SLA {label} due soon",
            body_text=(
                f"Hello {assignee.get_full_name() or assignee.username},\n\n"
                f"the {label} target of {ticket.reference} “{ticket.subject}” is 75% used: "
                f"{left_text} left.\n\n{site_url()}{ticket.get_absolute_url()}\n"
            ),
            related=ticket,
            idempotency_key=f"sla-warn:{target}:{ticket.pk}",
        )
    activity_log(subject=ticket, kind=ActivityKind.SYSTEM, summary=summary, occurred_at=now)
    return 1


@transaction.atomic
def _escalate(pk: int, *, target: str, label: str, now) -> int:
    if not _claim(
        pk,
        target=target,
        met_field=_met_field(target),
        marker=f"{target}_escalated_at",
        now=now,
        extra={f"{target}_breached": True},
    ):
        return 0
    # The claim's UPDATE holds the row lock until this transaction ends.
    ticket = Ticket.objects.get(pk=pk)
    old = ticket.priority
    # One timeline entry per escalation: the one below, which says why the priority went up.
    ticket = ticket_change_priority(
        ticket=ticket, priority=Priority.raised(old), user=None, now=now, record=False, retime=False
    )
    raised = (
        f"; priority {Priority(old).label} → {Priority(ticket.priority).label}"
        if ticket.priority != old
        else ""
    )
    managers = []
    if ticket.queue is not None:
        managers = list(
            User.objects.filter(managed_teams=ticket.queue.team_id, is_active=True).order_by("pk")
        )
    for manager in managers:
        if manager.email:
            email_queue(
                to_email=manager.email,
                subject=f"[{ticket.reference}] SLA breached: {label}",
                body_text=(
                    f"The {label} target of {ticket.reference} “{ticket.subject}” in queue "
                    f"{ticket.queue} was breached.\n\n{site_url()}{ticket.get_absolute_url()}\n"
                ),
                related=ticket,
                idempotency_key=f"sla-escalate:{target}:{ticket.pk}:{manager.pk}",
            )
    notified = ", ".join(str(m) for m in managers) or "no manager"
    activity_log(
        subject=ticket,
        kind=ActivityKind.SYSTEM,
        summary=f"SLA breached ({label}): escalated to {notified}{raised}",
        occurred_at=now,
    )
    return 1
