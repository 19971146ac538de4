"""A real Celery worker process runs a segment enrolment to done, once, when the request that
queued it commits (the worker and broker set-up are the core's worker test's)."""

import os
import subprocess

import pytest
from django.conf import settings
from django.db import transaction

from crm.models import Activity
from crm.segments.choices import SegmentTarget
from leads.choices import SegmentEnrolmentStatus
from leads.models import Enrollment, SegmentEnrolment
from leads.services.segment_enrolments import segment_enrolment_queue
from leads.tasks import segment_enrolment_run
from tests.crm.test_celery_worker import _database_url, _publishing_to, _wait_for
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.factories.segments import SegmentFactory, condition, group
from tests.worker import WORKER_COMMAND, filesystem_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "leads.tasks.segment_enrolment_run"
LEADS = 40


def _runs(log_path) -> int:
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{TASK_NAME}[" in line and "succeeded" in line
    )


def test_a_real_worker_runs_a_segment_enrolment_to_done_once(tmp_path, rep):
    # Given a segment of the rep's leads, a quarter of them without consent
    for n in range(LEADS):
        LeadFactory(owner=rep, title="VP Sales", marketing_consent=n % 4 != 0)
    segment = SegmentFactory(
        owner=rep,
        target=SegmentTarget.LEAD,
        definition=group("and", condition("title", "contains", "VP")),
    )
    sequence = SequenceFactory(name="Welcome")
    SequenceStepFactory(sequence=sequence, position=1, delay_days=2)
    var_dir, log_path = tmp_path / "var", tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "REDIS_URL": "",
        "EMAIL_URL": "consolemail://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    transport = filesystem_broker(var_dir)
    with _publishing_to(broker_url="filesystem://", transport_options=transport):
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                WORKER_COMMAND, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            # When the rep's request queues the job and commits
            with transaction.atomic():
                job = segment_enrolment_queue(segment=segment, sequence=sequence, user=rep)
            # Then the worker runs it to done
            _wait_for(
                lambda: SegmentEnrolment.objects.filter(
                    pk=job.pk, status=SegmentEnrolmentStatus.DONE
                ).exists(),
                worker=worker,
                log_path=log_path,
                what="the enrolment to finish",
            )
            # And a duplicate message for the finished job changes nothing
            segment_enrolment_run.delay(job.pk)
            _wait_for(lambda: _runs(log_path) >= 2, worker=worker, log_path=log_path, what="2 runs")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    job.refresh_from_db()
    consenting = LEADS - LEADS // 4
    assert (job.total, job.members, job.enrolled, job.no_consent) == (
        LEADS,
        LEADS,
        consenting,
        LEADS // 4,
    )
    assert Enrollment.objects.filter(sequence=sequence).count() == consenting
    assert (
        Activity.objects.filter(summary__contains=f"{consenting} leads of the segment").count() == 1
    )
