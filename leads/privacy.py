"""What lead generation and marketing hold about a person (``crm.registry.personal_data``):
lead records (with the web form or import they came from) and their consents, campaign email
events (sends, opens, clicks, bounces, unsubscribes), suppression, nurturing sequences, and rows
of lead imports."""

from django.db.models import Q
from django.db.models.expressions import RawSQL

from crm.db import array_literal
from crm.personal_data import (
    custom_erased,
    email_hash,
    event_model_for,
    history_erase,
    history_rows,
    rows,
)
from crm.privacy import history_ids, import_files_erase, import_rows
from crm.registry import personal_data
from leads.choices import EnrollmentState, ImportStatus, SuppressionReason
from leads.models import (
    CampaignRecipient,
    Enrollment,
    ImportJob,
    ImportRowError,
    Lead,
    LeadMerge,
    SequenceEmail,
    Suppression,
)


def leads_match(person) -> bool:
    """Leads with one of their addresses, the leads their contacts were converted from, and
    the contacts their leads were converted into."""
    q = Q(pk__in=person.ids("leads.lead")) | Q(converted_contact__in=person.ids("crm.contact"))
    if person.emails:
        q |= Q(email__in=person.emails)
    grew = False
    for lead in Lead.objects.filter(q):
        grew = person.add("leads.lead", [lead.pk]) or grew
        if lead.converted_contact_id:
            grew = person.add("crm.contact", [lead.converted_contact_id]) or grew
        before = len(person.emails)
        person.add_identity(
            first_name=lead.first_name, last_name=lead.last_name, email=lead.email, phone=lead.phone
        )
        grew = grew or len(person.emails) != before
    return grew


def _leads(person):
    return Lead.objects.filter(pk__in=person.ids("leads.lead"))


def lead_erased_values(erasure) -> dict:
    return {
        "first_name": "",
        "last_name": erasure.label,
        "email": "",
        "phone": "",
        "title": "",
        "company_name": "",
        "website": "",
        "need": "",
        "disqualify_note": "",
        **custom_erased(Lead),
    }


def leads_erase(person, erasure) -> int:
    """Lead records keep their stage, dates, source, campaign and consent proof (what was
    given, and when), not who the person is."""
    erased = lead_erased_values(erasure)
    # No matching keys either: an erased lead is nobody to find as a duplicate.
    return _leads(person).update(
        **erased, score_breakdown={}, conversion_factors={}, match_keys=[], match_name=""
    )


def lead_history_erase(person, erasure) -> int:
    ids = history_ids(Lead, person, person.ids("leads.lead"))
    return history_erase(Lead, ids, erasure, replace=lead_erased_values(erasure))


def lead_consents(person):
    """Consents on leads with their proof: how the lead came (web form, import, referral…),
    through which campaign, when each consent was given, and any unsubscribe."""
    return list(
        _leads(person).values(
            "pk",
            "source",
            "campaign_id",
            "created_at",
            "email_consent",
            "email_consent_at",
            "marketing_consent",
            "marketing_consent_at",
            "unsubscribed_at",
        )
    )


def _recipients(person):
    q = Q(contact__in=person.ids("crm.contact"))
    if person.emails:
        q |= Q(email__in=person.emails)
    return CampaignRecipient.objects.filter(q)


def _suppressions(person):
    hashes = [email_hash(e) for e in person.emails]
    return Suppression.objects.filter(Q(email__in=person.emails) | Q(email_hash__in=hashes))


def suppressions_erase(person, erasure) -> int:
    """Every address of theirs stays suppressed, but only as its SHA-256: the campaign sender,
    lead imports and the web form compare addresses by that hash too."""
    _suppressions(person).filter(email__in=person.emails).delete()
    for address in person.emails:
        Suppression.objects.get_or_create(
            email_hash=email_hash(address),
            defaults={"email": None, "reason": SuppressionReason.ERASED},
        )
    return len(person.emails)


def erased_emails(emails) -> set[str]:
    """Which of ``emails`` (lower case) belong to erased people: their hash is on the
    suppression list. Lead imports skip them and the public forms store nothing for them."""
    by_hash = {email_hash(e): e for e in emails if e}
    if not by_hash:
        return set()
    # One array parameter, not an IN list of thousands (an import asks about a whole chunk).
    found = Suppression.objects.filter(
        email_hash__in=RawSQL("SELECT unnest(%s::varchar[])", [array_literal(by_hash)])
    ).values_list("email_hash", flat=True)
    return {by_hash[h] for h in found}


def _enrollments(person):
    return Enrollment.objects.filter(lead__in=person.ids("leads.lead"))


def enrollments_erase(person, erasure) -> int:
    """Nurturing stops: no further step is sent to an erased person."""
    return (
        _enrollments(person)
        .filter(state=EnrollmentState.ACTIVE)
        .update(state=EnrollmentState.STOPPED, next_step_at=None)
    )


def _merges(person):
    return LeadMerge.objects.filter(
        Q(kept__in=person.ids("leads.lead"))
        | Q(merged__in=person.ids("leads.lead"))
        | Q(contact__in=person.ids("crm.contact"))
    )


def merges_erase(person, erasure) -> int:
    """The records of their merges go: each keeps both records' values from before the merge,
    which undoing it would bring back."""
    return _merges(person).delete()[0]


def register() -> None:
    personal_data.register_subject(Lead)
    personal_data.register_matcher(leads_match)
    personal_data.register(
        "leads",
        "Lead records (web form submissions, imports, referrals)",
        collect=lambda p: rows(_leads(p)),
        erase=leads_erase,
        models=[Lead],
        order=10,
    )
    personal_data.register(
        "lead_consents", "Consents on leads and their proof", collect=lead_consents
    )
    personal_data.register(
        "campaign_emails",
        "Campaign emails: sends, opens, clicks, bounces, unsubscribes",
        collect=lambda p: rows(_recipients(p)),
        erase=lambda p, e: _recipients(p).update(email=""),
        models=[CampaignRecipient],
    )
    personal_data.register(
        "suppressions",
        "Suppression list (never mailed again)",
        collect=lambda p: rows(_suppressions(p)),
        erase=suppressions_erase,
        models=[Suppression],
    )
    personal_data.register(
        "sequence_enrolments",
        "Nurturing sequences",
        collect=lambda p: rows(_enrollments(p)),
        erase=enrollments_erase,
        models=[Enrollment],
    )
    personal_data.register(
        "sequence_emails",
        "Nurturing emails sent (opens, clicks, replies)",
        collect=lambda p: rows(SequenceEmail.objects.filter(enrollment__in=_enrollments(p))),
        models=[SequenceEmail],
    )
    personal_data.register(
        "lead_merges",
        "Merges of their lead records (values before each merge)",
        collect=lambda p: rows(_merges(p)),
        erase=merges_erase,
        models=[LeadMerge],
    )
    personal_data.register(
        "lead_import_rows",
        "Rows of lead imports that could not be imported",
        collect=lambda p: rows(import_rows(p, ImportRowError)),
        erase=lambda p, e: import_files_erase(
            p, e, ImportJob, ImportRowError, [ImportStatus.DONE, ImportStatus.FAILED]
        ),
        models=[ImportJob, ImportRowError],
    )
    personal_data.register(
        "lead_history",
        "Field history of the lead records",
        collect=lambda p: history_rows(Lead, history_ids(Lead, p, p.ids("leads.lead"))),
        erase=lead_history_erase,
        models=[event_model_for(Lead)],
        order=90,
    )
