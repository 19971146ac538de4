"""What support holds about a person (``crm.registry.personal_data``): their tickets, the
messages of those tickets (email received and replies sent), attachments, CSAT answers, the
emails and timeline entries about those tickets, and the tickets' field history."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from crm.models import Activity, OutboundEmail
from crm.personal_data import event_model_for, history_erase, history_rows, rows
from crm.privacy import deliveries_about
from crm.registry import personal_data
from support.models import Attachment, CsatSurvey, Ticket, TicketMerge, TicketMessage


def _tickets(person):
    return Ticket.objects.filter(contact__in=person.ids("crm.contact"))


def _ticket_ids(person):
    return set(_tickets(person).values_list("pk", flat=True))


def _messages(person):
    return TicketMessage.objects.filter(
        Q(ticket__in=_tickets(person)) | Q(author_contact__in=person.ids("crm.contact"))
    )


def _attachments(person):
    return Attachment.objects.filter(
        Q(ticket__in=_tickets(person)) | Q(message__in=_messages(person))
    )


def _about_tickets(model, person, type_field="content_type", id_field="object_id"):
    ct = ContentType.objects.get_for_model(Ticket)
    return model.objects.filter(**{type_field: ct, f"{id_field}__in": _ticket_ids(person)})


def tickets_erase(person, erasure) -> int:
    """Tickets stay (queues, SLA figures and reports count them) with a scrubbed subject and
    no description; the timeline and emails about them are scrubbed too."""
    count = erasure.scrub_text_fields(_tickets(person), ["subject"])
    _tickets(person).update(description="")
    erasure.scrub_text_fields(_about_tickets(Activity, person), ["summary", "body"])
    _about_tickets(OutboundEmail, person, "content_type", "object_id").update(
        to_email="", subject=erasure.label, body_text="", body_html=""
    )
    erasure.scrub_text_fields(deliveries_about("ticket.", _ticket_ids(person)), ["payload"])
    return count


def messages_erase(person, erasure) -> int:
    """What the person wrote goes; replies and notes by staff are scrubbed of their names,
    addresses and phone numbers."""
    messages = _messages(person)
    count = messages.filter(author_user__isnull=True).update(body=f"[{erasure.label}]")
    return count + erasure.scrub_text_fields(messages.filter(author_user__isnull=False), ["body"])


def attachments_erase(person, erasure) -> int:
    found = list(_attachments(person))
    for attachment in found:
        erasure.delete_file(attachment.file)
    Attachment.objects.filter(pk__in=[a.pk for a in found]).delete()
    return len(found)


def _merges(person):
    tickets = _ticket_ids(person)
    return TicketMerge.objects.filter(Q(kept__in=tickets) | Q(merged__in=tickets))


MERGE_SNAPSHOTS = ["kept_before", "merged_before", "kept_after", "merged_after", "moved"]


def merges_erase(person, erasure) -> int:
    """Merges of their tickets stay undoable, with the tickets' values as kept scrubbed and
    the description emptied (as on the tickets themselves)."""
    changed = erasure.scrub_text_fields(_merges(person), MERGE_SNAPSHOTS)
    for merge in _merges(person).only("pk", *MERGE_SNAPSHOTS):
        dirty = False
        for name in MERGE_SNAPSHOTS[:4]:
            snapshot = getattr(merge, name)
            if isinstance(snapshot, dict) and snapshot.get("description"):
                snapshot["description"] = ""
                dirty = True
        if dirty:
            merge.save(update_fields=MERGE_SNAPSHOTS[:4])
    return changed


def register() -> None:
    personal_data.register(
        "tickets",
        "Support tickets",
        collect=lambda p: rows(_tickets(p)),
        erase=tickets_erase,
        models=[Ticket],
    )
    personal_data.register(
        "ticket_messages",
        "Ticket messages (emails received, replies sent)",
        collect=lambda p: rows(_messages(p)),
        erase=messages_erase,
        models=[TicketMessage],
    )
    personal_data.register(
        "ticket_emails",
        "Emails about their tickets",
        collect=lambda p: rows(_about_tickets(OutboundEmail, p), exclude=["lease_owner"]),
    )
    personal_data.register(
        "attachments",
        "Attachments (files deleted on erasure)",
        collect=lambda p: rows(_attachments(p)),
        erase=attachments_erase,
        models=[Attachment],
    )
    personal_data.register(
        "csat_answers",
        "Satisfaction survey (CSAT) answers",
        collect=lambda p: rows(
            CsatSurvey.objects.filter(ticket__in=_tickets(p)), exclude=["token"]
        ),
        erase=lambda p, e: CsatSurvey.objects.filter(ticket__in=_tickets(p)).update(comment=""),
        models=[CsatSurvey],
    )
    personal_data.register(
        "ticket_merges",
        "Merges of their tickets (values before each merge)",
        collect=lambda p: rows(_merges(p)),
        erase=merges_erase,
        models=[TicketMerge],
    )
    personal_data.register(
        "ticket_history",
        "Field history of their tickets",
        collect=lambda p: history_rows(Ticket, _ticket_ids(p)),
        erase=lambda p, e: history_erase(Ticket, _ticket_ids(p), e, replace={"description": ""}),
        models=[event_model_for(Ticket)],
        order=90,
    )
