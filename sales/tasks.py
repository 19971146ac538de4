"""Celery tasks of the sales stage: thin, by id, idempotent."""

from celery import shared_task

from sales.models import Opportunity
from sales.services import onboarding


@shared_task(name="sales.tasks.onboarding_start", soft_time_limit=60, time_limit=90)
def onboarding_start(opportunity_id: int) -> None:
    """Create the won deal's onboarding plan; the plan is unique per deal, so a rerun makes
    nothing more."""
    if not Opportunity.objects.filter(pk=opportunity_id).exists():
        return
    onboarding.onboarding_plan_create(opportunity=Opportunity(pk=opportunity_id))


@shared_task(name="sales.tasks.onboarding_reconcile", soft_time_limit=240, time_limit=300)
def onboarding_reconcile() -> int:
    return onboarding.onboarding_plans_reconcile()
