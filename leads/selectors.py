"""Reading leads, marketing campaigns, sequences and imports for pages and widgets, always
scoped by visibility: one ``<entity>_list`` / ``<entity>_get`` pair per entity (see
``crm.selectors``). Email campaigns have theirs in ``leads.campaigns.selectors``."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from crm.choices import OutboxStatus
from crm.selectors import record_get, scoped
from leads.campaigns.selectors import ab_significance
from leads.choices import LeadStatus
from leads.models import (
    Campaign,
    Enrollment,
    ImportJob,
    Lead,
    LeadMerge,
    SegmentEnrolment,
    Sequence,
    SequenceEmail,
)

#: What a lead's own page shows of its relations.
LEAD_PAGE_RELATIONS = (
    "owner",
    "campaign",
    "team",
    "duplicate_of",
    "converted_account",
    "converted_contact",
)


def lead_list(*, user, for_change: bool = False) -> QuerySet:
    return scoped(Lead, user=user, for_change=for_change)


def lead_get(
    *, user, pk, for_change: bool = False, related=("owner", "campaign"), probes=None
) -> Lead:
    """One lead with ``related`` joined (the lead page asks for ``LEAD_PAGE_RELATIONS``; the
    actions that only change it for none). ``probes``: a record page's, read with the record
    (``record_get``)."""
    return record_get(
        lead_list(user=user, for_change=for_change).select_related(*related),
        pk,
        name=("lead_get", for_change, tuple(related)),
        user=user,
        probes=probes,
    )


def campaign_list(*, user, for_change: bool = False) -> QuerySet:
    return scoped(Campaign, user=user, for_change=for_change)


def campaign_get(*, user, pk, for_change: bool = False) -> Campaign:
    return record_get(campaign_list(user=user, for_change=for_change), pk)


def campaign_public_get(*, slug: str, active_only: bool = False) -> Campaign:
    """A campaign for the pages without login (its web form, thanks page), by slug, else 404:
    no user, so no visibility; ``active_only`` for a form that still takes submissions."""
    campaigns = Campaign.objects.filter(is_active=True) if active_only else Campaign.objects
    try:
        return campaigns.get(slug=slug)
    except Campaign.DoesNotExist:
        raise Http404 from None


def sequence_list(*, user, for_change: bool = False) -> QuerySet:
    return scoped(Sequence, user=user, for_change=for_change)


def sequence_get(*, user, pk, for_change: bool = False, active_only: bool = False) -> Sequence:
    """One sequence; with ``active_only`` only an active one (enrolling into it)."""
    sequences = sequence_list(user=user, for_change=for_change)
    return record_get(sequences.filter(is_active=True) if active_only else sequences, pk)


def enrollment_list(*, user) -> QuerySet:
    return scoped(Enrollment, user=user)


def segment_enrolment_list(*, user) -> QuerySet:
    """Segment enrolment jobs the user sees, of sequences the user sees."""
    return scoped(SegmentEnrolment, user=user).filter(sequence__in=sequence_list(user=user))


def segment_enrolment_get(*, user, pk) -> SegmentEnrolment:
    return record_get(
        segment_enrolment_list(user=user).select_related("sequence", "created_by"), pk
    )


def import_job_list(*, user) -> QuerySet:
    return scoped(ImportJob, user=user)


def import_job_get(*, user, pk) -> ImportJob:
    return record_get(import_job_list(user=user), pk)


def lead_enrollments(*, lead: Lead):
    return Enrollment.objects.filter(lead=lead).select_related("sequence").order_by("-id")[:20]


def lead_enrollments_exist() -> Exists:
    """Whether ``lead_enrollments`` finds any for the lead ``OuterRef("pk")``."""
    return Exists(Enrollment.objects.filter(lead=OuterRef("pk")))


def step_variant_results(step_ids) -> dict[int, list[dict]]:
    """Per A/B email step, per variant: emails sent, delivered, opened, clicked, replied and
    converted (the lead), with rates per delivered email, in one GROUP BY. The dicts have the
    shape ``leads.campaigns.selectors.ab_significance`` and ``best_variant_id`` read."""
    rows = (
        SequenceEmail.objects.filter(step_id__in=list(step_ids), variant__isnull=False)
        .order_by()
        .values("step_id", "variant_id", "variant__label")
        .annotate(
            recipients=Count("id"),
            delivered=Count("id", filter=Q(outbound_email__status=OutboxStatus.SENT)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            converted=Count("id", filter=Q(enrollment__lead__status=LeadStatus.CONVERTED)),
        )
    )
    results: dict[int, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["step_id"], r["variant__label"])):
        base = row["delivered"]
        for name in ("opened", "clicked", "replied", "converted"):
            row[f"{name}_rate"] = row[name] / base if base else 0.0
        row["label"] = row.pop("variant__label")
        results.setdefault(row.pop("step_id"), []).append(row)
    return results


def sequence_ab_tests(*, sequence) -> list[dict]:
    """The sequence's email steps with variants: each with its variants' results, the
    significance of the best against the runner-up on clicks, and the winner if picked."""
    steps = list(
        sequence.steps.filter(variants__isnull=False)
        .distinct()
        .select_related("winner_variant")
        .order_by("position")
    )
    results = step_variant_results([s.pk for s in steps])
    return [
        {
            "step": step,
            "results": results.get(step.pk, []),
            "significance": ab_significance(results.get(step.pk, [])),
        }
        for step in steps
    ]


#: Merges a lead's page offers to undo, newest first.
RECENT_MERGES = 5


def lead_merge_get(*, user, pk) -> LeadMerge:
    """A merge whose records the user may both change (only they may see and undo it)."""
    return record_get(
        LeadMerge.objects.changeable_by(user).select_related(
            "kept", "merged", "contact", "merged_by", "undone_by"
        ),
        pk,
    )


def lead_recent_merges(*, user, lead: Lead) -> list[LeadMerge]:
    """The lead's merges (kept or merged) not undone, that the user may undo: one query."""
    return list(
        LeadMerge.objects.changeable_by(user)
        .of_lead(lead)
        .undoable()
        .select_related("kept", "merged", "contact", "merged_by")
        .order_by("-merged_at", "-id")[:RECENT_MERGES]
    )


def lead_recent_merges_exist(*, user) -> Exists:
    """Whether ``lead_recent_merges`` finds any for the lead ``OuterRef("pk")``."""
    return Exists(LeadMerge.objects.changeable_by(user).of_lead(OuterRef("pk")).undoable())


def _contact_undoable_merges(*, user, contact):
    return LeadMerge.objects.changeable_by(user).filter(contact=contact).undoable()


def contact_recent_merges(*, user, contact) -> list[LeadMerge]:
    """Leads merged into the contact, not undone, that the user may undo: one query."""
    return list(
        _contact_undoable_merges(user=user, contact=contact)
        .select_related("merged", "merged_by")
        .order_by("-merged_at", "-id")[:RECENT_MERGES]
    )


def contact_recent_merges_exist() -> Exists:
    """Whether the contact ``OuterRef("pk")`` has leads merged into it and not undone: when it
    has none, ``contact_recent_merges`` finds none for anyone. Whether the user may undo them is
    left to that query, which reads them: with it, this probe cost the contact page's query of
    probes a third of its planning (three more subqueries over the leads and contacts)."""
    return Exists(LeadMerge.objects.filter(contact=OuterRef("pk")).undoable())
