"""Creating, changing, qualifying, converting and reassigning leads."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm import webhooks
from crm.choices import ActivityKind
from crm.forms import assignable_users
from crm.history import Source, recorded_as
from crm.matching import company_key, match_fields_set
from crm.models import Account, Activity, Contact, User
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.permissions import may_manage
from crm.quality import quality_fields_set
from crm.services.consents import ConsentProof, consents_record
from crm.services.custom_fields import changed_fields_label, custom_fields_apply
from crm.services.customers import account_create, consent_stamp, contact_create
from crm.services.notifications import notification_row, notifications_insert, notify
from crm.services.outbox import email_queue
from crm.services.quality import quality_rescore
from crm.services.timeline import activity_log
from crm.services.trash import trash_delete, trash_delete_many
from leads.choices import EnrollmentStopReason, LeadStatus
from leads.models import Lead
from leads.services import assignment, dedupe, scoring, sequence_ab, sequences
from leads.services.conversion import CONSENTS, lead_conversion_complete

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company_name",
    "website",
    "industry",
    "employees",
    "country",
    "source",
    "campaign",
    "owner",
    "budget_amount",
    "budget_currency",
    "budget_confirmed",
    "authority",
    "need",
    "need_severity",
    "timeline",
    "email_consent",
    "marketing_consent",
)

#: Which status may follow which; conversion only through ``lead_convert``.
ALLOWED_TRANSITIONS = {
    LeadStatus.NEW: {
        LeadStatus.WORKING,
        LeadStatus.NURTURING,
        LeadStatus.QUALIFIED,
        LeadStatus.DISQUALIFIED,
    },
    LeadStatus.WORKING: {LeadStatus.NURTURING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED},
    LeadStatus.NURTURING: {LeadStatus.WORKING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED},
    LeadStatus.QUALIFIED: {LeadStatus.WORKING, LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED},
    LeadStatus.DISQUALIFIED: {LeadStatus.WORKING},
    LeadStatus.CONVERTED: set(),
}
STOPPING_STATUSES = {
    LeadStatus.QUALIFIED: EnrollmentStopReason.QUALIFIED,
    LeadStatus.CONVERTED: EnrollmentStopReason.CONVERTED,
    LeadStatus.DISQUALIFIED: EnrollmentStopReason.DISQUALIFIED,
}


def normalize_lead_data(data: dict) -> dict:
    """Email lower case, phone E.164 (read in the lead's country), website a bare domain."""
    data = dict(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    if "phone" in data:
        data["phone"] = normalize_phone(data["phone"], str(data.get("country") or "") or None)
    if "website" in data:
        data["website"] = normalize_domain(data["website"])
    return data


def _stamp_consent(lead: Lead, fields: list[str]) -> list[str]:
    """Date the consents among ``fields`` (now, or cleared when withdrawn)."""
    stamped = []
    for name in CONSENTS:
        if name in fields:
            consent_stamp(name, getattr(lead, name), record=lead)
            stamped.append(f"{name}_at")
    return stamped


class DuplicateLeadError(ValidationError):
    def __init__(self, match: dedupe.DuplicateMatch):
        self.match = match
        super().__init__(
            f"This person is already {match.describe()}: {match.reasons}.", code="duplicate"
        )


def _assign(lead: Lead, *, user) -> None:
    """Owner: as given, else by assignment rules (team then round-robin, or the team's manager
    when it has no rep), else the creator if they sell."""
    if lead.owner_id:
        return
    team = assignment.team_for(lead=lead, rules=assignment.active_rules())
    if team is not None:
        lead.team = team
        picked = assignment.owners_in_turn(team=team)
        if picked:
            lead.owner_id = picked[0]
            return
    if user is not None and user.is_authenticated and user.is_sales_rep:
        lead.owner = user


@transaction.atomic
def lead_create(
    *,
    user=None,
    on_duplicate: str = "raise",
    consent_proof: ConsentProof | None = None,
    **data,
) -> Lead:
    """Create a lead: normalise, dedupe, assign, score, and enrol by sequence rules. Consents
    given leave proof (``consent_proof``: the web form, its wording and the visitor's address;
    else the change's source).

    Dedupe (``leads.services.dedupe``, judged by ``crm.matching``): a lead or contact that is
    surely the same person raises DuplicateLeadError when ``on_duplicate`` is ``raise``; with
    ``flag`` the lead is created and marked as its possible duplicate. One that is only likely
    the same (a shared phone with the same name, a namesake at the same company) never stops the
    lead: it is created and flagged for review.
    """
    data = normalize_lead_data(data)
    lead = Lead(**{k: v for k, v in data.items() if k in LEAD_FIELDS})
    custom_fields_apply(lead, data, user=user)
    if not lead.last_name:
        raise ValidationError({"last_name": "A lead needs at least a last name."})
    match = dedupe.best_match(lead=lead)
    if match.is_same and on_duplicate == "raise":
        raise DuplicateLeadError(match)
    if match:
        lead.possible_duplicate = True
        lead.duplicate_of = match.lead
    match_fields_set(lead)
    quality_fields_set(lead)
    given = [f for f in CONSENTS if data.get(f)]
    _stamp_consent(lead, given)
    _assign(lead, user=user)
    lead.save()
    consents_record(record=lead, names=given, proof=consent_proof)
    activity_log(
        subject=lead,
        kind=ActivityKind.SYSTEM,
        summary=f"Lead created ({lead.get_source_display()})",
        actor=user if user is not None and user.is_authenticated else None,
    )
    scoring.lead_score_refresh(lead=lead)
    sequences.lead_auto_enrol(lead=lead)
    webhooks.emit("lead.created", lead)
    if lead.owner_id and (user is None or lead.owner_id != getattr(user, "pk", None)):
        _notify_owner(lead=lead, owner_id=lead.owner_id, reason="assigned to you", actor=user)
    return lead


@transaction.atomic
def lead_update(*, lead: Lead, user, consent_proof: ConsentProof | None = None, **data) -> Lead:
    data = normalize_lead_data(data)
    changed = [f for f in LEAD_FIELDS if f in data and getattr(lead, f) != data[f]]
    old_owner_id = lead.owner_id
    for name in changed:
        setattr(lead, name, data[name])
    custom_before = lead.custom
    if custom_fields_apply(lead, data, user=user):
        changed.append("custom")
    if not changed:
        return lead
    if "email" in changed or "phone" in changed:
        match = dedupe.best_match(lead=lead)
        if match.is_same:
            lead.refresh_from_db(fields=changed)  # the caller's object stays as it was
            raise DuplicateLeadError(match)
    stamped = _stamp_consent(lead, changed)
    keys = match_fields_set(lead) if set(changed) & set(dedupe.PERSON_FIELDS) else []
    keys += quality_fields_set(lead)
    lead.save(update_fields=[*changed, *stamped, *keys, "updated_at"])
    consents_record(record=lead, names=[f for f in CONSENTS if f in changed], proof=consent_proof)
    labels = changed_fields_label(lead, changed, custom_before)
    activity_log(subject=lead, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user)
    scoring.lead_score_refresh(lead=lead)
    new_owner = lead.owner_id not in (None, old_owner_id, getattr(user, "pk", None))
    if "owner" in changed and new_owner:
        _notify_owner(lead=lead, owner_id=lead.owner_id, reason="reassigned to you", actor=user)
    return lead


@transaction.atomic
def lead_delete(*, lead: Lead, user) -> None:
    """Move the lead to the trash, with its timeline, tasks and enrolments."""
    trash_delete(obj=lead, user=user)


def _check_transition(lead: Lead, status: str) -> None:
    if status not in ALLOWED_TRANSITIONS[LeadStatus(lead.status)]:
        raise ValidationError(
            f"A {lead.get_status_display().lower()} lead cannot become "
            f"{LeadStatus(status).label.lower()}."
        )


@transaction.atomic
def lead_set_status(*, lead: Lead, status: str, user, reason: str = "", note: str = "") -> Lead:
    """The one way a lead's status changes (besides conversion): checks the transition, records
    it on the timeline, and stops nurturing when the lead qualifies or drops out."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == status:
        return lead
    if status == LeadStatus.CONVERTED:
        raise ValidationError("Convert a lead with the Convert action.")
    _check_transition(lead, status)
    fields = ["status", "updated_at"]
    if status == LeadStatus.DISQUALIFIED:
        if not reason:
            raise ValidationError({"reason": "Say why the lead is disqualified."})
        lead.disqualify_reason, lead.disqualify_note = reason, note
        fields += ["disqualify_reason", "disqualify_note"]
    elif lead.disqualify_reason:
        lead.disqualify_reason, lead.disqualify_note = "", ""
        fields += ["disqualify_reason", "disqualify_note"]
    old = lead.get_status_display()
    lead.status = status
    fields += quality_fields_set(lead)  # the change makes it fresh
    lead.save(update_fields=fields)
    summary = f"Status: {old} → {lead.get_status_display()}"
    if status == LeadStatus.DISQUALIFIED:
        summary += f" ({lead.get_disqualify_reason_display()})"
    activity_log(subject=lead, kind=ActivityKind.SYSTEM, summary=summary, body=note, actor=user)
    if status in STOPPING_STATUSES:
        sequences.enrollments_stop(lead=lead, reason=STOPPING_STATUSES[status])
    return lead


def lead_qualify(*, lead: Lead, user) -> Lead:
    return lead_set_status(lead=lead, status=LeadStatus.QUALIFIED, user=user)


def lead_disqualify(*, lead: Lead, user, reason: str, note: str = "") -> Lead:
    return lead_set_status(
        lead=lead, status=LeadStatus.DISQUALIFIED, user=user, reason=reason, note=note
    )


@transaction.atomic
def lead_mark_replied(*, lead: Lead, user=None, when=None) -> Lead:
    """The lead answered us (logged by the rep, or an inbound email): nurturing stops."""
    when = when or timezone.now()
    Lead.objects.filter(pk=lead.pk).update(replied_at=when, last_activity_at=when)
    lead.replied_at = lead.last_activity_at = when
    activity_log(subject=lead, kind=ActivityKind.EMAIL, summary="Lead replied", actor=user)
    sequence_ab.sequence_emails_mark_replied(lead=lead, when=when)
    sequences.enrollments_stop(lead=lead, reason=EnrollmentStopReason.REPLIED)
    scoring.lead_score_refresh(lead=lead)
    return lead


@dataclass
class Conversion:
    lead: Lead
    account: Account
    contact: Contact
    created: list = field(default_factory=list)


def _find_or_create_account(lead: Lead, owner, user) -> Account:
    domain = lead.website or dedupe.email_domain(lead.email)
    account = None
    if domain:
        account = Account.objects.filter(domain=domain).order_by("id").first()
    if account is None and lead.company_name:
        # "ACME, Inc." finds the account "Acme" (the name without legal form and punctuation).
        key = f"c:{company_key(lead.company_name)}"[:100]
        account = (
            Account.objects.filter(
                Q(name__iexact=lead.company_name) | Q(match_keys__contains=[key])
            )
            .order_by("id")
            .first()
        )
    if account is None:
        # One that only resembles an account there is made, and flagged for review with it.
        account = account_create(
            user=user if user.is_authenticated else None,
            summary=f"Created from lead {lead}",
            on_duplicate="allow",
            name=lead.company_name or lead.full_name,
            domain=domain,
            industry=lead.industry,
            country=lead.country,
            owner=owner,
        )
    return account


def _find_or_create_contact(lead: Lead, account: Account, owner, user) -> tuple[Contact, list]:
    """The contact with the lead's email, else a new one; with the fields set on it (unsaved)."""
    contact = None
    if lead.email:
        contact = Contact.objects.filter(email=lead.email).order_by("id").first()
    if contact is None:
        contact = contact_create(
            user=user if user.is_authenticated else None,
            summary=None,  # the conversion writes the contact's first entries
            on_duplicate="allow",  # found by email above; the lead's review chose this
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone=lead.phone,
            title=lead.title,
            account=account,
            owner=owner,
        )
    changed = []
    if contact.account_id is None:
        contact.account = account
        changed.append("account")
    return contact, changed


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    user,
    create_opportunity: bool = False,
    opportunity_name: str = "",
    opportunity_amount: Decimal | None = None,
) -> Conversion:
    """Turn a lead into an account (found by domain, then name, or made) and a contact (found by
    email, or made), move its timeline, tasks and consent there, and tell later stages.

    Idempotent: converting a converted lead returns what it became and creates nothing.
    """
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        return Conversion(lead=lead, account=lead.converted_account, contact=lead.converted_contact)
    if lead.status == LeadStatus.DISQUALIFIED:
        raise ValidationError("A disqualified lead cannot be converted; reopen it first.")
    owner = lead.owner or (user if user.is_authenticated else None)
    account = _find_or_create_account(lead, owner, user)
    contact, changed = _find_or_create_contact(lead, account, owner, user)
    conversion = Conversion(lead=lead, account=account, contact=contact)
    lead_conversion_complete(
        lead=lead,
        account=account,
        contact=contact,
        user=user,
        contact_changed=changed,
        contact_note=lambda moved: (
            f"Converted from lead ({moved.old_status}); {moved.activities} timeline entries moved",
            "",
        ),
        lead_summary=lambda moved: "Lead converted",
        create_opportunity=create_opportunity,
        opportunity_name=opportunity_name or f"{account.name} – new business",
        opportunity_amount=opportunity_amount,
        created=conversion.created,
    )
    return conversion


def _content_type(model):
    return ContentType.objects.get_for_model(model)


def _notify_owner(
    *, lead: Lead, owner_id: int, reason: str, actor=None, key_suffix: str = ""
) -> None:
    """Tell the lead's new owner, under the bell and by email."""
    activity = (
        Activity.objects.for_object(lead).order_by("-id").values_list("pk", flat=True).first()
    )
    notify(
        recipient=owner_id,
        kind="assigned",
        verb=f"Lead {reason}: {lead}",
        dedupe_key=f"lead-owner:{lead.pk}:{activity or 0}{key_suffix}",
        target=lead,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    owner = User.objects.filter(pk=owner_id).only("email", "first_name", "username").first()
    if owner is None or not owner.email:
        return
    email_queue(
        to_email=owner.email,
        subject=f"Lead {reason}: {lead}",
        body_text=(
            f"Hello {owner.first_name or owner.username},\n\nThe lead {lead} was {reason}.\n"
            f"Open it: {lead.get_absolute_url()}\n"
        ),
        related=lead,
        idempotency_key=f"lead-owner:{lead.pk}:{owner_id}:{activity or 0}{key_suffix}",
    )


def _check_may_reassign(user, owner) -> None:
    if not may_manage(user):
        raise PermissionDenied("Only managers and admins reassign leads.")
    if not assignable_users(user).filter(pk=owner.pk).exists():
        raise ValidationError("You cannot give leads to that user.")


@transaction.atomic
def lead_reassign(*, lead: Lead, owner, user) -> Lead:
    """A manager gives a lead to another rep, who is told by email."""
    _check_may_reassign(user, owner)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.owner_id == owner.pk:
        return lead
    previous = lead.owner
    lead.owner = owner
    lead.save(update_fields=["owner", "updated_at", *quality_fields_set(lead)])
    activity_log(
        subject=lead,
        kind=ActivityKind.SYSTEM,
        summary=f"Reassigned from {previous or 'nobody'} to {owner}",
        actor=user,
    )
    _notify_owner(lead=lead, owner_id=owner.pk, reason="reassigned to you", actor=user)
    return lead


@recorded_as(Source.BULK_EDIT)
@transaction.atomic
def leads_bulk_reassign(*, leads, owner, user) -> int:
    """Reassign many leads (already scoped by the caller's visibility); one email to the new
    owner listing them. Returns how many changed hands."""
    _check_may_reassign(user, owner)
    ids = list(leads.exclude(owner=owner).select_for_update().values_list("pk", flat=True)[:5000])
    if not ids:
        return 0
    Lead.objects.filter(pk__in=ids).update(owner=owner, updated_at=timezone.now())
    moved = list(Lead.objects.filter(pk__in=ids).order_by("pk"))
    quality_rescore(moved)  # the owner is part of the score
    ct = _content_type(Lead)
    entries = Activity.objects.bulk_create(
        Activity(
            kind=ActivityKind.SYSTEM,
            summary=f"Reassigned to {owner} (bulk)",
            occurred_at=timezone.now(),
            actor=user,
            subject_owner=owner,
            content_type=ct,
            object_id=lead.pk,
        )
        for lead in moved
    )
    notifications_insert(
        [
            notification_row(
                recipient=owner,
                kind="assigned",
                verb=f"Lead reassigned to you: {lead}",
                dedupe_key=f"lead-owner:{lead.pk}:{entry.pk}",
                target=lead,
                actor=user,
            )
            for lead, entry in zip(moved, entries, strict=True)
            if owner.pk != user.pk
        ]
    )
    if owner.email:
        listing = "\n".join(f"- {lead} {lead.get_absolute_url()}" for lead in moved[:50])
        more = f"\n… and {len(moved) - 50} more" if len(moved) > 50 else ""
        email_queue(
            to_email=owner.email,
            subject=f"{len(moved)} leads were reassigned to you",
            body_text=f"{user} gave you these leads:\n{listing}{more}\n",
            idempotency_key=f"lead-bulk-owner:{owner.pk}:{ids[0]}:{ids[-1]}:{len(ids)}:"
            f"{timezone.now().timestamp():.0f}",
        )
    return len(ids)


@recorded_as(Source.BULK_EDIT)
def leads_bulk_set_status(*, leads, status: str, user, reason: str = "") -> tuple[int, int]:
    """Change status of many leads, each through ``lead_set_status``; (changed, refused)."""
    changed = refused = 0
    for lead in leads[:500]:
        try:
            before = lead.status
            after = lead_set_status(lead=lead, status=status, user=user, reason=reason).status
            changed += before != after
        except ValidationError:
            refused += 1
    return changed, refused


@recorded_as(Source.BULK_EDIT)
@transaction.atomic
def leads_bulk_delete(*, leads, user) -> int:
    """Move up to 5,000 of ``leads`` (rows the user may change) to the trash, one entry each."""
    ids = list(leads.values_list("pk", flat=True)[:5000])
    return len(trash_delete_many(model=Lead, pks=ids, user=user, check=False))
