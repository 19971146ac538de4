"""Faults against real processes, the small version of ``make faults`` (bench/faults.py).

A Celery worker started as ``make run`` starts it (the prefork pool) is killed with SIGKILL,
with its pool, in the middle of sending a campaign, and restarted: every email reaches the SMTP
sink (tests/smtp_sink.py) exactly once, except those the outbox marks uncertain, whose copies
carry the same Message-ID. And a Redis of the test's own, flushed while emails, an import and an
NPS run wait in it: beat's sweep wakes a worker for each, and all complete. Beat runs with the
production schedule; the sweep every second and leases of a few seconds keep the test short.
The kit is tests/faults.py (processes, the sink) and tests/worker.py (the worker's database and
broker).
"""

import datetime as dt
import random
import shutil
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from crm.celery import app as celery_app
from crm.choices import OutboxStatus, Role
from crm.models import OutboundEmail
from crm.services.outbox import email_queue, outbox_message_id
from leads.campaigns.services.sending import email_campaign_schedule, outbox_key_prefix
from leads.choices import ImportStatus, RecipientStatus
from leads.models import CampaignRecipient, ImportJob, Lead
from leads.services.imports import import_job_create, import_job_queue
from leads.tasks import email_campaigns_run
from retention.models import NpsSurvey
from retention.services.nps import nps_run_start
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.email_campaigns import EmailCampaignFactory, EmailVariantFactory
from tests.factories.segments import SegmentFactory, condition, group
from tests.faults import (
    Process,
    RedisServer,
    SmtpSink,
    beat_command,
    delivery_figures,
    wait_worker_ready,
    worker_command,
)
from tests.worker import publishing_to, redis_url_for_tests, worker_broker, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

EMAILS = 300
KILLS = 3
SWEEP_SECONDS = 1
LEASE_SECONDS = 4


def fault_env(var_dir, *, email_url: str, redis_url: str = "") -> dict:
    """A worker's environment on the test database, with a fast sweep and short leases; the
    test's secret key and site, so Message-IDs computed here match the worker's."""
    return worker_env(
        var_dir=var_dir,
        REDIS_URL=redis_url,
        EMAIL_URL=email_url,
        SECRET_KEY=settings.SECRET_KEY,
        SITE_URL=settings.SITE_URL,
        WORK_SWEEP_SECONDS=str(SWEEP_SECONDS),
        WORK_LEASE_SECONDS=str(LEASE_SECONDS),
    )


class Stack:
    """Worker and beat (and what they log) for one test, stopped however it ends."""

    def __init__(self, tmp_path, env):
        self.worker = Process(
            "worker", worker_command(2), env=env, log_path=tmp_path / "worker.log"
        )
        self.beat = Process(
            "beat", beat_command(tmp_path / "var"), env=env, log_path=tmp_path / "beat.log"
        )
        self.starts = 0

    def worker_start(self) -> None:
        self.worker.start()
        self.starts += 1
        wait_worker_ready(self.worker, self.starts)

    def logs(self) -> str:
        return f"worker:\n{self.worker.log_tail()}\nbeat:\n{self.beat.log_tail(1500)}"

    def stop(self) -> None:
        self.worker.stop(timeout=10)
        self.beat.stop(timeout=10)


def _wait(condition, *, what: str, stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{stack.logs()}")
        time.sleep(0.1)


def test_a_campaign_survives_sigkills_of_the_worker_mid_batch(tmp_path):
    # Given a campaign to 300 consenting contacts, sent now
    manager = UserFactory(username="manager", roles=[Role.MANAGER])
    ContactFactory.create_batch(EMAILS, title="VP Faults", marketing_consent=True)
    segment = SegmentFactory(
        owner=manager, definition=group("and", condition("title", "contains", "VP Faults"))
    )
    campaign = EmailCampaignFactory(created_by=manager, segment=segment, rate_per_minute=EMAILS)
    EmailVariantFactory(campaign=campaign, label="A", subject="News for {{ first_name }}")
    email_campaign_schedule(campaign=campaign, at=timezone.now() - dt.timedelta(seconds=1))
    outbox = OutboundEmail.objects.filter(
        idempotency_key__startswith=outbox_key_prefix(campaign.pk)
    )

    # and an SMTP server that takes a few milliseconds a message
    sink = SmtpSink(tmp_path / "smtp", delay=0.02).start()
    var_dir = tmp_path / "var"
    redis_url = redis_url_for_tests()
    stack = Stack(tmp_path, fault_env(var_dir, email_url=sink.email_url, redis_url=redis_url))
    rng = random.Random(7)
    try:
        with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
            celery_app.control.purge()
            stack.beat.start()
            stack.worker_start()
            email_campaigns_run.delay()
            # When the worker's process group is killed three times while it hands emails over
            for _ in range(KILLS):
                seen = sink.count()
                _wait(
                    lambda seen=seen: sink.count() > seen, what="an email", stack=stack, timeout=60
                )
                time.sleep(rng.uniform(0, 0.3))
                stack.worker.kill()
                stack.worker_start()
            # Then the sweep takes up what the killed worker held, and every email goes out
            _wait(
                lambda: (
                    outbox.count() == EMAILS
                    and not outbox.exclude(status=OutboxStatus.SENT).exists()
                ),
                what="every email sent",
                stack=stack,
                timeout=60,
            )
    finally:
        stack.stop()
        sink.stop()

    rows = [
        (e.pk, e.status, getattr(e, "uncertain", False), outbox_message_id(e))
        for e in outbox.order_by("pk")
    ]
    figures = delivery_figures(rows, sink.deliveries())
    assert stack.worker.kills == KILLS
    assert figures.emails == EMAILS
    assert figures.lost == 0, figures
    assert figures.duplicates_beyond_uncertain == 0, figures
    assert figures.message_id_mismatches == 0, figures
    assert figures.delivered_once + figures.uncertain_rows >= EMAILS, figures
    assert not CampaignRecipient.objects.filter(
        campaign=campaign, status=RecipientStatus.PENDING
    ).exists()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_sweep_completes_work_whose_messages_a_broker_flush_dropped(tmp_path, settings):
    var_dir = tmp_path / "var"
    # The worker reads uploads from its VAR_DIR's media folder; this process stores them there.
    settings.MEDIA_ROOT = var_dir / "media"
    manager = UserFactory(username="manager", roles=[Role.MANAGER])
    rep = UserFactory(username="rep", roles=[Role.SALES_REP])
    account = AccountFactory(owner=rep)
    ContactFactory.create_batch(5, account=account, title="Faults NPS", email_consent=True)
    nps_segment = SegmentFactory(
        owner=manager, definition=group("and", condition("title", "contains", "Faults NPS"))
    )
    csv_text = "First name,Last name,Email\n" + "".join(
        f"Ann{n},Flush{n},flush-{n}@import.example\n" for n in range(40)
    )
    redis = RedisServer(tmp_path / "redis").start()
    sink = SmtpSink(tmp_path / "smtp").start()
    stack = Stack(tmp_path, fault_env(var_dir, email_url=sink.email_url, redis_url=redis.url))
    try:
        with publishing_to(**worker_broker(var_dir, redis_url=redis.url)):
            # Given emails, an import and an NPS run whose messages wait in the broker
            with transaction.atomic():
                emails = [
                    email_queue(
                        to_email=f"flush-{n}@example.com",
                        subject="Waiting",
                        body_text="Queued before the flush.",
                        idempotency_key=f"faults:flush:{n}",
                    )
                    for n in range(5)
                ]
            with transaction.atomic():
                job = import_job_create(
                    user=rep, upload=SimpleUploadedFile("flush.csv", csv_text.encode()), owner=rep
                )
                import_job_queue(job)
            with transaction.atomic():
                run = nps_run_start(name="Flushed", user=manager, segment=nps_segment)
            assert redis.queued_messages() >= 3
            # When the broker loses them all, then worker and beat start
            redis.flush()
            stack.beat.start()
            stack.worker_start()
            # Then the sweep wakes a worker for each, and all complete
            _wait(
                lambda: (
                    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).exists()
                    and NpsSurvey.objects.filter(run=run).count() == 5
                    and not OutboundEmail.objects.filter(pk__in=[e.pk for e in emails])
                    .exclude(status=OutboxStatus.SENT)
                    .exists()
                ),
                what="the import, the NPS run and the emails",
                stack=stack,
                timeout=10 * SWEEP_SECONDS + 20,
            )
    finally:
        stack.stop()
        sink.stop()
        redis.stop()

    assert Lead.objects.filter(email__startswith="flush-").count() == 40
    delivered = {line["to"][0] for line in sink.deliveries()}
    assert {f"flush-{n}@example.com" for n in range(5)} <= delivered
