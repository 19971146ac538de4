"""Real Celery worker processes deliver webhooks: a receiver that answers 500 three times gets
the event on the fourth try, once; a worker killed (SIGKILL) while sending leaves the delivery
to the next worker after its lease, which sends it again under the same webhook-id.

The unit tests call the delivery functions directly; these prove the wiring: the task is
registered under the name beat and the sweep use, a worker finds the settings from its
environment, retries are woken by the worker itself (a countdown for short waits), and a lease
outlives its worker only until it runs out."""

import os
import signal

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from crm import webhooks
from crm.celery import app as celery_app
from crm.choices import WebhookDeliveryState as State
from crm.models import WebhookDelivery
from crm.tasks import webhooks_deliver
from crm.webhooks.delivery import webhook_sweep
from tests.factories import AccountFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Receiver
from tests.worker import (
    publishing_to,
    redis_url_for_tests,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_start,
    worker_started,
    worker_stop,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "crm.tasks.webhooks_deliver"


def _env(tmp_path, **overrides):
    return worker_env(
        var_dir=tmp_path / "var",
        REDIS_URL=redis_url_for_tests(),
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_ALLOW_HTTP="true",
        WEBHOOK_RETRY_SCHEDULE="1,1,1,1",
        **overrides,
    )


def _emit() -> None:
    with transaction.atomic():  # the worker is woken when this commits
        webhooks.emit("account.created", AccountFactory())


def test_a_real_worker_retries_until_the_receiver_takes_the_event_once(tmp_path, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    log_path = tmp_path / "worker.log"
    env = _env(tmp_path)

    with (
        Receiver(statuses=[500, 500, 500]) as receiver,
        publishing_to(**worker_broker(tmp_path / "var", redis_url=env["REDIS_URL"])),
    ):
        celery_app.control.purge()
        with worker_started(env, log_path) as worker:
            endpoint = WebhookEndpointFactory(url=receiver.url)
            _emit()
            wait_until(
                lambda: WebhookDelivery.objects.get().state == State.DELIVERED,
                what="the event to be delivered",
                log_path=log_path,
                worker=worker,
            )
            runs = succeeded_runs(log_path, TASK_NAME)
            webhooks_deliver.delay()
            webhooks_deliver.delay()
            wait_until(
                lambda: succeeded_runs(log_path, TASK_NAME) >= runs + 2,
                what="two more runs",
                log_path=log_path,
                worker=worker,
            )

    assert len(receiver.requests) == 4, log_path.read_text()[-3000:]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1
    for request in receiver.requests:
        Webhook(endpoint.secret).verify(request.body, request.headers)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.uncertain) == (4, False)


def test_a_killed_workers_delivery_is_sent_again_with_the_same_id(tmp_path, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    log_path = tmp_path / "worker.log"
    env = _env(tmp_path, WORK_LEASE_SECONDS="3", WEBHOOK_TIMEOUT_SECONDS="30")

    # The receiver holds the first request long enough for the worker to be killed mid-send.
    with (
        Receiver(delays=[20]) as receiver,
        publishing_to(**worker_broker(tmp_path / "var", redis_url=env["REDIS_URL"])),
    ):
        celery_app.control.purge()
        WebhookEndpointFactory(url=receiver.url)
        first = worker_start(env, log_path)
        try:
            _emit()
            wait_until(
                lambda: len(receiver.requests) == 1,
                what="the first send",
                log_path=log_path,
                worker=first,
            )
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            worker_stop(first)
        delivery = WebhookDelivery.objects.get()
        assert delivery.state == State.SENDING

        with worker_started(env, log_path) as second:
            # The sweep (beat's, every WORK_SWEEP_SECONDS) takes it up once the lease ran out.
            wait_until(
                lambda: webhook_sweep() == 1,
                what="the lease to run out",
                log_path=log_path,
                worker=second,
                timeout=30,
                interval=0.5,
            )
            wait_until(
                lambda: WebhookDelivery.objects.get().state == State.DELIVERED,
                what="the delivery by the second worker",
                log_path=log_path,
                worker=second,
            )

    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.event_id] * 2
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.uncertain) == (2, True)
