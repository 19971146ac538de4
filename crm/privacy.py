"""What the shared core holds about a person (``crm.registry.personal_data``): the contact
records, their consents, timeline, tasks and notifications about them, emails sent to them,
webhook deliveries and API replays that carried their data, audit lines about them, and rows of
spreadsheet imports."""

import io
import json
import zipfile

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from crm.choices import OutboxStatus, TabularImportStatus
from crm.models import (
    Activity,
    ApiIdempotencyKey,
    AuditEvent,
    ComposeAttachment,
    ComposedEmail,
    ConsentEvent,
    Contact,
    ContactDuplicate,
    ContactMerge,
    MailLink,
    MailMessage,
    MailThread,
    Meeting,
    MeetingAttendee,
    Notification,
    OutboundEmail,
    TabularImportJob,
    TabularImportRowError,
    Task,
    TrashedRecord,
    WebhookDelivery,
)
from crm.personal_data import custom_erased, event_model_for, history_erase, history_rows, rows
from crm.registry import personal_data
from crm.services.duplicates import duplicate_pairs_forget
from crm.uploads import files_delete_on_commit

#: How much of a kept file (an import's source) is read when looking for a person in it.
SCAN_BYTES = 64 * 1024 * 1024


def contacts_match(person) -> bool:
    grew = False
    if person.emails:
        grew = person.add(
            "crm.contact",
            Contact.objects.filter(email__in=person.emails).values_list("pk", flat=True),
        )
    for contact in Contact.objects.filter(pk__in=person.ids("crm.contact")):
        before = len(person.emails)
        person.add_identity(
            first_name=contact.first_name,
            last_name=contact.last_name,
            email=contact.email,
            phone=contact.phone,
        )
        grew = grew or len(person.emails) != before
    return grew


def contact_merges_match(person) -> bool:
    """A contact merged away was the same person as the contact it was merged into (found by
    the address kept in the merge record)."""
    if not person.emails:
        return False
    kept = ContactMerge.objects.filter(merged_before__email__in=person.emails)
    return person.add("crm.contact", kept.values_list("kept_id", flat=True))


def _contact_ids(person) -> set[int]:
    """Their contacts' ids, and those of contacts merged into them (whose field history is
    theirs too)."""
    merged = _contact_merges(person).values_list("merged_pk", flat=True)
    return person.ids("crm.contact") | set(merged)


def _contact_merges(person):
    ids = person.ids("crm.contact")
    q = Q(kept__in=ids) | Q(merged_pk__in=ids)
    if person.emails:
        q |= Q(merged_before__email__in=person.emails)
    return ContactMerge.objects.filter(q)


def contact_merges_erase(person, erasure) -> int:
    """The records of their merges go: each keeps both contacts' values from before the merge
    (and the merged contact's rows), which undoing it would bring back."""
    return _contact_merges(person).delete()[0]


def _contacts(person):
    return Contact.objects.filter(pk__in=person.ids("crm.contact"))


def _duplicate_pairs(person):
    ids = list(person.ids("crm.contact"))
    return ContactDuplicate.objects.filter(Q(contact_id__in=ids) | Q(other_id__in=ids))


def contacts_erase(person, erasure) -> int:
    # No matching keys either: an erased contact is nobody to find as a duplicate.
    return _contacts(person).update(**contact_erased_values(erasure), match_keys=[], match_name="")


def contact_erased_values(erasure) -> dict:
    return {
        "first_name": "",
        "last_name": erasure.label,
        "email": "",
        "phone": "",
        "title": "",
        **custom_erased(Contact),
    }


def history_ids(model, person, ids):
    """The records' ids, and those of deleted records (merged away) with their address."""
    found = set(ids)
    event_model = event_model_for(model)
    if event_model is not None and person.emails:
        found |= set(
            event_model.objects.filter(email__in=person.emails).values_list("pgh_obj_id", flat=True)
        )
    return found


def contact_history(person):
    return history_rows(Contact, history_ids(Contact, person, _contact_ids(person)))


def contact_history_erase(person, erasure) -> int:
    ids = history_ids(Contact, person, _contact_ids(person))
    return history_erase(Contact, ids, erasure, replace=contact_erased_values(erasure))


def consents(person):
    """The consent answers as they stand on contacts (with when they were given); leads add
    theirs, and ``consent_proof`` every answer's proof."""
    return [
        {"record": "crm.contact", **values}
        for values in _contacts(person).values(
            "pk", "email_consent", "email_consent_at", "marketing_consent", "marketing_consent_at"
        )
    ]


def _consent_proof(person):
    return ConsentEvent.objects.filter(person.generic_q())


def consent_proof_erase(person, erasure) -> int:
    """Proof of consent outlives the person: each row keeps what was given or withdrawn, when,
    through what, the IP address and the wording with its version. It names nobody; any
    mention of them in its free text (a form's name) is scrubbed all the same."""
    return erasure.scrub_text_fields(_consent_proof(person), ["channel_name", "wording"])


def _activities(person):
    return Activity.objects.filter(person.generic_q())


def _tasks(person):
    return Task.objects.filter(person.generic_q())


def _meetings(person):
    return Meeting.objects.filter(person.generic_q())


def _meeting_attendees(person):
    return MeetingAttendee.objects.filter(
        Q(email__in=person.emails) | Q(contact_id__in=person.ids("crm.contact"))
    )


def meetings_collect(person) -> list[dict]:
    return rows(_meetings(person)) + rows(_meeting_attendees(person), exclude=["token"])


def meetings_erase(person, erasure) -> int:
    """Their places on guest lists go, and the meetings about their records (a meeting's title
    and notes are about them)."""
    return _meeting_attendees(person).delete()[0] + _meetings(person).delete()[0]


def _emails(person):
    q = Q(to_email__in=person.emails) | person.generic_q("content_type", "object_id")
    for email in person.emails:
        q |= Q(cc__contains=[email])
    return OutboundEmail.objects.filter(q)


def _mail(person):
    """Emails to, from or copied to them, and emails shown on their records."""
    emails = sorted(person.emails)
    return MailMessage.objects.filter(
        Q(from_email__in=emails)
        | Q(to_emails__overlap=emails)
        | Q(cc_emails__overlap=emails)
        | Q(pk__in=_mail_links(person).values("message_id"))
    )


def _mail_links(person):
    return MailLink.objects.filter(person.generic_q())


def mail_erase(person, erasure) -> int:
    """Their emails go whole (the message, its links, its lines on every record's timeline,
    and a conversation left empty): an email's subject and body are about them."""
    messages = _mail(person)
    threads = list(messages.values_list("thread_id", flat=True).distinct())
    Activity.objects.filter(
        pk__in=MailLink.objects.filter(message__in=messages).values("activity_id")
    ).delete()
    deleted = messages.delete()[0]
    MailThread.objects.filter(pk__in=threads, messages__isnull=True).delete()
    return deleted


def _notifications(person):
    return Notification.objects.filter(person.generic_q())


def notifications_erase(person, erasure) -> int:
    """Notifications about their records go; others that name them in full are scrubbed."""
    deleted = _notifications(person).delete()[0]
    mentions = Notification.objects.filter(erasure.strong_q("verb"))
    return deleted + erasure.scrub_text_fields(mentions, ["verb"])


def activities_erase(person, erasure) -> int:
    """Their timeline goes; entries elsewhere that name them in full (by name, address or
    phone: "Referred by …", "Converted from …") are scrubbed."""
    deleted = _activities(person).delete()[0]
    mentions = Activity.objects.filter(erasure.strong_q("summary", "body"))
    return deleted + erasure.scrub_text_fields(mentions, ["summary", "body"])


def deliveries_about(prefix: str, ids):
    """Webhook deliveries of ``prefix`` events (``"ticket."``) about the records ``ids``."""
    return WebhookDelivery.objects.filter(
        event_type__startswith=prefix, payload__data__id__in=list(ids)
    )


def emails_erase(person, erasure) -> int:
    """Unsent email to them is cancelled; every email keeps its state and times, not its
    address, subject or body."""
    emails = _emails(person)
    emails.filter(status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING]).update(
        status=OutboxStatus.FAILED, last_error="Cancelled: the recipient's data was erased."
    )
    return emails.update(
        to_email="", cc=[], subject=erasure.label, body_text="", body_html="", last_error=""
    )


def _composed(person):
    q = Q(to_email__in=person.emails) | person.generic_q("content_type", "object_id")
    for email in person.emails:
        q |= Q(cc__contains=[email])
    return ComposedEmail.objects.filter(q)


def composed_collect(person) -> list[dict]:
    emails = list(_composed(person).prefetch_related("attachments"))
    found = rows(ComposedEmail.objects.filter(pk__in=[e.pk for e in emails]))
    by_pk = {e.pk: e for e in emails}
    for row in found:
        row["attachments"] = [a.filename for a in by_pk[row["id"]].attachments.all()]
    return found


def composed_erase(person, erasure) -> int:
    """Emails written to them keep their times and counts, not their addresses, words or
    files; one not sent yet is cancelled (its outbox row, by the outbox's kind)."""
    emails = _composed(person)
    attachments = ComposeAttachment.objects.filter(email__in=emails)
    files_delete_on_commit((a.file.storage, a.file.name) for a in attachments)
    attachments.delete()
    return emails.update(to_email="", cc=[], subject=erasure.label, body="")


def _deliveries(person):
    q = Q(pk__in=[])
    for needle in person.emails | person.phones:
        q |= Q(payload_text__icontains=needle)
    for label, prefix in (("crm.contact", "contact."), ("leads.lead", "lead.")):
        ids = person.ids(label)
        if ids:
            q |= Q(event_type__startswith=prefix, payload__data__id__in=list(ids))
    return WebhookDelivery.objects.annotate(payload_text=Cast("payload", TextField())).filter(q)


def deliveries_erase(person, erasure) -> int:
    """A delivery keeps its event, times and outcome; its data becomes ``{"erased": true}``."""
    changed = 0
    for delivery in _deliveries(person):
        payload = dict(delivery.payload or {})
        payload["data"] = {"erased": True}
        delivery.payload = payload
        delivery.last_response_body = erasure.scrub(delivery.last_response_body)
        delivery.last_error = erasure.scrub(delivery.last_error)
        delivery.save(update_fields=["payload", "last_response_body", "last_error"])
        changed += 1
    return changed


def _replays(person):
    q = Q(pk__in=[])
    for needle in person.emails | person.phones:
        q |= Q(body_text__icontains=needle)
    return ApiIdempotencyKey.objects.annotate(body_text=Cast("body", TextField())).filter(q)


def audit_erase(person, erasure) -> int:
    """Lines about them keep what happened, by whom and when; their label becomes the
    erasure's, their detail loses the person's values."""
    lines = AuditEvent.objects.filter(_audit_q(person))
    count = lines.update(target_label=erasure.label)
    erasure.scrub_text_fields(lines, ["detail"])
    return count


def _audit_q(person):
    from django.contrib.contenttypes.models import ContentType

    q = Q(pk__in=[])
    for label, ids in person.records.items():
        if ids:
            ct = ContentType.objects.get_by_natural_key(*label.split("."))
            q |= Q(target_type=ct, target_id__in=[str(pk) for pk in ids])
    return q


def import_rows(person, error_model):
    q = Q(pk__in=[])
    for needle in person.emails | person.phones:
        q |= Q(raw__icontains=needle)
    return error_model.objects.filter(q)


def file_mentions(file_field, person) -> bool:
    """Whether a kept file (an import's source: CSV text, or an XLSX, whose zipped XML parts
    are read unpacked) holds one of the person's addresses or phone numbers."""
    needles = [n.lower().encode() for n in person.emails | person.phones]
    if not needles or not file_field or not file_field.name:
        return False
    try:
        with file_field.storage.open(file_field.name, "rb") as handle:
            data = handle.read(SCAN_BYTES)
    except OSError:
        return False
    texts = [data]
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                texts = [archive.read(name)[:SCAN_BYTES] for name in archive.namelist()]
        except (zipfile.BadZipFile, OSError):
            pass
    return any(n in text.lower() for text in texts for n in needles)


def import_files_erase(person, erasure, job_model, error_model, done_states) -> int:
    """Finished imports whose source file names the person lose the file (the job row, its
    counts and message stay); error rows that quote them are deleted."""
    quoted = set(import_rows(person, error_model).values_list("job_id", flat=True))
    deleted = import_rows(person, error_model).delete()[0]
    jobs = job_model.objects.filter(status__in=done_states).exclude(file="")
    for job in jobs.iterator():
        if job.pk in quoted or file_mentions(job.file, person):
            erasure.delete_file(job.file)
            job.file = ""
            job.save(update_fields=["file"])
            deleted += 1
    return deleted


#: Trash entries whose record is a person: such an entry is theirs, and goes on erasure.
PERSON_KINDS = ("crm.contact", "leads.lead")


def _trash(person):
    """Entries in the trash that hold them: their own deleted records, and any deleted record
    whose kept rows carry one of their full names, addresses or phone numbers."""
    from crm.services.trash import trash_matching

    ids = set()
    for label in PERSON_KINDS:
        ids |= set(
            TrashedRecord.objects.filter(kind=label, object_pk__in=person.ids(label)).values_list(
                "pk", flat=True
            )
        )
    for needle in person.names | person.emails | person.phones:
        ids |= set(trash_matching(needle).values_list("pk", flat=True))
    return TrashedRecord.objects.filter(pk__in=ids).order_by("pk")


def _trash_is_theirs(entry, person) -> bool:
    if entry.kind not in PERSON_KINDS:
        return False
    if entry.object_pk in person.ids(entry.kind):
        return True
    # Matched by an address or a phone number (a name alone may be a namesake's).
    body = json.dumps(entry.payload, ensure_ascii=False).lower()
    return any(value.lower() in body for value in person.emails | person.phones)


def trash_erase(person, erasure) -> int:
    """Their own deleted records leave the trash for good (with kept files); every other entry
    that mentions them keeps its rows, scrubbed of their names, addresses and phone numbers."""
    from crm.services.trash import entries_delete

    entries = list(_trash(person).select_for_update())
    theirs = [entry.pk for entry in entries if _trash_is_theirs(entry, person)]
    changed = entries_delete(TrashedRecord.objects.filter(pk__in=theirs)) if theirs else 0
    others = TrashedRecord.objects.filter(pk__in=[e.pk for e in entries if e.pk not in theirs])
    return changed + erasure.scrub_text_fields(others, ["name", "payload"])


def register() -> None:
    personal_data.register_subject(Contact)
    personal_data.register_matcher(contacts_match)
    personal_data.register_matcher(contact_merges_match)
    personal_data.register(
        "contacts",
        "Contact records",
        collect=lambda p: rows(_contacts(p)),
        erase=contacts_erase,
        models=[Contact],
        order=10,
    )
    personal_data.register(
        "duplicate_pairs",
        "Possible duplicates under review (the two contacts' ids, the score and the reasons)",
        collect=lambda p: rows(_duplicate_pairs(p)),
        # An erased contact is nobody's duplicate: its pairs leave the queue.
        erase=lambda p, e: duplicate_pairs_forget(kind="contact", pks=p.ids("crm.contact")),
        models=[ContactDuplicate],
    )
    personal_data.register(
        "consents",
        "Consents on contacts",
        collect=consents,
    )
    personal_data.register(
        "consent_proof",
        "Proof of each consent given or withdrawn (through what, when, IP address, wording)",
        collect=lambda p: rows(_consent_proof(p)),
        erase=consent_proof_erase,
        models=[ConsentEvent],
    )
    personal_data.register(
        "activities",
        "Timeline (calls, meetings, notes, emails logged)",
        collect=lambda p: rows(_activities(p)),
        erase=activities_erase,
        models=[Activity],
    )
    personal_data.register(
        "notifications",
        "Notifications about them (the bell)",
        collect=lambda p: rows(_notifications(p)),
        erase=notifications_erase,
        models=[Notification],
    )
    personal_data.register(
        "tasks",
        "Tasks and follow-ups",
        collect=lambda p: rows(_tasks(p)),
        erase=lambda p, e: _tasks(p).delete()[0],
        models=[Task],
    )
    personal_data.register(
        "meetings",
        "Meetings about them and invitations to meetings (with their answers)",
        collect=meetings_collect,
        erase=meetings_erase,
        models=[Meeting, MeetingAttendee],
    )
    personal_data.register(
        "emails_sent",
        "Emails sent (outbox)",
        collect=lambda p: rows(_emails(p), exclude=["lease_owner"]),
        erase=emails_erase,
        models=[OutboundEmail],
    )
    personal_data.register(
        "emails_written",
        "Emails written to them from the CRM (with opens and clicks counted)",
        collect=composed_collect,
        erase=composed_erase,
        models=[ComposedEmail, ComposeAttachment],
    )
    personal_data.register(
        "mail_messages",
        "Emails exchanged with them (imported from mailboxes and the logging address)",
        collect=lambda p: rows(_mail(p)),
        erase=mail_erase,
        models=[MailMessage],
        order=40,  # before the timeline: it takes the lines these emails wrote on other records
    )
    personal_data.register(
        "mail_links",
        "Which of their records each email is shown on",
        collect=lambda p: rows(_mail_links(p)),
        erase=lambda p, e: _mail_links(p).delete()[0],
        models=[MailLink],
    )
    personal_data.register(
        "webhook_deliveries",
        "Webhook deliveries that carried their data",
        collect=lambda p: rows(_deliveries(p), exclude=["last_response_body"]),
        erase=deliveries_erase,
        models=[WebhookDelivery],
    )
    personal_data.register(
        "api_replays",
        "Stored API answers (replayed for a repeated request)",
        collect=lambda p: rows(_replays(p)),
        erase=lambda p, e: _replays(p).delete()[0],
        models=[ApiIdempotencyKey],
    )
    personal_data.register(
        "audit_lines",
        "Security audit lines about them",
        collect=lambda p: rows(AuditEvent.objects.filter(_audit_q(p))),
        erase=audit_erase,
        models=[AuditEvent],
        order=95,
    )
    personal_data.register(
        "spreadsheet_import_rows",
        "Rows of spreadsheet imports that could not be imported",
        collect=lambda p: rows(import_rows(p, TabularImportRowError)),
        erase=lambda p, e: import_files_erase(
            p,
            e,
            TabularImportJob,
            TabularImportRowError,
            [TabularImportStatus.DONE, TabularImportStatus.FAILED],
        ),
        models=[TabularImportJob, TabularImportRowError],
    )
    personal_data.register(
        "trash",
        "Deleted records in the trash that hold them",
        collect=lambda p: rows(_trash(p)),
        erase=trash_erase,
        models=[TrashedRecord],
    )
    personal_data.register(
        "contact_merges",
        "Merges of their contact records (values before each merge)",
        collect=lambda p: rows(_contact_merges(p)),
        erase=contact_merges_erase,
        models=[ContactMerge],
        order=92,  # after the field history, which finds the merged contacts through them
    )
    personal_data.register(
        "contact_history",
        "Field history of the contact records",
        collect=contact_history,
        erase=contact_history_erase,
        models=[event_model_for(Contact)],
        order=90,
    )
