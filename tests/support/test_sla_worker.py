"""The SLA watch on a real Celery worker: a breached ticket is escalated exactly once however
often beat's task runs. Reuses the worker wiring of tests/crm/test_celery_worker.py."""

import os
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from crm.models import Activity, OutboundEmail
from support.choices import Priority
from support.models import Ticket
from support.services import tickets as svc
from support.tasks import sla_watch
from tests.crm.test_celery_worker import _database_url, _publishing_to, _wait_for
from tests.factories.crm import ContactFactory
from tests.worker import WORKER_COMMAND, filesystem_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
TASK_NAME = "support.tasks.sla_watch"


def _runs(log_path) -> int:
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{TASK_NAME}[" in line and "succeeded" in line
    )


def test_a_real_worker_escalates_a_breach_once(tmp_path, policies, queue, support_manager):
    ticket = svc.ticket_create(subject="Down", contact=ContactFactory(), priority=Priority.LOW)
    past = timezone.now() - timedelta(minutes=5)
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due_at=past, first_response_warn_at=past
    )

    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "EMAIL_URL": "consolemail://",
        "REDIS_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
    }
    transport = filesystem_broker(var_dir)
    command = WORKER_COMMAND
    with _publishing_to(broker_url="filesystem://", transport_options=transport):
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            for _ in range(3):
                sla_watch.delay()
            _wait_for(lambda: _runs(log_path) >= 3, worker=worker, log_path=log_path, what="3 runs")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    ticket.refresh_from_db()
    assert ticket.priority == Priority.NORMAL  # raised one step, not three
    assert ticket.first_response_breached and ticket.first_response_escalated_at
    escalations = Activity.objects.for_object(ticket).filter(summary__startswith="SLA breached")
    assert escalations.count() == 1
    assert (
        OutboundEmail.objects.filter(
            idempotency_key=f"sla-escalate:first_response:{ticket.pk}:{support_manager.pk}"
        ).count()
        == 1
    )
