"""A real Celery worker opens a renewal deal exactly once, however often the task runs.

Follows tests/crm/test_celery_worker.py: the worker shares the test database and gets a broker of
its own (a fresh filesystem folder, or ``TEST_REDIS_URL``)."""

import datetime as dt
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.utils import timezone

from retention.models import Renewal
from retention.tasks import renewal_open, renewals_open
from tests.crm.test_celery_worker import _database_url, _publishing_to, _wait_for
from tests.factories.crm import AccountFactory
from tests.factories.retention import SubscriptionFactory
from tests.worker import filesystem_broker

# serialized_rollback: the second test still finds the roles and pipelines that data migrations
# made, which the first transactional test's flush removed.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _succeeded(log_path, name: str) -> int:
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{name}[" in line and "succeeded" in line
    )


def _broker(var_dir):
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if redis_url:
        return redis_url, {
            "broker_url": redis_url,
            "transport_options": {"visibility_timeout": 3600},
        }
    return "", {"broker_url": "filesystem://", "transport_options": filesystem_broker(var_dir)}


@contextmanager
def _worker(tmp_path):
    """A worker process on a broker of its own; yields (process, log path)."""
    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    redis_url, broker = _broker(var_dir)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "REDIS_URL": redis_url,
        "EMAIL_URL": "consolemail://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "crm",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        "celery",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "info",
    ]
    with _publishing_to(
        broker_url=broker["broker_url"], transport_options=broker["transport_options"]
    ):
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            yield worker, log_path
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_a_real_worker_opens_each_renewal_exactly_once(tmp_path, rep):
    from sales.models import Opportunity

    # Given two subscriptions renewing within the lead time and one beyond it
    account = AccountFactory(owner=rep)
    due = [
        SubscriptionFactory(
            account=account,
            owner=rep,
            renewal_date=timezone.localdate() + dt.timedelta(days=d),
        )
        for d in (20, 75)
    ]
    SubscriptionFactory(
        account=account, owner=rep, renewal_date=timezone.localdate() + dt.timedelta(days=200)
    )
    with _worker(tmp_path) as (worker, log_path):
        # When the daily task is enqueued three times and the per-subscription task twice
        for _ in range(3):
            renewals_open.delay()
        renewal_open.delay(due[0].pk)
        renewal_open.delay(due[0].pk)
        _wait_for(
            lambda: (
                _succeeded(log_path, "retention.tasks.renewals_open") >= 3
                and _succeeded(log_path, "retention.tasks.renewal_open") >= 2
            ),
            worker=worker,
            log_path=log_path,
            what="five task runs",
        )

    # Then each due subscription has exactly one renewal and one renewal deal
    assert sorted(Renewal.objects.values_list("subscription_id", flat=True)) == sorted(
        s.pk for s in due
    )
    deals = Opportunity.objects.filter(pipeline__name="Renewal")
    assert deals.count() == 2, log_path.read_text()[-3000:]
    assert set(deals.values_list("pk", flat=True)) == set(
        Renewal.objects.values_list("opportunity_id", flat=True)
    )


def test_a_real_worker_runs_playbooks_and_survey_runs_exactly_once(tmp_path, rep, manager):
    from crm.models import OutboundEmail, Task
    from retention.models import NpsSurvey, RiskEpisode, UsageDaily
    from retention.services import nps
    from retention.tasks import health_recompute, nps_run_send
    from tests.factories.crm import ContactFactory

    # Given an account whose usage stopped (it turns red) and a contact of a paying account
    account = AccountFactory(owner=rep)
    SubscriptionFactory(account=account, owner=rep)
    UsageDaily.objects.create(
        account=account,
        day=timezone.localdate() - dt.timedelta(days=40),
        kind="login",
        total=10,
        events=10,
    )
    ContactFactory(account=account, owner=rep, email_consent=True)
    run = nps.nps_run_create(name="Worker run")
    with _worker(tmp_path) as (worker, log_path):
        # When the nightly health task and the survey run are each enqueued twice
        health_recompute.delay()
        health_recompute.delay()
        nps_run_send.delay(run.pk)
        nps_run_send.delay(run.pk)
        _wait_for(
            lambda: (
                _succeeded(log_path, "retention.tasks.health_recompute") >= 2
                and _succeeded(log_path, "retention.tasks.risk_playbook") >= 1
                and _succeeded(log_path, "retention.tasks.nps_run_send") >= 2
            ),
            worker=worker,
            log_path=log_path,
            what="the health, playbook and survey runs",
        )
    # Then one risk episode, one playbook (its tasks and one note to the manager), one survey
    episode = RiskEpisode.objects.get(account=account)
    assert episode.playbook_run_at is not None
    assert Task.objects.filter(assignee=rep).count() == 3, log_path.read_text()[-3000:]
    assert OutboundEmail.objects.filter(to_email=manager.email).count() == 1
    assert NpsSurvey.objects.filter(run=run).count() == 1
    assert OutboundEmail.objects.filter(idempotency_key__startswith="retention:nps:").count() == 1
