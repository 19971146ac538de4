"""Reading leads for pages and widgets, always scoped by visibility."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q
from django.utils import timezone

from crm.choices import OutboxStatus
from crm.models import Task
from leads.choices import LeadStatus
from leads.models import Enrollment, Lead, Sequence, SequenceEmail


def lead_list(*, user):
    return Lead.objects.visible_to(user).select_related("owner", "campaign")


def lead_enrollments(*, lead: Lead):
    return Enrollment.objects.filter(lead=lead).select_related("sequence").order_by("-id")[:20]


def sequences_for(*, user):
    return Sequence.objects.visible_to(user).filter(is_active=True).order_by("name")


def overdue_lead_tasks(*, user, limit: int = 10) -> list[Task]:
    """Overdue open tasks about leads, assigned to the user."""
    return list(
        Task.objects.filter(
            assignee=user,
            done_at__isnull=True,
            due_at__lt=timezone.now(),
            content_type=ContentType.objects.get_for_model(Lead),
        )
        .select_related("assignee")
        .prefetch_related("subject")
        .order_by("due_at", "id")[:limit]
    )


def step_variant_results(step_ids) -> dict[int, list[dict]]:
    """Per A/B email step, per variant: emails sent, delivered, opened, clicked, replied and
    converted (the lead), with rates per delivered email, in one GROUP BY. The dicts have the
    shape ``email_campaign_selectors.ab_significance`` and ``best_variant_id`` read."""
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
    from leads.email_campaign_selectors import ab_significance

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
