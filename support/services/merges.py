"""Undoing a ticket merge: ``ticket_merge`` records what it did in a ``TicketMerge``, and
``ticket_merge_undo`` puts both tickets and their conversation back.

What comes back: the merged ticket's fields as they were (its status, SLA clock and targets,
the "merged into" link), every message and file that moved to the kept ticket. The message the
merge wrote on the kept ticket (the merged ticket's request) and the timeline entries it wrote
go; one timeline entry on each ticket says the merge was undone, and the audit trail and field
history (source *restore*) keep both the merge and its undo. Messages added to the kept ticket
after the merge stay where they are.

When a field the merge set on the merged ticket was changed after it, the undo is refused with
the fields named (putting the old value back would silently lose that later change).
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.history import Source, source
from crm.models import Activity
from crm.services.audit import audit_record
from crm.services.merges import (
    check_not_undone,
    check_unchanged,
    record_snapshot,
    snapshot_changes,
    value_shown,
    values_put_back,
)
from crm.services.timeline import activity_log
from support.choices import SupportAuditAction
from support.models import Attachment, Ticket, TicketMerge, TicketMessage


def _ids(queryset) -> list[int]:
    return sorted(queryset.values_list("pk", flat=True))


@dataclass
class Recording:
    """Both tickets and their links as a merge found them (taken after they are locked)."""

    kept_before: dict
    merged_before: dict
    kept_messages: list[int]
    merged_messages: list[int]
    merged_attachments: list[int]
    activities: list[int]


def ticket_merge_recording_start(*, kept: Ticket, merged: Ticket) -> Recording:
    return Recording(
        kept_before=record_snapshot(kept),
        merged_before=record_snapshot(merged),
        kept_messages=_ids(kept.messages.all()),
        merged_messages=_ids(merged.messages.all()),
        merged_attachments=_ids(merged.attachments.all()),
        activities=_ids(Activity.objects.for_object(kept))
        + _ids(Activity.objects.for_object(merged)),
    )


def ticket_merge_recording_finish(
    recording: Recording, *, kept: Ticket, merged: Ticket, user, now
) -> TicketMerge:
    kept.refresh_from_db()
    merged.refresh_from_db()
    written = (
        set(_ids(Activity.objects.for_object(kept)))
        | set(_ids(Activity.objects.for_object(merged)))
    ) - set(recording.activities)
    on_kept = set(_ids(kept.messages.all()))
    return TicketMerge.objects.create(
        kept=kept,
        merged=merged,
        kept_before=recording.kept_before,
        merged_before=recording.merged_before,
        kept_after=snapshot_changes(recording.kept_before, record_snapshot(kept)),
        merged_after=snapshot_changes(recording.merged_before, record_snapshot(merged)),
        moved={
            "messages": sorted(on_kept & set(recording.merged_messages)),
            "attachments": _ids(kept.attachments.filter(pk__in=recording.merged_attachments)),
            "written_messages": sorted(
                on_kept - set(recording.merged_messages) - set(recording.kept_messages)
            ),
            "written_activities": sorted(written),
        },
        merged_at=now,
        merged_by=user,
    )


@dataclass(frozen=True)
class UndoPlan:
    """What undoing a ticket merge would do, for its confirm page."""

    record: TicketMerge
    fields: list[tuple[str, str, str]]  # (label, now, before) of the merged ticket
    messages: int
    attachments: int
    problem: str  # why it cannot be undone now ("" when it can)


def _check_undoable(record: TicketMerge, kept: Ticket, merged: Ticket) -> None:
    check_not_undone(record)
    check_unchanged(record, kept, merged)
    gone = sum(
        model.objects.filter(pk__in=record.moved.get(kind, ())).exclude(ticket=kept).count()
        for model, kind in ((TicketMessage, "messages"), (Attachment, "attachments"))
    )
    if gone:
        raise ValidationError(
            f"The merge cannot be undone: {gone} of the messages and files it moved to "
            f"{kept.reference} are no longer there ({kept.reference} was merged into another "
            "ticket since). Undo that merge first."
        )


def ticket_merge_undo_plan(*, record: TicketMerge) -> UndoPlan:
    problem = ""
    try:
        _check_undoable(record, record.kept, record.merged)
    except ValidationError as exc:
        problem = " ".join(exc.messages)
    return UndoPlan(
        record=record,
        fields=[
            (
                str(Ticket._meta.get_field(name).verbose_name),
                value_shown(Ticket, name, value),
                value_shown(Ticket, name, record.merged_before.get(name)),
            )
            for name, value in record.merged_after.items()
        ],
        messages=len(record.moved.get("messages", ())),
        attachments=len(record.moved.get("attachments", ())),
        problem=problem,
    )


def _lock(user, record: TicketMerge) -> tuple[Ticket, Ticket]:
    """Both tickets, locked in id order, if the user may change both; otherwise
    Ticket.DoesNotExist (the page answers 404)."""
    pks = [record.kept_id, record.merged_id]
    lock_rows(Ticket, *pks)
    tickets = {t.pk: t for t in Ticket.objects.changeable_by(user).filter(pk__in=pks)}
    if set(pks) - set(tickets):
        raise Ticket.DoesNotExist("No such ticket you may change.")
    return tickets[record.kept_id], tickets[record.merged_id]


def ticket_merge_undo(*, record: TicketMerge, user) -> TicketMerge:
    """Undo the ticket merge ``record``: both tickets and their conversation as they were.

    Refused (ValidationError) for a merge already undone and when a field the merge set on the
    merged ticket was changed since (the message names them); Ticket.DoesNotExist when the
    user may not change both tickets.
    """
    with source(Source.RESTORE, user=user, merge_undone=record.pk):
        return _ticket_merge_undo(record=record, user=user)


@transaction.atomic
def _ticket_merge_undo(*, record: TicketMerge, user) -> TicketMerge:
    record = TicketMerge.objects.select_for_update().get(pk=record.pk)
    check_not_undone(record)
    kept, merged = _lock(user, record)
    _check_undoable(record, kept, merged)
    now = timezone.now()

    for ticket, before, after in (
        (kept, record.kept_before, record.kept_after),
        (merged, record.merged_before, record.merged_after),
    ):
        fields = values_put_back(ticket, {name: before[name] for name in after})
        ticket.save(update_fields=[*fields, "updated_at"])
    moved = record.moved
    messages = TicketMessage.objects.filter(pk__in=moved["messages"], ticket=kept).update(
        ticket=merged
    )
    attachments = Attachment.objects.filter(pk__in=moved["attachments"], ticket=kept).update(
        ticket=merged
    )
    TicketMessage.objects.filter(pk__in=moved["written_messages"], ticket=kept).delete()
    Activity.objects.filter(pk__in=moved["written_activities"]).delete()

    when = date_format(timezone.localtime(record.merged_at), "Y-m-d H:i")
    body = (
        f"The merge of {merged.reference} into {kept.reference} (merged {when} by "
        f"{record.merged_by or 'someone no longer here'}) was undone: {messages} messages and "
        f"{attachments} files went back to {merged.reference}."
    )
    activity_log(
        subject=kept,
        kind=ActivityKind.SYSTEM,
        summary=f"Merge undone: {merged.reference} is a ticket of its own again",
        body=body,
        actor=user,
        occurred_at=now,
    )
    activity_log(
        subject=merged,
        kind=ActivityKind.SYSTEM,
        summary=f"Merge into {kept.reference} undone",
        body=body,
        actor=user,
        occurred_at=now,
    )
    record.undone_at = now
    record.undone_by = user
    record.save(update_fields=["undone_at", "undone_by"])
    audit_record(
        action=SupportAuditAction.TICKET_MERGE_UNDONE,
        actor=user,
        target=merged,
        detail={
            "merge": record.pk,
            "kept_ticket": kept.pk,
            "merged_ticket": merged.pk,
            "fields_put_back": list(record.merged_after),
            "messages": messages,
            "attachments": attachments,
        },
    )
    return record
