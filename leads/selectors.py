"""Reading leads for pages and widgets, always scoped by visibility."""

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.models import Task
from leads.models import Enrollment, Lead, Sequence


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
