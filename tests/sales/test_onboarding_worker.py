"""Winning a deal starts onboarding on a real Celery worker process, exactly once.

Uses the worker harness of tests/crm/test_celery_worker.py: the worker shares the test database
and gets a broker of its own.
"""

import os
import subprocess

import pytest
from django.conf import settings
from django.db import transaction

from crm.models import OutboundEmail, Task
from sales import services
from sales.models import OnboardingPlan, OnboardingTemplate
from sales.tasks import onboarding_start
from tests.crm.test_celery_worker import _database_url, _publishing_to, _wait_for
from tests.worker import WORKER_COMMAND, filesystem_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "sales.tasks.onboarding_start"


def _runs(log_path) -> int:
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{TASK_NAME}[" in line and "succeeded" in line
    )


def test_a_won_deal_gets_one_onboarding_plan_from_a_real_worker(tmp_path, deal, rep):
    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "REDIS_URL": "",
        "EMAIL_URL": "consolemail://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    transport = filesystem_broker(var_dir)
    command = WORKER_COMMAND
    with _publishing_to(broker_url="filesystem://", transport_options=transport):
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            # When the deal is won twice (a double click), each win committing
            for _ in range(2):
                with transaction.atomic():
                    services.opportunity_close_won(opportunity=deal, user=rep)
            # Then the worker makes the plan
            _wait_for(
                lambda: OnboardingPlan.objects.filter(opportunity=deal).exists(),
                worker=worker,
                log_path=log_path,
                what="the onboarding plan",
            )
            # And a retried task twice more makes nothing new
            onboarding_start.delay(deal.pk)
            onboarding_start.delay(deal.pk)
            _wait_for(lambda: _runs(log_path) >= 3, worker=worker, log_path=log_path, what="3 runs")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    plan = OnboardingPlan.objects.get()
    items = OnboardingTemplate.objects.get(is_default=True).items.count()
    assert Task.objects.for_object(plan).count() == items == plan.items_total
    assert (
        OutboundEmail.objects.filter(idempotency_key=f"onboarding-welcome:{plan.pk}").count() == 1
    )
    assert _runs(log_path) == 3
