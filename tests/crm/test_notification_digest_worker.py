"""A real Celery worker sends a due notification digest once, however often the task runs: the
task is registered under the name beat uses, and each run claims the user's due time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.celery import app as celery_app
from crm.models import NotificationSettings, OutboundEmail
from crm.services.notifications import notification_settings_save, notify
from crm.tasks import notification_digests_send
from tests.factories.crm import UserFactory
from tests.worker import (
    publishing_to,
    redis_url_for_tests,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "crm.tasks.notification_digests_send"


def test_a_real_worker_sends_a_due_digest_once(tmp_path):
    user = UserFactory(username="digest_reader", email="reader@example.com")
    notification_settings_save(user=user, digest="hourly", email_kinds=["assigned"])
    past = timezone.now() - timedelta(minutes=1)
    NotificationSettings.objects.filter(user=user).update(
        next_digest_at=past, last_digest_at=past - timedelta(hours=1)
    )
    notify(recipient=user, kind="assigned", verb="A lead for you", dedupe_key="worker-digest")

    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    redis_url = redis_url_for_tests()
    env = worker_env(var_dir=var_dir, REDIS_URL=redis_url)
    with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
        celery_app.control.purge()
        with worker_started(env, log_path) as worker:
            for _ in range(3):
                notification_digests_send.delay()
            wait_until(
                lambda: succeeded_runs(log_path, TASK_NAME) >= 3,
                what="three digest runs",
                log_path=log_path,
                worker=worker,
            )

    email = OutboundEmail.objects.get(to_email="reader@example.com")
    assert "A lead for you" in email.body_text
    assert NotificationSettings.objects.get(user=user).next_digest_at > timezone.now()
