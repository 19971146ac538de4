"""A real Celery worker process delivers the outbox exactly once.

The unit tests call the services directly; this one proves the wiring they cannot: the task is
registered under the name beat uses, a worker started the way ``make run`` starts it finds the
database and the email backend from the environment alone, and repeated enqueues still send one
message. The worker shares the test database (``test_<name>``) and gets a broker of its own: a
fresh filesystem broker folder, or Redis when ``TEST_REDIS_URL`` is set (use a Redis database no
other test run consumes from).
"""

import pytest

from crm.celery import app as celery_app
from crm.choices import OutboxStatus
from crm.models import OutboundEmail
from crm.services.outbox import email_queue
from crm.tasks import outbox_send_queued
from tests.worker import (
    publishing_to,
    redis_url_for_tests,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.pgbouncer,
]

TASK_NAME = "crm.tasks.outbox_send_queued"


def test_a_real_worker_sends_a_queued_email_exactly_once(tmp_path):
    var_dir = tmp_path / "var"
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log_path = tmp_path / "worker.log"
    redis_url = redis_url_for_tests()  # empty means the filesystem broker
    env = worker_env(var_dir=var_dir, mail_dir=mail_dir, REDIS_URL=redis_url)

    with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
        # A message left in a shared Redis database by an earlier, interrupted run would be
        # counted as one of this test's runs.
        celery_app.control.purge()
        with worker_started(env, log_path) as worker:
            # Given a queued message (queueing it enqueues one delivery on commit)
            email = email_queue(
                to_email="customer@example.com",
                subject="Worker test",
                body_text="Delivered by a real worker.",
                idempotency_key="worker-test:1",
            )
            # When the delivery task is enqueued once more
            outbox_send_queued.delay()

            # Then the worker sends it
            wait_until(
                lambda: OutboundEmail.objects.get(pk=email.pk).status == OutboxStatus.SENT,
                what="the message to be sent",
                log_path=log_path,
                worker=worker,
            )
            # And running the task twice more sends nothing again
            outbox_send_queued.delay()
            outbox_send_queued.delay()
            wait_until(
                lambda: succeeded_runs(log_path, TASK_NAME) >= 4,
                what="four task runs",
                log_path=log_path,
                worker=worker,
            )

    files = list(mail_dir.iterdir())
    assert len(files) == 1, log_path.read_text()[-4000:]
    assert "Subject: Worker test" in files[0].read_text()
    email.refresh_from_db()
    assert email.attempts == 1
    assert email.sent_at is not None
    assert succeeded_runs(log_path, TASK_NAME) == 4
