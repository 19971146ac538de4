"""A real Celery worker process runs a segment enrolment to done, once, when the request that
queued it commits (the worker kit is tests/worker.py)."""

import pytest
from django.db import transaction

from crm.models import Activity
from crm.segments.choices import SegmentTarget
from leads.choices import SegmentEnrolmentStatus
from leads.models import Enrollment, SegmentEnrolment
from leads.services.segment_enrolments import segment_enrolment_queue
from leads.tasks import segment_enrolment_run
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.factories.segments import SegmentFactory, condition, group
from tests.worker import (
    publishing_to,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TASK_NAME = "leads.tasks.segment_enrolment_run"
LEADS = 40


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
    env = worker_env(var_dir=var_dir)
    with publishing_to(**worker_broker(var_dir)), worker_started(env, log_path) as worker:
        # When the rep's request queues the job and commits
        with transaction.atomic():
            job = segment_enrolment_queue(segment=segment, sequence=sequence, user=rep)
        # Then the worker runs it to done
        wait_until(
            lambda: SegmentEnrolment.objects.filter(
                pk=job.pk, status=SegmentEnrolmentStatus.DONE
            ).exists(),
            what="the enrolment to finish",
            log_path=log_path,
            worker=worker,
        )
        # And a duplicate message for the finished job changes nothing
        segment_enrolment_run.delay(job.pk)
        wait_until(
            lambda: succeeded_runs(log_path, TASK_NAME) >= 2,
            what="2 runs",
            log_path=log_path,
            worker=worker,
        )

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
