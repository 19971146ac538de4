"""Onboarding of won customers: a plan of dated tasks from a template, a welcome email, and the
account becoming a customer when the last task is done."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.choices import LifecycleStage, Role
from crm.db import lock_rows
from crm.models import Task, Team, User
from crm.services.outbox import email_queue
from crm.services.timeline import system_event, task_complete, task_create
from sales.choices import OnboardingRole, OnboardingStatus
from sales.models import OnboardingPlan, OnboardingTemplate, Opportunity

logger = logging.getLogger(__name__)

SUPPORT_TEAM = "Support"


def onboarding_template_for(opportunity: Opportunity) -> OnboardingTemplate | None:
    """A template for one of the deal's products, else for its pipeline, else the default."""
    active = OnboardingTemplate.objects.filter(is_active=True).order_by("id")
    product_ids = opportunity.line_items.values("product_id")
    return (
        active.filter(product_id__in=product_ids).first()
        or active.filter(pipeline_id=opportunity.pipeline_id).first()
        or active.filter(is_default=True).first()
    )


def _support_agents() -> list[User]:
    """Active support agents of the support team, in a stable order."""
    name = getattr(settings, "SALES_ONBOARDING_SUPPORT_TEAM", SUPPORT_TEAM)
    team = Team.objects.filter(name=name).first()
    if team is None:
        return []
    return list(team.members.filter(is_active=True, groups__name=Role.SUPPORT_AGENT).order_by("id"))


def _assignee(role: str, *, opportunity: Opportunity, agents: list[User], turn: int):
    owner = opportunity.owner
    if role == OnboardingRole.SALES:
        return opportunity.account.owner or owner
    if role == OnboardingRole.SUPPORT and agents:
        # Spread plans over the team: each plan goes to the next agent in turn.
        return agents[turn % len(agents)]
    return owner or opportunity.account.owner


@transaction.atomic
def onboarding_plan_create(*, opportunity: Opportunity) -> OnboardingPlan | None:
    """The won deal's plan, once: a second call (a retried task) returns the plan it made.

    Returns None when the deal is not won."""
    opportunity = (
        Opportunity.objects.select_related("account", "owner", "primary_contact", "account__owner")
        .filter(pk=opportunity.pk)
        .first()
    )
    if opportunity is None or not opportunity.is_won:
        return None
    existing = OnboardingPlan.objects.filter(opportunity=opportunity).first()
    if existing is not None:
        return existing
    template = onboarding_template_for(opportunity)
    items = list(template.items.order_by("order", "id")) if template else []
    try:
        with transaction.atomic():
            plan = OnboardingPlan.objects.create(
                account=opportunity.account,
                opportunity=opportunity,
                template=template,
                owner=opportunity.owner or opportunity.account.owner,
                items_total=0,
            )
    except IntegrityError:
        return OnboardingPlan.objects.get(opportunity=opportunity)
    start = timezone.now()
    agents = _support_agents()
    made = 0
    for item in items:
        assignee = _assignee(item.role, opportunity=opportunity, agents=agents, turn=plan.pk)
        if assignee is None:
            logger.warning("Onboarding plan %s: nobody to do %r", plan.pk, item.title)
            continue
        task_create(
            title=item.title,
            due_at=start + timedelta(days=item.due_offset_days),
            assignee=assignee,
            created_by=None,
            subject=plan,
            notes=f"Onboarding of {opportunity.account.name} ({item.get_role_display()}).",
        )
        made += 1
    plan.items_total = made
    plan.save(update_fields=["items_total"])
    system_event(
        subject=opportunity.account,
        summary=f"Onboarding started: {made} item(s)"
        + (f" from “{template.name}”" if template else ""),
    )
    system_event(subject=plan, summary=f"Plan created with {made} item(s)")
    _queue_welcome(plan, opportunity)
    if made == 0:
        onboarding_plan_finish_if_done(plan=plan)
    return plan


def _queue_welcome(plan: OnboardingPlan, opportunity: Opportunity) -> None:
    contact = opportunity.primary_contact
    if contact is None or not contact.email:
        system_event(subject=plan, summary="No welcome email: the deal has no contact with email")
        return
    if not contact.email_consent:
        system_event(
            subject=plan,
            summary=f"No welcome email: {contact.full_name} has not agreed to service email",
        )
        return
    owner = opportunity.owner
    sender = (owner.get_full_name() or owner.username) if owner else "Your account team"
    email_queue(
        to_email=contact.email,
        subject=f"Welcome aboard, {opportunity.account.name}",
        body_text=(
            f"Hello {contact.first_name or contact.full_name},\n\n"
            f"thank you for choosing us. Over the coming weeks we will get "
            f"{opportunity.account.name} set up: a kick-off call, your accounts and a training "
            f"session for your team. We will be in touch to book each step.\n\n"
            f"Best regards,\n{sender}\n"
        ),
        related=contact,
        idempotency_key=f"onboarding-welcome:{plan.pk}",
    )
    system_event(subject=plan, summary=f"Welcome email queued to {contact.email}")


def _open_tasks(plan: OnboardingPlan):
    return Task.objects.for_object(plan).open()


@transaction.atomic
def onboarding_plan_finish_if_done(*, plan: OnboardingPlan, user=None) -> bool:
    """Finish an active plan whose tasks are all done: the account becomes a customer, and both
    timelines say so. Returns whether it finished now (False when still open or already done)."""
    lock_rows(OnboardingPlan, plan.pk)
    plan = OnboardingPlan.objects.select_related("account").get(pk=plan.pk)
    if plan.status != OnboardingStatus.ACTIVE or _open_tasks(plan).exists():
        return False
    plan.status = OnboardingStatus.DONE
    plan.completed_at = timezone.now()
    plan.save(update_fields=["status", "completed_at"])
    account = plan.account
    if account.lifecycle_stage != LifecycleStage.CUSTOMER:
        account.lifecycle_stage = LifecycleStage.CUSTOMER
        account.save(update_fields=["lifecycle_stage", "updated_at"])
    system_event(subject=account, summary="Onboarding finished: now an active customer")
    system_event(subject=plan, summary="Onboarding finished")
    return True


@transaction.atomic
def onboarding_item_complete(*, plan: OnboardingPlan, task: Task, user) -> bool:
    """Tick off one item of a plan; returns whether that finished the plan."""
    if task.content_type_id is None or task.object_id != plan.pk:
        raise ValueError("The task is not an item of this plan.")
    task_complete(task=task, user=user)
    return onboarding_plan_finish_if_done(plan=plan, user=user)


def onboarding_plans_reconcile(*, limit: int = 500) -> int:
    """Catch up on what happened elsewhere: plans whose tasks were all ticked off on the task
    list, and won deals whose onboarding was never started (a lost enqueue). Returns how many
    plans it finished or created."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Exists, OuterRef

    from sales.choices import StageKind

    ct = ContentType.objects.get_for_model(OnboardingPlan)
    open_task = Task.objects.filter(content_type=ct, object_id=OuterRef("pk"), done_at__isnull=True)
    done = 0
    finished = (
        OnboardingPlan.objects.filter(status=OnboardingStatus.ACTIVE)
        .exclude(Exists(open_task))
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(finished):
        done += onboarding_plan_finish_if_done(plan=OnboardingPlan(pk=pk))
    recent = timezone.now() - timedelta(days=7)
    missing = (
        Opportunity.objects.filter(status=StageKind.WON, closed_at__gte=recent)
        .filter(onboarding_plan__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(missing):
        done += onboarding_plan_create(opportunity=Opportunity(pk=pk)) is not None
    return done
