"""A real Celery worker opens a renewal deal exactly once, however often the task runs.

Uses the worker kit of tests/worker.py: the worker shares the test database and gets a broker of
its own (a fresh filesystem folder, or ``TEST_REDIS_URL``)."""

import datetime as dt
from contextlib import contextmanager

import pytest
from django.utils import timezone

from retention.models import Renewal
from retention.tasks import renewal_open, renewals_open
from tests.factories.crm import AccountFactory
from tests.factories.retention import SubscriptionFactory
from tests.worker import (
    publishing_to,
    redis_url_for_tests,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

# serialized_rollback: the second test still finds the roles and pipelines that data migrations
# made, which the first transactional test's flush removed.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@contextmanager
def _worker(tmp_path):
    """A worker process on a broker of its own; yields (process, log path)."""
    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    redis_url = redis_url_for_tests()  # empty means the filesystem broker
    env = worker_env(var_dir=var_dir, REDIS_URL=redis_url)
    broker = worker_broker(var_dir, redis_url=redis_url)
    with publishing_to(**broker), worker_started(env, log_path) as worker:
        yield worker, log_path


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
        wait_until(
            lambda: (
                succeeded_runs(log_path, "retention.tasks.renewals_open") >= 3
                and succeeded_runs(log_path, "retention.tasks.renewal_open") >= 2
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
        wait_until(
            lambda: (
                succeeded_runs(log_path, "retention.tasks.health_recompute") >= 2
                and succeeded_runs(log_path, "retention.tasks.risk_playbook") >= 1
                and succeeded_runs(log_path, "retention.tasks.nps_run_send") >= 2
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
