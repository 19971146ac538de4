"""Tickets: create, reply, note, status, priority, assignment, bulk changes and merging.

Each function locks the ticket row (``select_for_update``) for its change, writes the timeline,
and queues emails through the outbox in the same transaction (the outbox enqueues delivery on
commit), so a rolled-back change never mails anyone.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm import webhooks
from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.history import Source, recorded_as
from crm.models import User
from crm.permissions import may_work_tickets
from crm.services.custom_fields import changed_fields_label, custom_fields_apply
from crm.services.notifications import notify
from crm.services.outbox import email_queue, outbox_message_id
from crm.services.timeline import activity_log
from crm.services.trash import trash_delete
from support import surveys
from support.choices import (
    ALLOWED_TRANSITIONS,
    Channel,
    MessageKind,
    Priority,
    TicketStatus,
)
from support.models import CsatSurvey, Queue, Tag, Ticket, TicketMessage
from support.selectors import ticket_list
from support.services import assignment, clock
from support.services.attachments import attachment_store, max_files
from support.services.merges import (
    ticket_merge_recording_finish,
    ticket_merge_recording_start,
)

#: Most tickets one bulk action changes.
BULK_LIMIT = 200


def site_url() -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def _lock(ticket: Ticket) -> Ticket:
    lock_rows(Ticket, ticket.pk)
    return (
        Ticket.objects.select_related("contact", "account", "queue", "sla_policy__calendar")
        .prefetch_related("sla_policy__calendar__hours", "sla_policy__calendar__holidays")
        .get(pk=ticket.pk)
    )


def _store_files(*, ticket, files, message=None) -> list:
    files = list(files or ())
    if len(files) > max_files():
        raise ValidationError(f"At most {max_files()} files may be attached at once.")
    return [attachment_store(ticket=ticket, upload=f, message=message) for f in files]


def default_queue() -> Queue | None:
    return Queue.objects.filter(is_default=True).order_by("id").first()


@transaction.atomic
def ticket_create(
    *,
    subject: str,
    description: str = "",
    account=None,
    contact=None,
    channel: str = Channel.INTERNAL,
    priority: str = Priority.NORMAL,
    category: str = "",
    queue: Queue | None = None,
    assignee=None,
    tags=(),
    user=None,
    files=(),
    source_message_id: str = "",
    now=None,
    custom: dict | None = None,
) -> Ticket:
    """Open a ticket: SLA policy and due times, reference number, then assignment (the given
    assignee, else the queue's rule). ``custom``: custom field values by key."""
    now = now or timezone.now()
    if contact is not None and account is None:
        account = contact.account
    if queue is None:
        queue = default_queue()
    if assignee is not None and not may_work_tickets(assignee):
        raise ValidationError(f"{assignee} cannot work tickets.")
    ticket = Ticket(
        subject=subject.strip()[:200] or "(no subject)",
        description=description,
        account=account,
        contact=contact,
        channel=channel,
        priority=priority,
        category=category,
        queue=queue,
        created_by=user,
        created_at=now,
        source_message_id=source_message_id[:255],
    )
    custom_fields_apply(ticket, {"custom": custom}, user=user)
    clock.apply_policy(ticket, policy=clock.policy_for(queue=queue, priority=priority))
    ticket.save()
    ticket.reference = Ticket.reference_for(ticket.pk)
    ticket.save(update_fields=["reference"])
    if tags:
        ticket.tags.set(tags)
    _store_files(ticket=ticket, files=files)
    via = Channel(channel).label.lower()
    activity_log(
        subject=ticket,
        kind=ActivityKind.SYSTEM,
        summary=f"Ticket {ticket.reference} opened via {via}",
        actor=user,
        occurred_at=now,
    )
    if assignee is not None:
        _assign(ticket, assignee=assignee, user=user)
    elif queue is not None:
        chosen = assignment.next_agent(queue=queue)
        if chosen is not None:
            _assign(ticket, assignee=chosen, user=None)
    webhooks.emit("ticket.created", ticket)
    return ticket


def _assign(ticket: Ticket, *, assignee, user) -> None:
    previous = ticket.assignee
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", "updated_at"])
    if assignee is None:
        summary = f"Unassigned (was {previous})"
    elif user is None:
        summary = f"Assigned to {assignee} by the queue's {ticket.queue.get_assignment_mode_display().lower()}"
    else:
        summary = f"Assigned to {assignee}" + (f" (was {previous})" if previous else "")
    entry = activity_log(subject=ticket, kind=ActivityKind.SYSTEM, summary=summary, actor=user)
    if assignee is not None:
        notify(
            recipient=assignee,
            kind="assigned",
            verb=f"Ticket assigned to you: {ticket.reference} {ticket.subject}",
            dedupe_key=f"ticket-assignee:{ticket.pk}:{entry.pk}",
            target=ticket,
            actor=user,
        )


@transaction.atomic
def ticket_update_custom(*, ticket: Ticket, user, custom: dict) -> Ticket:
    """Change a ticket's custom field values (``{key: value}``, None clears one), as ``user``
    sees the fields; the timeline names the fields that changed."""
    ticket = _lock(ticket)
    before = ticket.custom
    if custom_fields_apply(ticket, {"custom": custom}, user=user):
        ticket.save(update_fields=["custom", "updated_at"])
        labels = changed_fields_label(ticket, ["custom"], before)
        activity_log(
            subject=ticket, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee, user) -> Ticket:
    """Give a ticket to an agent (or to nobody with ``assignee=None``)."""
    ticket = _lock(ticket)
    if assignee is not None and not may_work_tickets(assignee):
        raise ValidationError(f"{assignee} cannot work tickets.")
    if ticket.assignee_id != (assignee.pk if assignee else None):
        _assign(ticket, assignee=assignee, user=user)
    return ticket


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    user,
    body: str,
    files=(),
    status: str | None = None,
    now=None,
    submission_key: str = "",
) -> TicketMessage:
    """A public reply from an agent: emailed to the contact with the reference in the subject;
    the first one stops the first-response clock. With the reply form's ``submission_key``, the
    same form sent again (a double click, a retry) returns the reply it made, emailing nobody
    twice (the ticket's lock orders the two requests)."""
    now = now or timezone.now()
    body = (body or "").strip()
    if not body:
        raise ValidationError("A reply needs some text.")
    ticket = _lock(ticket)
    if submission_key:
        sent = TicketMessage.objects.filter(ticket=ticket, submission_key=submission_key).first()
        if sent is not None:
            return sent
    message = TicketMessage.objects.create(
        ticket=ticket,
        kind=MessageKind.REPLY,
        author_user=user,
        body=body,
        created_at=now,
        submission_key=submission_key,
    )
    attachments = _store_files(ticket=ticket, files=files, message=message)
    fields = ["updated_at"]
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        due = ticket.first_response_due_at
        if due is not None and now > due:
            ticket.first_response_breached = True
        fields += ["first_responded_at", "first_response_breached", *clock.refresh_sla_due(ticket)]
    ticket.save(update_fields=fields)
    contact = ticket.contact
    if contact is not None and contact.email:
        footer = f"\n\n--\nReference {ticket.reference}. Reply to this email to answer."
        if attachments:
            footer = "\n\nAttached: " + ", ".join(a.filename for a in attachments) + footer
        email = email_queue(
            to_email=contact.email,
            subject=f"[{ticket.reference}] {ticket.subject}",
            body_text=body + footer,
            related=ticket,
            idempotency_key=f"support-reply:{message.pk}",
        )
        # Kept so the customer's answer threads by In-Reply-To even if the subject lost the tag.
        message.email_message_id = outbox_message_id(email)
        message.save(update_fields=["email_message_id"])
    activity_log(
        subject=ticket,
        kind=ActivityKind.EMAIL,
        summary=f"Reply to {contact or 'the customer'}",
        body=body[:2000],
        actor=user,
        occurred_at=now,
    )
    target = status or (TicketStatus.OPEN if ticket.status == TicketStatus.NEW else None)
    if target and target != ticket.status:
        _change_status(ticket, status=target, user=user, now=now)
    return message


@transaction.atomic
def ticket_note(*, ticket: Ticket, user, body: str, files=(), now=None) -> TicketMessage:
    """An internal note: only the desk sees it; the customer is not told."""
    now = now or timezone.now()
    body = (body or "").strip()
    if not body:
        raise ValidationError("A note needs some text.")
    ticket = _lock(ticket)
    message = TicketMessage.objects.create(
        ticket=ticket, kind=MessageKind.NOTE, author_user=user, body=body, created_at=now
    )
    _store_files(ticket=ticket, files=files, message=message)
    ticket.save(update_fields=["updated_at"])
    activity_log(
        subject=ticket,
        kind=ActivityKind.NOTE,
        summary="Internal note",
        body=body[:2000],
        actor=user,
        occurred_at=now,
    )
    return message


@transaction.atomic
def ticket_customer_reply(
    *, ticket: Ticket, contact, body: str, files=(), email_message_id: str = "", now=None
) -> TicketMessage:
    """The customer answered (by email): thread it, and reopen a ticket that was waiting on
    them or solved."""
    now = now or timezone.now()
    ticket = _lock(ticket)
    message = TicketMessage.objects.create(
        ticket=ticket,
        kind=MessageKind.REPLY,
        author_contact=contact,
        body=body.strip() or "(empty message)",
        email_message_id=email_message_id[:255],
        created_at=now,
    )
    _store_files(ticket=ticket, files=files, message=message)
    ticket.save(update_fields=["updated_at"])
    activity_log(
        subject=ticket,
        kind=ActivityKind.EMAIL,
        summary=f"Customer replied: {contact or 'unknown sender'}",
        body=body[:2000],
        occurred_at=now,
    )
    if ticket.status in (TicketStatus.PENDING, TicketStatus.SOLVED):
        _change_status(ticket, status=TicketStatus.OPEN, user=None, now=now)
    return message


@transaction.atomic
def ticket_change_status(*, ticket: Ticket, status: str, user, now=None) -> Ticket:
    """Move a ticket along the allowed transitions (``choices.ALLOWED_TRANSITIONS``)."""
    ticket = _lock(ticket)
    _change_status(ticket, status=status, user=user, now=now or timezone.now())
    return ticket


def _change_status(ticket: Ticket, *, status: str, user, now) -> None:
    old = ticket.status
    if status not in TicketStatus.values:
        raise ValidationError(f"“{status}” is not a ticket status.")
    if status not in ALLOWED_TRANSITIONS[old]:
        raise ValidationError(
            f"A ticket cannot go from {TicketStatus(old).label} to {TicketStatus(status).label}."
        )
    ticket.status = status
    fields = ["status", "updated_at"]
    if status == TicketStatus.PENDING:
        fields += clock.pause(ticket, now=now)
    elif old == TicketStatus.PENDING:
        fields += clock.resume(ticket, now=now)
    if clock.is_resolved_status(status) and ticket.resolved_at is None:
        ticket.resolved_at = now
        due = ticket.resolution_due_at
        ticket.resolution_breached = ticket.resolution_breached or bool(due and now > due)
        fields += ["resolved_at", "resolution_breached"]
    elif status == TicketStatus.OPEN and old == TicketStatus.SOLVED:
        ticket.resolved_at = None
        fields += ["resolved_at"]
    if status == TicketStatus.CLOSED:
        ticket.closed_at = now
        fields += ["closed_at"]
    fields += clock.refresh_sla_due(ticket)
    ticket.save(update_fields=list(dict.fromkeys(fields)))
    activity_log(
        subject=ticket,
        kind=ActivityKind.SYSTEM,
        summary=f"Status: {TicketStatus(old).label} → {TicketStatus(status).label}",
        actor=user,
        occurred_at=now,
    )
    if status == TicketStatus.SOLVED:
        csat_send(ticket=ticket, now=now)
        webhooks.emit("ticket.solved", ticket)


def csat_send(*, ticket: Ticket, now) -> CsatSurvey | None:
    """The satisfaction survey, once per ticket (a reopened and re-solved ticket is not asked
    again)."""
    survey, created = CsatSurvey.objects.get_or_create(
        ticket=ticket, defaults={"token": surveys.new_key(), "sent_at": now}
    )
    contact = ticket.contact
    if created and contact is not None and contact.email:
        link = site_url() + reverse(
            "support:survey", args=[surveys.make_token(kind="csat", key=survey.token)]
        )
        name = contact.first_name or contact.full_name
        email_queue(
            to_email=contact.email,
            subject=f"[{ticket.reference}] How did we do?",
            body_text=(
                f"Hello {name},\n\nyour request “{ticket.subject}” is solved. How satisfied are "
                f"you with our help? One click, 1 to 5:\n\n{link}\n\nThank you!\n"
            ),
            related=ticket,
            idempotency_key=f"csat:{ticket.pk}",
        )
    return survey


@transaction.atomic
def ticket_change_priority(
    *, ticket: Ticket, priority: str, user, now=None, record: bool = True, retime: bool = True
) -> Ticket:
    """A new priority brings that priority's SLA targets (counted from when it was opened).

    ``record=False``: the caller writes the change into its own timeline entry (an SLA
    escalation says why the priority went up). ``retime=False``: the ticket keeps its SLA
    targets (an escalation raises the priority because a target was missed; the raised
    priority's tighter targets, counted from the opening, would be missed at once and escalate
    again on every run)."""
    if priority not in Priority.values:
        raise ValidationError(f"“{priority}” is not a priority.")
    ticket = _lock(ticket)
    old = ticket.priority
    if old == priority:
        return ticket
    ticket.priority = priority
    fields = ["priority", "updated_at"]
    if retime:
        fields += clock.apply_policy(
            ticket, policy=clock.policy_for(queue=ticket.queue, priority=priority)
        )
    ticket.save(update_fields=list(dict.fromkeys(fields)))
    if record:
        activity_log(
            subject=ticket,
            kind=ActivityKind.SYSTEM,
            summary=f"Priority: {Priority(old).label} → {Priority(priority).label}",
            actor=user,
            occurred_at=now,
        )
    return ticket


def ticket_set_tags(*, ticket: Ticket, names, user) -> list[Tag]:
    tags = []
    for name in names:
        slug = "-".join(name.lower().split())[:50]
        if slug:
            tags.append(Tag.objects.get_or_create(name=slug)[0])
    ticket.tags.set(tags)
    activity_log(
        subject=ticket,
        kind=ActivityKind.SYSTEM,
        summary="Tags: " + (", ".join(t.name for t in tags) or "none"),
        actor=user,
    )
    return tags


@recorded_as(Source.BULK_EDIT)
def ticket_bulk_update(
    *,
    user,
    ticket_ids,
    assignee=None,
    unassign=False,
    status=None,
    priority=None,
    unchanged_since=None,
) -> dict:
    """Apply one change to many tickets the user may change, each in its own transaction (one
    refused transition does not undo the others). With ``unchanged_since`` (when the user read
    the list), tickets changed after it are left alone and counted as stale, so a bulk edit
    never overwrites a change its user has not seen. Returns {"changed": n, "stale": n,
    "errors": [...]}."""
    ids = list(dict.fromkeys(int(i) for i in ticket_ids))[:BULK_LIMIT]
    tickets = ticket_list(user=user, for_change=True).filter(pk__in=ids).order_by("pk")
    stale = 0
    if unchanged_since is not None:
        stale = tickets.filter(updated_at__gt=unchanged_since).count()
        tickets = tickets.exclude(updated_at__gt=unchanged_since)
    changed, errors = 0, []
    for ticket in tickets:
        try:
            if assignee is not None or unassign:
                ticket_assign(ticket=ticket, assignee=assignee, user=user)
            if status and ticket.status != status:
                ticket_change_status(ticket=ticket, status=status, user=user)
            if priority:
                ticket_change_priority(ticket=ticket, priority=priority, user=user)
            changed += 1
        except ValidationError as exc:
            errors.append(f"{ticket.reference}: {' '.join(exc.messages)}")
    return {"changed": changed, "stale": stale, "errors": errors}


@recorded_as(Source.MERGE)
@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, user, now=None) -> Ticket:
    """Fold a duplicate into another ticket: its messages and files move, its request becomes
    a message of the target, and it is closed with a link to where the conversation went. The
    merge is recorded in a ``TicketMerge``, so that it can be undone (``support.services.merges``)."""
    now = now or timezone.now()
    if source.pk == target.pk:
        raise ValidationError("A ticket cannot be merged into itself.")
    first, second = sorted((source.pk, target.pk))
    lock_rows(Ticket, first, second)
    locked = {
        t.pk: t
        for t in Ticket.objects.select_related("contact", "queue", "sla_policy__calendar").filter(
            pk__in=[first, second]
        )
    }
    source, target = locked[source.pk], locked[target.pk]
    if source.status == TicketStatus.CLOSED or source.merged_into_id:
        raise ValidationError(f"{source.reference} is closed and cannot be merged.")
    if target.status == TicketStatus.CLOSED:
        raise ValidationError(f"{target.reference} is closed; merge into an open ticket.")
    recording = ticket_merge_recording_start(kept=target, merged=source)
    if source.description:
        TicketMessage.objects.create(
            ticket=target,
            kind=MessageKind.REPLY,
            author_contact=source.contact,
            body=f"[{source.reference}] {source.subject}\n\n{source.description}",
            created_at=source.created_at,
        )
    source.messages.update(ticket=target)
    source.attachments.update(ticket=target)
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    _change_status(source, status=TicketStatus.CLOSED, user=user, now=now)
    target.save(update_fields=["updated_at"])
    activity_log(
        subject=source,
        kind=ActivityKind.SYSTEM,
        summary=f"Merged into {target.reference}",
        actor=user,
        occurred_at=now,
    )
    activity_log(
        subject=target,
        kind=ActivityKind.SYSTEM,
        summary=f"{source.reference} merged into this ticket",
        actor=user,
        occurred_at=now,
    )
    ticket_merge_recording_finish(recording, kept=target, merged=source, user=user, now=now)
    return target


#: ``agents_for_assignment()``'s name in the catalog (``crm.catalog.rows``).
AGENTS = "support.agents-for-assignment"


def agents_for_assignment():
    """Users tickets may be given to: active support agents, managers and admins."""
    from crm.choices import Role

    return (
        User.objects.filter(
            is_active=True,
            groups__name__in=[Role.SUPPORT_AGENT, Role.MANAGER, Role.ADMIN],
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@transaction.atomic
def ticket_delete(*, ticket: Ticket, user) -> None:
    """Move the ticket to the trash, with its messages, attachments, survey, timeline and
    tasks; tickets merged into it stay, unlinked until it is restored."""
    trash_delete(obj=ticket, user=user)
