"""Merging duplicate leads, and merging a lead into a contact that already exists.

A merge never loses anything: every activity, task and enrolment of both records ends up on the
one that is kept. The merged lead itself is not deleted; it stays behind as a disqualified
duplicate pointing at the kept lead (``duplicate_of``), so links, reports and the audit trail to it
keep working. Each merge records what it did in a ``LeadMerge``, so that it can be undone
(``leads.services.merge_undo``).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.choices import ActivityKind
from crm.history import Source, recorded_as
from crm.matching import match_fields_set
from crm.models import ConsentChannel, Contact
from crm.quality import quality_fields_set
from crm.services.consents import ConsentProof, consents_record
from crm.services.customers import consent_stamp
from crm.services.timeline import activity_log
from leads.choices import DisqualifyReason, EnrollmentState, EnrollmentStopReason, LeadStatus
from leads.models import Enrollment, Lead
from leads.services import scoring
from leads.services.conversion import CONSENTS, lead_conversion_complete, timeline_move
from leads.services.leads import LEAD_FIELDS, lead_set_status
from leads.services.merge_undo import (
    ENROLLMENT_PROGRESS,
    merge_recording_finish,
    merge_recording_start,
)

#: Lead fields offered side by side on the merge page (consent is merged by its own rule).
MERGE_FIELDS = tuple(f for f in LEAD_FIELDS if f not in ("email_consent", "marketing_consent"))
KEEP, MERGE = "keep", "merge"


def _value(lead: Lead, name: str):
    field = Lead._meta.get_field(name)
    return getattr(lead, field.attname)


def is_empty(value) -> bool:
    return value in (None, "", False)


def is_merged(lead: Lead) -> bool:
    """Already merged into another lead (the disqualified duplicate a merge leaves behind)."""
    return (
        lead.status == LeadStatus.DISQUALIFIED
        and lead.disqualify_reason == DisqualifyReason.DUPLICATE
        and lead.duplicate_of_id is not None
    )


def differing_fields(keep: Lead, merge: Lead) -> list[str]:
    return [name for name in MERGE_FIELDS if _value(keep, name) != _value(merge, name)]


def default_choice(keep: Lead, merge: Lead, name: str) -> str:
    """The kept lead's value unless it is empty and the other's is not."""
    if is_empty(_value(keep, name)) and not is_empty(_value(merge, name)):
        return MERGE
    return KEEP


def _check_choices(field_choices: dict) -> None:
    errors = {}
    for name, choice in field_choices.items():
        if name not in MERGE_FIELDS:
            errors.setdefault("__all__", []).append(f"{name} cannot be chosen in a merge.")
        elif choice not in (KEEP, MERGE):
            errors[name] = ["Choose the value of one of the two leads."]
    if errors:
        raise ValidationError(errors)


def _lock_two(user, keep_pk: int, merge_pk: int) -> tuple[Lead, Lead]:
    """Both leads, locked in id order (two merges of the same pair never deadlock), and only if
    the user may change them: otherwise Lead.DoesNotExist (the views answer 404)."""
    rows = {
        lead.pk: lead
        for lead in Lead.objects.changeable_by(user)
        .select_for_update()
        .filter(pk__in=[keep_pk, merge_pk])
        .order_by("pk")
    }
    if keep_pk not in rows or merge_pk not in rows:
        raise Lead.DoesNotExist("No such lead you may change.")
    return rows[keep_pk], rows[merge_pk]


def _check_mergeable(keep: Lead, merge: Lead) -> None:
    if keep.pk == merge.pk:
        raise ValidationError("A lead cannot be merged with itself.")
    for lead in (merge, keep):
        if is_merged(lead):
            raise ValidationError(
                f"{lead} was already merged into lead #{lead.duplicate_of_id}; "
                "merge with that lead instead."
            )
        if lead.status == LeadStatus.CONVERTED:
            raise ValidationError(
                f"{lead} is already converted; merge it into its contact instead."
            )


def _merge_consent(keep: Lead, merge: Lead) -> list[str]:
    """Consent given on either record holds, dated by the most recent grant; an unsubscribe on
    either record is never lost (the later one counts)."""
    changed = []
    for name in CONSENTS:
        stamps = [
            getattr(lead, f"{name}_at") or timezone.now()
            for lead in (keep, merge)
            if getattr(lead, name)
        ]
        given, at = bool(stamps), max(stamps) if stamps else None
        if (getattr(keep, name), getattr(keep, f"{name}_at")) != (given, at):
            consent_stamp(name, given, at=at, record=keep)
            changed += [name, f"{name}_at"]
    for name in ("unsubscribed_at", "replied_at", "last_activity_at"):
        stamps = [s for s in (getattr(keep, name), getattr(merge, name)) if s is not None]
        if stamps and max(stamps) != getattr(keep, name):
            setattr(keep, name, max(stamps))
            changed.append(name)
    granted = keep.marketing_consent_at
    if (
        keep.marketing_consent
        and keep.unsubscribed_at
        and (not granted or granted <= keep.unsubscribed_at)
    ):
        # An unsubscribe later than the last grant wins.
        consent_stamp("marketing_consent", False, record=keep)
        changed += ["marketing_consent", "marketing_consent_at"]
    return changed


def _progress(enrollment: Enrollment) -> tuple:
    return (enrollment.steps_done, enrollment.next_position, enrollment.state == "completed")


def _merge_enrollments(keep: Lead, merge: Lead) -> int:
    """Move the merged lead's enrolments to the kept lead. Where both are in the same sequence
    (one enrolment per lead and sequence), the kept lead's row takes the more advanced progress
    and the other row is stopped and stays with the merged lead. Returns how many moved."""
    shared = {
        enrollment.sequence_id: enrollment
        for enrollment in Enrollment.objects.select_for_update().filter(
            lead=keep, sequence_id__in=Enrollment.objects.filter(lead=merge).values("sequence_id")
        )
    }
    for theirs in Enrollment.objects.select_for_update().filter(
        lead=merge, sequence_id__in=list(shared)
    ):
        ours = shared[theirs.sequence_id]
        if _progress(theirs) > _progress(ours):
            for name in ENROLLMENT_PROGRESS:
                setattr(ours, name, getattr(theirs, name))
            ours.save(update_fields=list(ENROLLMENT_PROGRESS))
        if theirs.state == EnrollmentState.ACTIVE:
            theirs.state = EnrollmentState.STOPPED
            theirs.stop_reason = EnrollmentStopReason.DISQUALIFIED
            theirs.finished_at = timezone.now()
            theirs.next_step_at = None
            theirs.save(update_fields=["state", "stop_reason", "finished_at", "next_step_at"])
    return (
        Enrollment.objects.filter(lead=merge)
        .exclude(sequence_id__in=list(shared))
        .update(lead=keep)
    )


def _remaining_duplicate(keep: Lead, merge: Lead) -> Lead | Contact | None:
    """Another lead or contact that still looks like the same person as ``keep``."""
    merged_away = Q(status=LeadStatus.DISQUALIFIED, disqualify_reason=DisqualifyReason.DUPLICATE)
    others = Lead.objects.exclude(pk__in=[keep.pk, merge.pk]).exclude(merged_away)
    if keep.duplicate_of_id not in (None, merge.pk):
        lead = others.filter(pk=keep.duplicate_of_id).first()
        if lead is not None:
            return lead
    condition = Q()
    if keep.email:
        condition |= Q(email=keep.email)
    if keep.phone:
        condition |= Q(phone=keep.phone)
    if not condition:
        return None
    lead = others.filter(condition).order_by("created_at", "id").first()
    if lead is not None:
        return lead
    return Contact.objects.filter(condition).order_by("id").first()


@recorded_as(Source.MERGE)
@transaction.atomic
def lead_merge(*, keep: Lead, merge: Lead, user, field_choices: dict | None = None) -> Lead:
    """Merge the lead ``merge`` into ``keep``.

    Fields: each one named in ``field_choices`` (``{"email": "merge", ...}``) takes that lead's
    value; every other empty field of ``keep`` is filled from ``merge``. Activities, tasks and
    enrolments move to ``keep``; consent is merged; ``merge`` becomes a disqualified duplicate of
    ``keep`` (kept, not deleted). Refused (ValidationError) for the same lead, converted leads
    and leads already merged; Lead.DoesNotExist for leads the user may not change.
    """
    field_choices = dict(field_choices or {})
    _check_choices(field_choices)
    if keep.pk == merge.pk:
        raise ValidationError("A lead cannot be merged with itself.")
    keep, merge = _lock_two(user, keep.pk, merge.pk)
    _check_mergeable(keep, merge)

    recording = merge_recording_start(keep, merge)
    changed = []
    for name in MERGE_FIELDS:
        choice = field_choices.get(name) or default_choice(keep, merge, name)
        attname = Lead._meta.get_field(name).attname
        if choice == MERGE and _value(keep, name) != _value(merge, name):
            setattr(keep, attname, _value(merge, name))
            changed.append(name)
    changed += _merge_consent(keep, merge)

    activities, tasks = timeline_move(merge, keep)
    enrollments = _merge_enrollments(keep, merge)
    pointers = list(
        Lead.objects.filter(duplicate_of=merge).exclude(pk=keep.pk).values_list("pk", flat=True)
    )
    Lead.objects.filter(pk__in=pointers).update(duplicate_of=keep)

    remaining = _remaining_duplicate(keep, merge)
    keep.possible_duplicate = remaining is not None
    keep.duplicate_of = remaining if isinstance(remaining, Lead) else None
    keys = match_fields_set(keep)  # the fields it took from the other lead are found by now
    keys += quality_fields_set(keep)
    keep.save(update_fields=[*changed, *keys, "possible_duplicate", "duplicate_of", "updated_at"])
    # The merged lead keeps its own proof; the kept lead's answer changed by the merge says so.
    consents_record(
        record=keep,
        names=[name for name in CONSENTS if name in changed],
        proof=ConsentProof(channel=ConsentChannel.MERGE, name=f"Lead #{merge.pk} merged"),
    )
    activity_log(
        subject=keep,
        kind=ActivityKind.SYSTEM,
        summary=f"Merged {merge.full_name} into this lead",
        body=(
            f"Lead #{merge.pk} merged: {activities} timeline entries, {tasks} tasks and "
            f"{enrollments} enrolments moved"
            + (f"; fields taken from it: {', '.join(changed)}" if changed else "")
            + "."
        ),
        actor=user,
    )

    if merge.status != LeadStatus.DISQUALIFIED:
        lead_set_status(
            lead=merge,
            status=LeadStatus.DISQUALIFIED,
            user=user,
            reason=DisqualifyReason.DUPLICATE,
            note=f"Merged into lead #{keep.pk}",
        )
    else:
        activity_log(
            subject=merge,
            kind=ActivityKind.SYSTEM,
            summary="Disqualified as a duplicate",
            actor=user,
        )
    Lead.objects.filter(pk=merge.pk).update(
        disqualify_reason=DisqualifyReason.DUPLICATE,
        disqualify_note=f"Merged into lead #{keep.pk}",
        duplicate_of=keep,
        possible_duplicate=False,
        updated_at=timezone.now(),
    )
    activity_log(
        subject=merge,
        kind=ActivityKind.SYSTEM,
        summary=f"Merged into {keep.full_name} (lead #{keep.pk})",
        actor=user,
    )
    scoring.lead_score_refresh(lead=keep)
    keep.refresh_from_db()
    merge_recording_finish(recording, target=keep, merge=merge, user=user, pointers=pointers)
    return keep


@recorded_as(Source.MERGE)
@transaction.atomic
def lead_merge_into_contact(*, lead: Lead, contact: Contact, user) -> Lead:
    """The lead is a person we already have as a contact: move the lead's timeline, tasks and
    consent to the contact and mark the lead converted into that contact and its account.

    Conversion is the one status change ``lead_set_status`` leaves to a conversion service; like
    ``lead_convert`` it is allowed from every open status. Refused for converted, disqualified
    (merged or otherwise: reopen first) leads; Lead/Contact.DoesNotExist outside what the user
    may change (lead) or see (contact).
    """
    lead = Lead.objects.changeable_by(user).select_for_update().get(pk=lead.pk)
    contact = Contact.objects.visible_to(user).select_for_update().get(pk=contact.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise ValidationError(f"{lead} is already converted into {lead.converted_contact}.")
    if lead.status == LeadStatus.DISQUALIFIED:
        raise ValidationError("A disqualified lead cannot be converted; reopen it first.")

    recording = merge_recording_start(contact, lead)
    account = contact.account
    lead.possible_duplicate = False
    lead_conversion_complete(
        lead=lead,
        account=account,
        contact=contact,
        user=user,
        contact_note=lambda moved: (
            f"Merged lead {lead.full_name} into this contact",
            f"Lead #{lead.pk} ({moved.old_status}): {moved.activities} timeline entries and "
            f"{moved.tasks} tasks moved" + (", consent copied" if moved.consent else "") + ".",
        ),
        lead_summary=lambda moved: (
            f"Status: {moved.old_status} → Converted (merged into contact {contact})"
        ),
        lead_changed=("possible_duplicate",),
    )
    merge_recording_finish(recording, target=contact, merge=lead, user=user)
    return lead
