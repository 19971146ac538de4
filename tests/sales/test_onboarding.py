from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import LifecycleStage
from crm.models import Activity, OutboundEmail, Task
from sales import services
from sales.choices import OnboardingRole, OnboardingStatus
from sales.models import OnboardingPlan, OnboardingTemplate
from tests.factories.crm import UserFactory
from tests.factories.sales import OnboardingTemplateFactory, OnboardingTemplateItemFactory

pytestmark = pytest.mark.django_db


def test_winning_starts_onboarding_once_with_tasks_for_the_right_people(
    deal, rep, agent, support_team, django_capture_on_commit_callbacks
):
    # Given the account is owned by someone other than the deal's owner
    account_owner = UserFactory(username="am")
    deal.account.owner = account_owner
    deal.account.save()
    # When the deal is won twice (a double click), with the enqueue running after commit
    with django_capture_on_commit_callbacks(execute=True):
        services.opportunity_close_won(opportunity=deal, user=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.opportunity_close_won(opportunity=deal, user=rep)
    services.onboarding_plan_create(opportunity=deal)  # a retried task
    # Then there is one plan with the default template's dated tasks
    plan = OnboardingPlan.objects.get()
    assert plan.opportunity == deal and plan.account == deal.account
    template = OnboardingTemplate.objects.get(is_default=True)
    tasks = list(Task.objects.for_object(plan).order_by("due_at", "id"))
    assert len(tasks) == template.items.count() == plan.items_total
    by_title = {t.title: t for t in tasks}
    for item in template.items.all():
        task = by_title[item.title]
        expected = {OnboardingRole.SALES: account_owner, OnboardingRole.SUPPORT: agent}
        assert task.assignee == expected.get(item.role, rep)
        assert task.due_at.date() == (timezone.now() + timedelta(days=item.due_offset_days)).date()
    # And one welcome email to the primary contact
    email = OutboundEmail.objects.get()
    assert email.to_email == "jana@acme.example"
    assert email.idempotency_key == f"onboarding-welcome:{plan.pk}"


def test_no_welcome_email_without_consent(deal, rep, win):
    deal.primary_contact.email_consent = False
    deal.primary_contact.save()
    win(deal, rep)
    plan = services.onboarding_plan_create(opportunity=deal)
    assert not OutboundEmail.objects.exists()
    assert Activity.objects.for_object(plan).filter(summary__contains="No welcome").exists()


def test_product_template_wins_over_pipeline_and_default(deal, rep, product, win):
    template = OnboardingTemplateFactory(product=product)
    OnboardingTemplateItemFactory(template=template, title="Install the licence")
    OnboardingTemplateFactory(pipeline=deal.pipeline)
    services.line_item_add(opportunity=deal, user=rep, product=product)
    win(deal, rep)
    plan = OnboardingPlan.objects.get()
    assert plan.template == template
    assert [t.title for t in Task.objects.for_object(plan)] == ["Install the licence"]


def test_an_open_deal_gets_no_plan(deal):
    assert services.onboarding_plan_create(opportunity=deal) is None
    assert not OnboardingPlan.objects.exists()


def test_finishing_the_last_item_makes_the_account_a_customer(deal, rep, win):
    win(deal, rep)
    plan = OnboardingPlan.objects.get()
    tasks = list(Task.objects.for_object(plan))
    for task in tasks[:-1]:
        assert services.onboarding_item_complete(plan=plan, task=task, user=rep) is False
    assert services.onboarding_item_complete(plan=plan, task=tasks[-1], user=rep) is True
    plan.refresh_from_db()
    deal.account.refresh_from_db()
    assert plan.status == OnboardingStatus.DONE and plan.completed_at
    assert deal.account.lifecycle_stage == LifecycleStage.CUSTOMER
    assert Activity.objects.for_object(deal.account).filter(summary__contains="customer").exists()


def test_reconcile_finishes_plans_ticked_off_elsewhere_and_starts_missing_ones(deal, rep, win):
    win(deal, rep)
    plan = OnboardingPlan.objects.get()
    Task.objects.for_object(plan).update(done_at=timezone.now())
    assert services.onboarding_plans_reconcile() == 1
    plan.refresh_from_db()
    assert plan.status == OnboardingStatus.DONE
    assert services.onboarding_plans_reconcile() == 0
    # A won deal whose enqueue was lost gets its plan
    plan.delete()
    assert services.onboarding_plans_reconcile() == 1
    assert OnboardingPlan.objects.filter(opportunity=deal).exists()
