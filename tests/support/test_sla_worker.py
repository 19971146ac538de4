"""The SLA watch on a real Celery worker: a breached ticket is escalated exactly once however
often beat's task runs. Uses the worker kit of tests/worker.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Activity, OutboundEmail
from support.choices import Priority
from support.models import Ticket
from support.services import tickets as svc
from support.tasks import sla_watch
from tests.factories.crm import ContactFactory
from tests.worker import (
    publishing_to,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
TASK_NAME = "support.tasks.sla_watch"


def test_a_real_worker_escalates_a_breach_once(tmp_path, policies, queue, support_manager):
    ticket = svc.ticket_create(subject="Down", contact=ContactFactory(), priority=Priority.LOW)
    past = timezone.now() - timedelta(minutes=5)
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due_at=past, first_response_warn_at=past
    )

    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    env = worker_env(var_dir=var_dir)
    with publishing_to(**worker_broker(var_dir)), worker_started(env, log_path) as worker:
        for _ in range(3):
            sla_watch.delay()
        wait_until(
            lambda: succeeded_runs(log_path, TASK_NAME) >= 3,
            what="3 runs",
            log_path=log_path,
            worker=worker,
        )

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
