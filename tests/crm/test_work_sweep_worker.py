"""Real workers and a real broker: the database is the truth, the broker only wakes workers.

A flushed broker loses the messages of an import, an NPS run, a segment enrolment and queued
emails; one sweep run by the worker finds every row and completes them. A lead import whose
worker is killed twice finishes by itself, each good row imported once. (The worker kit is
tests/worker.py; the broker is a filesystem folder, or the Redis of ``TEST_REDIS_URL``.)
"""

import json
import signal
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from crm.choices import OutboxStatus
from crm.models import OutboundEmail
from crm.segments.choices import SegmentTarget
from crm.services.outbox import email_queue
from crm.tasks import work_sweep
from leads.choices import ImportStatus, SegmentEnrolmentStatus
from leads.models import Enrollment, ImportJob, Lead, SegmentEnrolment
from leads.services import imports
from leads.services.segment_enrolments import segment_enrolment_queue
from retention.models import NpsRun, NpsSurvey
from retention.services import nps
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.segments import SegmentFactory, condition, group
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

#: What "within two sweep periods" means at the default period (settings.WORK_SWEEP_SECONDS).
TWO_SWEEPS = 2 * 60


def _flush(var_dir, redis_url: str) -> int:
    """Empty the worker's broker as an operator's FLUSHDB would; how many messages it held."""
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        held = client.llen("celery")
        client.flushdb()
        return held
    folder = var_dir / "broker" / "in"
    held = 0
    for path in folder.iterdir():
        path.unlink()
        held += 1
    return held


def _csv(rows: int, *, bad_every: int = 0) -> str:
    lines = ["Last name,Email"]
    for n in range(rows):
        bad = bad_every and n % bad_every == 0
        lines.append(f",bad{n}@x.example" if bad else f"L{n},lead{n}@x.example")
    return "\n".join(lines) + "\n"


def _upload(user, text: str) -> ImportJob:
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")
    return imports.import_job_create(user=user, upload=upload)


@pytest.fixture
def var_dir(tmp_path, settings):
    """The worker's VAR_DIR; uploads go to its media folder, where the worker reads them."""
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    return tmp_path / "var"


def test_after_a_broker_flush_one_sweep_completes_every_kind_of_waiting_work(
    tmp_path, var_dir, admin, rep, manager
):
    # Given an import, an NPS run, a segment enrolment and emails, all queued by users
    job = _upload(admin, _csv(40))
    account = AccountFactory(owner=rep)
    SubscriptionFactory(account=account, owner=rep)
    asked = [ContactFactory(account=account, owner=rep, email_consent=True) for _ in range(6)]
    for _ in range(5):
        LeadFactory(owner=rep, title="VP Sales", marketing_consent=True)
    segment = SegmentFactory(
        owner=rep,
        target=SegmentTarget.LEAD,
        definition=group("and", condition("title", "contains", "VP")),
    )
    sequence = SequenceFactory(name="Welcome")
    SequenceStepFactory(sequence=sequence, position=1, delay_days=2)
    leads_before = Lead.objects.count()
    mail_dir, log_path = tmp_path / "mail", tmp_path / "worker.log"
    mail_dir.mkdir()
    redis_url = redis_url_for_tests()
    env = worker_env(var_dir=var_dir, mail_dir=mail_dir, REDIS_URL=redis_url)
    with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
        with transaction.atomic():
            imports.import_job_queue(job)
            run = nps.nps_run_start(name="Q4", user=manager, segment=None)
            enrolment = segment_enrolment_queue(segment=segment, sequence=sequence, user=rep)
            for n in range(3):
                email_queue(
                    to_email=f"waiting{n}@x.example",
                    subject="Waiting",
                    body_text="Hello",
                    idempotency_key=f"test:waiting:{n}",
                )
        # When the broker is flushed before any worker took the messages
        assert _flush(var_dir, redis_url) >= 4
        # (a while ago: the sweep leaves rows queued in the last seconds to their own message)
        a_minute_ago = timezone.now() - timezone.timedelta(minutes=1)
        ImportJob.objects.filter(pk=job.pk).update(created_at=a_minute_ago)
        NpsRun.objects.filter(pk=run.pk).update(created_at=a_minute_ago)
        SegmentEnrolment.objects.filter(pk=enrolment.pk).update(created_at=a_minute_ago)
        with worker_started(env, log_path) as worker:
            time.sleep(1)
            assert not ImportJob.objects.filter(status=ImportStatus.DONE).exists()
            # And beat's next sweep runs
            started = time.monotonic()
            work_sweep.delay()

            def everything_done():
                return (
                    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).exists()
                    and NpsRun.objects.filter(pk=run.pk, status="done").exists()
                    and SegmentEnrolment.objects.filter(
                        pk=enrolment.pk, status=SegmentEnrolmentStatus.DONE
                    ).exists()
                    and OutboundEmail.objects.count() == 9
                    and not OutboundEmail.objects.exclude(status=OutboxStatus.SENT).exists()
                )

            wait_until(everything_done, what="all the work", log_path=log_path, worker=worker)
            seconds = time.monotonic() - started

    # Then everything was done once, within two sweep periods
    assert succeeded_runs(log_path, "crm.tasks.work_sweep") == 1
    assert seconds < TWO_SWEEPS
    assert Lead.objects.count() == leads_before + 40
    assert sorted(NpsSurvey.objects.values_list("contact_id", flat=True)) == sorted(
        c.pk for c in asked
    )
    assert Enrollment.objects.filter(sequence=sequence).count() == 5
    assert len(list(mail_dir.iterdir())) >= 1
    print(f"broker flush: import, NPS run, enrolment and 9 emails done in {seconds:.1f} s")


def _drop_torn_messages(folder):
    """A worker killed while publishing can leave a half-written message file: it is lost (the
    sweep covers for it, which is what this test is about)."""
    if not folder.exists():
        return
    for path in folder.iterdir():
        try:
            json.loads(path.read_text() or "x")
        except ValueError:
            path.unlink()


ROWS = 15_000
BAD_EVERY = 500


def test_an_import_killed_twice_finishes_by_itself_with_every_good_row_once(
    tmp_path, var_dir, admin
):
    # Given a queued import of 15,000 rows (30 of them bad), run in chunks of 5,000
    job = _upload(admin, _csv(ROWS, bad_every=BAD_EVERY))
    log_path = tmp_path / "worker.log"
    redis_url = redis_url_for_tests()
    # A short lease, so the test need not wait the default two minutes for a dead worker's.
    env = worker_env(var_dir=var_dir, REDIS_URL=redis_url, WORK_LEASE_SECONDS="3")

    def processed():
        return ImportJob.objects.values_list("processed_rows", flat=True).get(pk=job.pk)

    with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
        with transaction.atomic():
            imports.import_job_queue(job)
        at_kill = []
        for _ in range(2):
            # When its worker is killed (SIGKILL) after a chunk, twice
            before = processed()
            with worker_started(env, log_path) as worker:
                if before:  # the second worker: woken by the sweep once the lease runs out
                    wait_until(
                        lambda: _sweep_once_lease_ran_out(job),
                        what="the sweep to wake a worker",
                        log_path=log_path,
                        worker=worker,
                    )
                wait_until(
                    lambda before=before: processed() > before,
                    what="a committed chunk",
                    log_path=log_path,
                    worker=worker,
                    interval=0.02,
                )
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=15)
            at_kill.append(processed())
            _drop_torn_messages(var_dir / "broker" / "in")
        # And a third worker runs beat's sweep, as beat would
        with worker_started(env, log_path) as worker:
            wait_until(
                lambda: _sweep_once_lease_ran_out(job),
                what="the sweep to wake a worker",
                log_path=log_path,
                worker=worker,
            )
            wait_until(
                lambda: ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).exists(),
                what="the import to finish",
                log_path=log_path,
                worker=worker,
            )
            worker.send_signal(signal.SIGKILL)  # done: no need to wait for a warm shutdown
            worker.wait(timeout=15)

    # Then it finished by itself, every good row once, every bad one reported once
    job.refresh_from_db()
    assert at_kill[0] < at_kill[1] < ROWS + 1, at_kill
    assert job.runs >= 3 and job.processed_rows == ROWS + 1
    bad = ROWS // BAD_EVERY
    assert (job.created_count, job.error_count) == (ROWS - bad, bad)
    assert Lead.objects.count() == ROWS - bad
    assert Lead.objects.values("email").distinct().count() == ROWS - bad
    assert job.row_errors.count() == bad
    print(f"import killed at lines {at_kill}, finished after {job.runs} runs")


def _sweep_once_lease_ran_out(job) -> bool:
    """Publish one sweep when the dead worker's lease has run out; True once published."""
    lease_until = ImportJob.objects.values_list("lease_until", flat=True).get(pk=job.pk)
    if lease_until is not None and lease_until > timezone.now():
        return False
    work_sweep.delay()
    return True
