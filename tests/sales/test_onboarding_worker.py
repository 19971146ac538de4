"""Winning a deal starts onboarding on a real Celery worker process, exactly once.

Uses the worker kit of tests/worker.py: the worker shares the test database and gets a broker of
its own.
"""

import pytest
from django.db import transaction

from crm.models import OutboundEmail, Task
from sales import services
from sales.models import OnboardingPlan, OnboardingTemplate
from sales.tasks import onboarding_start
from tests.worker import (
    publishing_to,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "sales.tasks.onboarding_start"


def test_a_won_deal_gets_one_onboarding_plan_from_a_real_worker(tmp_path, deal, rep):
    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    env = worker_env(var_dir=var_dir)
    with publishing_to(**worker_broker(var_dir)), worker_started(env, log_path) as worker:
        # When the deal is won twice (a double click), each win committing
        for _ in range(2):
            with transaction.atomic():
                services.opportunity_close_won(opportunity=deal, user=rep)
        # Then the worker makes the plan
        wait_until(
            lambda: OnboardingPlan.objects.filter(opportunity=deal).exists(),
            what="the onboarding plan",
            log_path=log_path,
            worker=worker,
        )
        # And a retried task twice more makes nothing new
        onboarding_start.delay(deal.pk)
        onboarding_start.delay(deal.pk)
        wait_until(
            lambda: succeeded_runs(log_path, TASK_NAME) >= 3,
            what="3 runs",
            log_path=log_path,
            worker=worker,
        )

    plan = OnboardingPlan.objects.get()
    items = OnboardingTemplate.objects.get(is_default=True).items.count()
    assert Task.objects.for_object(plan).count() == items == plan.items_total
    assert (
        OutboundEmail.objects.filter(idempotency_key=f"onboarding-welcome:{plan.pk}").count() == 1
    )
    assert succeeded_runs(log_path, TASK_NAME) == 3
