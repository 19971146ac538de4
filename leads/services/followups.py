"""Follow-ups: a working lead left without activity for a few days gets a task for its owner."""

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Activity
from crm.services.timeline import task_create
from leads.choices import LeadStatus
from leads.models import Lead

BATCH_SIZE = 500


def follow_up_days() -> int:
    return int(getattr(settings, "LEAD_FOLLOW_UP_DAYS", 5))


def _last_touch():
    """The lead's latest activity by a person (system events do not count), else creation."""
    latest = (
        Activity.objects.filter(
            content_type=ContentType.objects.get_for_model(Lead), object_id=OuterRef("pk")
        )
        .exclude(kind=ActivityKind.SYSTEM)
        .order_by()
        .values("object_id")
        .annotate(last=Max("occurred_at"))
        .values("last")[:1]
    )
    return Coalesce(Subquery(latest), "last_activity_at", "created_at")


def followups_create(*, now=None) -> int:
    """Give each silent working lead one follow-up task (one per silence: a lead gets another
    only after someone acted on it and it went quiet again). Returns tasks created."""
    now = now or timezone.now()
    days = follow_up_days()
    cutoff = now - timedelta(days=days)
    silent = (
        Lead.objects.filter(status=LeadStatus.WORKING, owner__isnull=False)
        .annotate(last_touch=_last_touch())
        .filter(last_touch__lt=cutoff)
        .filter(Q(follow_up_at__isnull=True) | Q(follow_up_at__lt=F("last_touch")))
        .select_related("owner")
        .order_by("pk")
    )
    created = 0
    last_pk = 0
    while True:
        batch = list(silent.filter(pk__gt=last_pk)[:BATCH_SIZE])
        if not batch:
            return created
        last_pk = batch[-1].pk
        for lead in batch:
            with transaction.atomic():
                # Claim: only the run that moves follow_up_at from what it read makes the task.
                claimed = (
                    Lead.objects.filter(pk=lead.pk, follow_up_at=lead.follow_up_at).update(
                        follow_up_at=now
                    )
                    if lead.follow_up_at
                    else Lead.objects.filter(pk=lead.pk, follow_up_at__isnull=True).update(
                        follow_up_at=now
                    )
                )
                if not claimed:
                    continue
                task_create(
                    title=f"Follow up: no activity for {days} days",
                    notes=f"{lead} has been quiet since {lead.last_touch:%Y-%m-%d}.",
                    due_at=now + timedelta(days=1),
                    assignee=lead.owner,
                    subject=lead,
                )
                created += 1
