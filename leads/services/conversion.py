"""The one core of every lead conversion: a lead becomes a contact (and its account).

``lead_convert`` (a new or matched contact) and ``lead_merge_into_contact`` (a contact the user
picked) both end here: the lead's consent, timeline and tasks move to the contact, the lead is
marked converted, its nurturing stops, both timelines say so, and later stages hear of it
through ``leads.signals.lead_converted``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from crm import webhooks
from crm.choices import ActivityKind
from crm.mail.links import mail_links_move
from crm.models import Account, Activity, ConsentChannel, ConsentEvent, Contact, Task
from crm.quality import quality_fields_set
from crm.services.consents import ConsentProof, consent_proof_copy, consent_record
from crm.services.customers import consent_stamp
from crm.services.timeline import activity_log
from leads.choices import EnrollmentStopReason, LeadStatus
from leads.models import Lead
from leads.services import sequences
from leads.signals import lead_converted

CONSENTS = ("email_consent", "marketing_consent")


@dataclass(frozen=True)
class Moved:
    """What a conversion carried from the lead to the contact."""

    old_status: str  # the lead's status (display) before it was converted
    activities: int
    tasks: int
    consent: tuple[str, ...]  # contact fields the lead's consent set


def consent_carry(lead: Lead, contact: Contact) -> list[str]:
    """Consent moves across: what the person agreed to as a lead holds as a contact, dated when
    the lead gave it. Returns the contact fields changed (not saved)."""
    changed = []
    for name in CONSENTS:
        if getattr(lead, name) and not getattr(contact, name):
            consent_stamp(name, True, at=getattr(lead, f"{name}_at"), record=contact)
            changed += [name, f"{name}_at"]
    return changed


def consent_proof_carry(lead: Lead, contact: Contact, carried: list[str]) -> None:
    """The proof behind the lead's consents moves to the contact with them (every row of the
    lead's, unchanged); a carried consent the lead has no proof of (given before proof was
    kept) is recorded as carried by the conversion."""
    consent_proof_copy(source=lead, target=contact)
    proven = set(ConsentEvent.objects.for_object(lead).values_list("consent", flat=True))
    for name in CONSENTS:
        if name in carried and name not in proven:
            consent_record(
                record=contact,
                consent=name,
                given=True,
                at=getattr(contact, f"{name}_at"),
                proof=ConsentProof(channel=ConsentChannel.CONVERSION, name=f"Lead #{lead.pk}"),
            )


def timeline_move(source, target) -> tuple[int, int]:
    """One UPDATE each: every activity, task and email of ``source`` now belongs to
    ``target``."""
    target_type = ContentType.objects.get_for_model(target)
    activities = Activity.objects.for_object(source).update(
        content_type=target_type, object_id=target.pk
    )
    tasks = Task.objects.for_object(source).update(content_type=target_type, object_id=target.pk)
    mail_links_move(source=source, target=target)
    return activities, tasks


@transaction.atomic
def lead_conversion_complete(
    *,
    lead: Lead,
    account: Account | None,
    contact: Contact,
    user,
    contact_note: Callable[[Moved], tuple[str, str]],
    lead_summary: Callable[[Moved], str],
    contact_changed: list[str] | None = None,
    lead_changed: tuple[str, ...] = (),
    create_opportunity: bool = False,
    opportunity_name: str = "",
    opportunity_amount: Decimal | None = None,
    created: list | None = None,
) -> Moved:
    """Convert the (locked, open) ``lead`` into ``contact`` and ``account``.

    ``contact_changed`` / ``lead_changed``: fields the caller already set on the contact / lead,
    saved with the conversion's own. ``contact_note`` gives the contact's timeline entry
    (summary, body) and ``lead_summary`` the lead's, from what moved. ``created`` is the list
    the signal's receivers add what they made to (a deal).
    """
    consent = consent_carry(lead, contact)
    contact_fields = [*(contact_changed or []), *consent]
    if contact_fields:
        contact_fields += quality_fields_set(contact)
        contact.save(update_fields=[*contact_fields, "updated_at"])
    consent_proof_carry(lead, contact, consent)
    activities, tasks = timeline_move(lead, contact)
    moved = Moved(
        old_status=lead.get_status_display(),
        activities=activities,
        tasks=tasks,
        consent=tuple(consent),
    )
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = timezone.now()
    lead.converted_account = account
    lead.converted_contact = contact
    lead.save(
        update_fields=[
            "status",
            "converted_at",
            "converted_contact",
            "converted_account",
            *lead_changed,
            "updated_at",
        ]
    )
    sequences.enrollments_stop(lead=lead, reason=EnrollmentStopReason.CONVERTED)
    summary, body = contact_note(moved)
    activity_log(subject=contact, kind=ActivityKind.SYSTEM, summary=summary, body=body, actor=user)
    activity_log(subject=lead, kind=ActivityKind.SYSTEM, summary=lead_summary(moved), actor=user)
    lead_converted.send(
        sender=Lead,
        lead=lead,
        account=account,
        contact=contact,
        user=user,
        create_opportunity=create_opportunity,
        opportunity_name=opportunity_name,
        opportunity_amount=opportunity_amount,
        created=[] if created is None else created,
    )
    deals = [obj.pk for obj in (created or ()) if obj._meta.label_lower == "sales.opportunity"]
    webhooks.emit("lead.converted", lead, opportunity_id=deals[0] if deals else None)
    return moved
