"""A real Celery worker opens a renewal deal exactly once, however often the task runs.

Follows tests/crm/test_celery_worker.py: the worker shares the test database and gets a broker of
its own (a fresh filesystem folder, or ``TEST_REDIS_URL``)."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils import timezone

from retention.models import Renewal
from retention.tasks import renewal_open, renewals_open
from tests.crm.test_celery_worker import _database_url, _publishing_to, _wait_for
from tests.factories.crm import AccountFactory
from tests.factories.retention import SubscriptionFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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
    broker_dir = var_dir / "broker"
    for sub in ("in", "processed"):
        (broker_dir / sub).mkdir(parents=True)
    return "", {
        "broker_url": "filesystem://",
        "transport_options": {
            "data_folder_in": str(broker_dir / "in"),
            "data_folder_out": str(broker_dir / "in"),
            "processed_folder": str(broker_dir / "processed"),
            "store_processed": False,
        },
    }


def test_a_real_worker_opens_each_renewal_exactly_once(tmp_path, rep):
    from sales.models import Opportunity

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
    # Given two subscriptions renewing within the lead time and one beyond it
    account = AccountFactory(owner=rep)
    due = [
        SubscriptionFactory(
            account=account, owner=rep, renewal_date=timezone.localdate() + dt.timedelta(days=d)
        )
        for d in (20, 75)
    ]
    SubscriptionFactory(
        account=account, owner=rep, renewal_date=timezone.localdate() + dt.timedelta(days=200)
    )

    with _publishing_to(
        broker_url=broker["broker_url"], transport_options=broker["transport_options"]
    ):
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
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
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    # Then each due subscription has exactly one renewal and one renewal deal
    assert sorted(Renewal.objects.values_list("subscription_id", flat=True)) == sorted(
        s.pk for s in due
    )
    deals = Opportunity.objects.filter(pipeline__name="Renewal")
    assert deals.count() == 2, log_path.read_text()[-3000:]
    assert set(deals.values_list("pk", flat=True)) == set(
        Renewal.objects.values_list("opportunity_id", flat=True)
    )
