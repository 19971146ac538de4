"""A real Celery worker process delivers the outbox exactly once.

The unit tests call the services directly; this one proves the wiring they cannot: the task is
registered under the name beat uses, a worker started the way ``make run`` starts it finds the
database and the email backend from the environment alone, and repeated enqueues still send one
message. The worker shares the test database (a file on SQLite, ``test_<name>`` on PostgreSQL)
and gets a broker of its own: a fresh filesystem broker folder, or Redis when ``TEST_REDIS_URL``
is set (use a Redis database no other test run consumes from).
"""

import os
import subprocess
import time
from contextlib import contextmanager
from urllib.parse import quote

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from crm.celery import app as celery_app
from crm.choices import OutboxStatus
from crm.models import OutboundEmail
from crm.services.outbox import email_queue
from crm.tasks import outbox_send_queued
from tests.worker import WORKER_COMMAND, filesystem_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

#: Upper bound for the worker to start and handle the messages; it usually takes a few seconds.
DEADLINE_SECONDS = 60
TASK_NAME = "crm.tasks.outbox_send_queued"


def _database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        auth = ""
        if db.get("USER"):
            auth = quote(db["USER"], safe="")
            if db.get("PASSWORD"):
                auth += ":" + quote(db["PASSWORD"], safe="")
            auth += "@"
        host = quote(db.get("HOST") or "", safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"
    pytest.skip(f"no worker test for {db['ENGINE']}")


@contextmanager
def _publishing_to(*, broker_url: str, transport_options: dict):
    """Point this process's Celery app at the worker's broker; pooled connections to the
    configured broker are dropped on the way in and out so ``.delay()`` really goes there."""
    keys = ("broker_url", "broker_write_url", "broker_transport_options")
    saved = {key: celery_app.conf[key] for key in keys}

    def reset_pools():
        # Celery's pools are kombu's process-wide ones, keyed by broker URL: closing one leaves
        # a closed pool behind for the next test on the same URL, so clear kombu's registry too.
        kombu.pools.reset()
        celery_app._after_fork()

    reset_pools()
    celery_app.conf["broker_url"] = broker_url
    celery_app.conf["broker_write_url"] = None
    celery_app.conf["broker_transport_options"] = transport_options
    try:
        yield
    finally:
        reset_pools()
        for key, value in saved.items():
            celery_app.conf[key] = value


def _wait_for(condition, *, worker, log_path, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if worker.poll() is not None:
            pytest.fail(f"worker exited ({worker.returncode}):\n{log_path.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)


def _succeeded_runs(log_path) -> int:
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{TASK_NAME}[" in line and "succeeded" in line
    )


def test_a_real_worker_sends_a_queued_email_exactly_once(tmp_path):
    var_dir = tmp_path / "var"
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        # django-environ drops the first slash of the path: four slashes for an absolute one.
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    env["REDIS_URL"] = redis_url  # empty means the filesystem broker under VAR_DIR
    if redis_url:
        broker = {"broker_url": redis_url, "transport_options": {"visibility_timeout": 3600}}
    else:
        broker = {
            "broker_url": "filesystem://",
            "transport_options": filesystem_broker(var_dir),
        }
    command = WORKER_COMMAND

    with _publishing_to(
        broker_url=broker["broker_url"], transport_options=broker["transport_options"]
    ):
        # A message left in a shared Redis database by an earlier, interrupted run would be
        # counted as one of this test's runs.
        celery_app.control.purge()
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
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
            _wait_for(
                lambda: OutboundEmail.objects.get(pk=email.pk).status == OutboxStatus.SENT,
                worker=worker,
                log_path=log_path,
                what="the message to be sent",
            )
            # And running the task twice more sends nothing again
            outbox_send_queued.delay()
            outbox_send_queued.delay()
            _wait_for(
                lambda: _succeeded_runs(log_path) >= 4,
                worker=worker,
                log_path=log_path,
                what="four task runs",
            )
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    files = list(mail_dir.iterdir())
    assert len(files) == 1, log_path.read_text()[-4000:]
    assert "Subject: Worker test" in files[0].read_text()
    email.refresh_from_db()
    assert email.attempts == 1
    assert email.sent_at is not None
    assert _succeeded_runs(log_path) == 4
