"""Rule-based lead scoring: admin-set rules give points, summed to a 0–100 score and a grade.

Field rules look at what the lead is; behaviour rules at what the lead did, and fade linearly to
nothing over the rule's ``decay_days`` of silence (days since the lead was last in touch).
"""

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Activity
from leads.choices import Grade, LeadSource, ScoringCriterion
from leads.models import Lead, ScoringRule

GRADE_FLOORS = ((75, Grade.A), (50, Grade.B), (25, Grade.C))
BATCH_SIZE = 2000


def grade_for(score: int) -> str:
    for floor, grade in GRADE_FLOORS:
        if score >= floor:
            return grade
    return Grade.D


def _rule_matches(rule: ScoringRule, lead: Lead, meeting_at) -> tuple[bool, datetime | None]:
    """Whether the rule applies, and for behaviour rules when the behaviour happened."""
    value = (rule.value or "").strip()
    match rule.criterion:
        case ScoringCriterion.TITLE_CONTAINS:
            return bool(value) and value.lower() in (lead.title or "").lower(), None
        case ScoringCriterion.INDUSTRY_IS:
            return bool(value) and lead.industry == value, None
        case ScoringCriterion.EMPLOYEES_OVER:
            try:
                return lead.employees is not None and lead.employees > int(value or 0), None
            except ValueError:
                return False, None
        case ScoringCriterion.BUDGET_CONFIRMED:
            return bool(lead.budget_confirmed), None
        case ScoringCriterion.EMAIL_REPLIED:
            return lead.replied_at is not None, lead.replied_at
        case ScoringCriterion.MEETING_HELD:
            return meeting_at is not None, meeting_at
        case ScoringCriterion.WEB_FORM_USED:
            return lead.source == LeadSource.WEB_FORM, lead.created_at
    return False, None


def score_compute(*, lead: Lead, rules, meeting_at=None, now=None) -> tuple[int, str, list[dict]]:
    """(score, grade, breakdown) for ``lead`` under ``rules``; reads nothing from the database."""
    now = now or timezone.now()
    touches = [t for t in (lead.last_activity_at, lead.replied_at, meeting_at) if t]
    last_touch = max(touches) if touches else (lead.created_at or now)
    silent_days = max((now - last_touch).total_seconds() / 86400, 0)
    breakdown = []
    total = 0
    for rule in rules:
        matched, _when = _rule_matches(rule, lead, meeting_at)
        if not matched:
            continue
        points = rule.points
        note = ""
        if _when is not None and rule.decay_days:
            factor = max(0.0, 1 - silent_days / rule.decay_days)
            points = round(rule.points * factor)
            if factor < 1:
                note = f"faded after {int(silent_days)} days of silence"
        if points == 0 and rule.points != 0 and not note:
            continue
        total += points
        breakdown.append({"rule": rule.name, "points": points, "note": note})
    score = max(0, min(100, total))
    return score, grade_for(score), breakdown


def active_rules() -> list[ScoringRule]:
    return list(ScoringRule.objects.active().order_by("criterion", "name", "id"))


def _meeting_subquery():
    return Subquery(
        Activity.objects.filter(
            content_type=ContentType.objects.get_for_model(Lead),
            object_id=OuterRef("pk"),
            kind=ActivityKind.MEETING,
        )
        .order_by()
        .values("object_id")
        .annotate(last=Max("occurred_at"))
        .values("last")[:1]
    )


def lead_score_refresh(*, lead: Lead, rules=None) -> Lead:
    """Recompute and store one lead's score (called whenever a lead changes)."""
    rules = active_rules() if rules is None else rules
    meeting_at = (
        Activity.objects.for_object(lead)
        .filter(kind=ActivityKind.MEETING)
        .aggregate(last=Max("occurred_at"))["last"]
    )
    score, grade, breakdown = score_compute(lead=lead, rules=rules, meeting_at=meeting_at)
    if (score, grade, breakdown) != (lead.score, lead.grade, lead.score_breakdown):
        lead.score, lead.grade, lead.score_breakdown = score, grade, breakdown
        if lead.pk:
            Lead.objects.filter(pk=lead.pk).update(
                score=score, grade=grade, score_breakdown=breakdown
            )
    return lead


def leads_rescore(*, batch_size: int = BATCH_SIZE) -> int:
    """Nightly: rescore every open lead in batches (behaviour points fade with time). Returns how
    many scores changed. Re-running changes nothing more."""
    rules = active_rules()
    now = timezone.now()
    changed = 0
    last_id = 0
    while True:
        batch = list(
            Lead.objects.open()
            .filter(pk__gt=last_id)
            .annotate(meeting_at=_meeting_subquery())
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return changed
        last_id = batch[-1].pk
        dirty = []
        for lead in batch:
            score, grade, breakdown = score_compute(
                lead=lead, rules=rules, meeting_at=lead.meeting_at, now=now
            )
            if (score, grade, breakdown) != (lead.score, lead.grade, lead.score_breakdown):
                lead.score, lead.grade, lead.score_breakdown = score, grade, breakdown
                dirty.append(lead)
        if dirty:
            with transaction.atomic():
                Lead.objects.bulk_update(dirty, ["score", "grade", "score_breakdown"])
            changed += len(dirty)
