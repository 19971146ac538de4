"""Onboarding plans' progress, and which of a plan's items a user may tick off."""

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Task
from crm.selectors import record_get, task_list
from sales.models import OnboardingPlan
from sales.selectors.records import onboarding_plan_list


def onboarding_with_progress(plans: models.QuerySet) -> models.QuerySet:
    """``plans`` with their progress: items done and overdue (one subquery each)."""
    ct = ContentType.objects.get_for_model(OnboardingPlan)
    tasks = Task.objects.filter(content_type=ct, object_id=OuterRef("pk")).order_by()

    def counted(qs):
        return Coalesce(
            Subquery(
                qs.values("object_id").annotate(n=Count("id")).values("n")[:1],
                output_field=IntegerField(),
            ),
            0,
        )

    return plans.annotate(
        items_done=counted(tasks.filter(done_at__isnull=False)),
        items_overdue=counted(tasks.filter(done_at__isnull=True, due_at__lt=timezone.now())),
    )


def onboarding_items(*, plan: OnboardingPlan) -> models.QuerySet:
    """A plan's items (the crm Tasks about it), in due order."""
    return Task.objects.for_object(plan).order_by("due_at", "id")


def onboarding_items_completable(
    *, user, plan: OnboardingPlan, plan_changeable: bool
) -> models.QuerySet:
    """The items of ``plan`` that ``user`` may tick off: all of them for whoever may change the
    plan, else those visible to them (a support agent's own items)."""
    items = onboarding_items(plan=plan)
    if plan_changeable:
        return items
    return items.filter(pk__in=task_list(user=user).values("pk"))


def onboarding_item_get(*, user, plan: OnboardingPlan, pk) -> Task:
    """One item of ``plan`` that ``user`` may tick off, else ``Http404``."""
    changeable = onboarding_plan_list(user=user, for_change=True).filter(pk=plan.pk).exists()
    return record_get(
        onboarding_items_completable(user=user, plan=plan, plan_changeable=changeable), pk
    )
