"""Enrolling a lead segment into a sequence, in the background and in chunks.

A ``SegmentEnrolment`` row is the job. A run leases it (``crm.work``: queued → running, or a job
whose previous run's lease ran out, or one this worker already holds: the same task retried),
then walks the members the asking user may see by lead id, ``CHUNK_SIZE`` at a time. Each chunk
is one transaction: it locks the job row, checks the run still holds the lease and the cursor is
where it left it, counts the chunk's members by skip reason, enrols the rest with one INSERT …
SELECT (the enrolment's unique constraint ignores a lead enrolled meanwhile), moves the cursor
and counts and renews the lease. A crash loses at most the chunk in flight, whose counts roll
back with it; the sweep wakes a worker for the job once the lease has run out (or when its
message was lost), so a resumed run counts and enrols every member once, by itself.
"""

import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Value,
)
from django.utils import timezone

from crm.db import insert_select
from crm.faults import SimulatedKill
from crm.segments.selectors import segment_members
from crm.services.timeline import system_event
from crm.work import (
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    jobs_wake,
    lease_end,
    lease_release,
    lease_take,
    worker_name,
)
from leads.choices import EnrollmentState, LeadStatus, SegmentEnrolmentStatus
from leads.models import Enrollment, SegmentEnrolment, Sequence
from leads.services.sequences import _first_step
from leads.tasks import segment_enrolment_run as segment_enrolment_task

logger = logging.getLogger(__name__)

CHUNK_SIZE = 20_000
#: A queued job younger than this is left to the message that queued it.

Status = SegmentEnrolmentStatus

#: The allowed status changes; each is made by one conditional UPDATE.
TRANSITIONS = {
    Status.QUEUED: {Status.RUNNING, Status.FAILED},
    Status.RUNNING: {Status.RUNNING, Status.DONE, Status.FAILED},
    Status.FAILED: {Status.QUEUED},
    Status.DONE: set(),
}

ENROLMENT_FIELDS = [
    "sequence",
    "lead",
    "state",
    "stop_reason",
    "next_position",
    "next_step_at",
    "steps_done",
    "enrolled_by",
    "created_at",
    "finished_at",
]


def _from(target: str) -> list[str]:
    return [status for status, allowed in TRANSITIONS.items() if target in allowed]


def segment_enrolment_queue(*, segment, sequence: Sequence, user) -> SegmentEnrolment:
    """Record the request as a queued job and start its task once the transaction commits (if
    the message is lost, the sweep starts the queued job)."""
    if segment.target != "lead":
        raise ValueError("Only a segment of leads can be enrolled in a sequence.")
    job = SegmentEnrolment.objects.create(
        sequence=sequence, segment=segment, segment_name=str(segment)[:200], created_by=user
    )
    _enqueue(job.pk)
    return job


def segment_enrolment_resume(*, job: SegmentEnrolment) -> bool:
    """Start a failed job again, or a queued or running one that has stalled (its message lost,
    its worker gone: the sweep would take it up within a minute anyway); it goes on from its
    last committed chunk. False if there is nothing to do."""
    updated = SegmentEnrolment.objects.filter(pk=job.pk, status=Status.FAILED).update(
        status=Status.QUEUED, message="", lease_owner="", lease_until=None
    )
    if not updated:
        job.refresh_from_db()
        if not job.is_stalled:
            return False
    _enqueue(job.pk)
    return True


def _enqueue(job_id: int) -> None:
    transaction.on_commit(lambda: enqueue_quietly(segment_enrolment_task, job_id))


def segment_enrolment_claim(*, job_id: int, owner: str) -> bool:
    """Make ``owner``'s run the job's only runner (a lease, in one UPDATE); False if another
    live run holds it (or it is finished, failed or gone)."""
    return lease_take(
        SegmentEnrolment.objects.filter(pk=job_id, status__in=[Status.QUEUED, Status.RUNNING]),
        owner=owner,
        status=Status.RUNNING,
    )


def segment_enrolment_fail(*, job_id: int, message: str, owner: str | None = None) -> bool:
    """Stop a job with a message the user reads; its committed chunks stay. With ``owner``,
    only while that run holds it."""
    jobs = SegmentEnrolment.objects.filter(pk=job_id, status__in=_from(Status.FAILED))
    if owner is not None:
        jobs = jobs.filter(lease_owner=owner)
    return bool(
        jobs.update(status=Status.FAILED, message=message[:2000], lease_owner="", lease_until=None)
    )


def segment_enrolment_run(
    *,
    job_id: int,
    owner: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    crash_after_chunks: int | None = None,
) -> SegmentEnrolment | None:
    """Run (or resume) a job to the end; None if it is gone. ``owner`` names the run (this
    worker by default); ``crash_after_chunks`` is for tests: the run stops as if killed."""
    owner = owner or worker_name()
    if not segment_enrolment_claim(job_id=job_id, owner=owner):
        return SegmentEnrolment.objects.filter(pk=job_id).first()
    job = (
        SegmentEnrolment.objects.select_related("sequence", "segment", "created_by")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return None
    mine = SegmentEnrolment.objects.filter(pk=job.pk, lease_owner=owner)
    if job.created_by is None or job.segment is None:
        gone = "user who asked" if job.created_by is None else "segment"
        segment_enrolment_fail(job_id=job.pk, owner=owner, message=f"The {gone} was deleted.")
        return SegmentEnrolment.objects.filter(pk=job_id).first()
    try:
        members = segment_members(job.segment, job.created_by).order_by()
        if job.total is None:
            total = members.count()
            mine.update(total=total, started_at=timezone.now(), lease_until=lease_end())
        chunks = 0
        cursor = job.last_lead_id
        while cursor is not None:
            cursor = _commit_chunk(job, members, cursor, owner, chunk_size)
            chunks += 1
            if crash_after_chunks is not None and chunks >= crash_after_chunks and cursor:
                raise SimulatedKill
    except (OperationalError, SoftTimeLimitExceeded):
        # A database hiccup (the task retries) or the time limit: the job stays running and is
        # given back, so a retry or the next sweep goes on from the last chunk.
        lease_release(mine, owner=owner)
        raise
    except Exception as exc:
        segment_enrolment_fail(
            job_id=job.pk,
            owner=owner,
            message=f"Stopped on an unexpected error ({type(exc).__name__}); the leads before "
            "it are enrolled. Resume once it is fixed.",
        )
        raise
    return SegmentEnrolment.objects.filter(pk=job_id).first()  # None if deleted meanwhile


def _commit_chunk(job: SegmentEnrolment, members, cursor: int, owner: str, size: int):
    """Enrol the members after ``cursor`` up to ``size`` of them; the next cursor, or None when
    the job is finished (or another run took it over)."""
    with transaction.atomic():
        locked = SegmentEnrolment.objects.select_for_update().filter(pk=job.pk).first()
        if (
            locked is None
            or locked.status != Status.RUNNING
            or locked.lease_owner != owner
            or locked.last_lead_id != cursor
        ):
            return None  # gone, or another run holds it now
        after = members.filter(pk__gt=cursor)
        upper = list(after.order_by("pk").values_list("pk", flat=True)[size - 1 : size])
        chunk = after.filter(pk__lte=upper[0]) if upper else after
        counts, enrolled = _enrol(chunk, job)
        now = timezone.now()
        changes = {
            "members": F("members") + counts["members"],
            "already": F("already") + counts["already"],
            "closed": F("closed") + counts["closed"],
            "no_consent": F("no_consent") + counts["no_consent"],
            "enrolled": F("enrolled") + enrolled,
        }
        if upper:
            changes.update(last_lead_id=upper[0], lease_until=lease_end(now))
        else:
            changes.update(status=Status.DONE, finished_at=now, lease_owner="", lease_until=None)
        SegmentEnrolment.objects.filter(pk=job.pk).update(**changes)
        if not upper:
            _record(job)
    return upper[0] if upper else None


def segment_enrolment_pending() -> int:
    """Enrolments waiting for or running in a worker (the queue depth metric)."""
    return SegmentEnrolment.objects.filter(
        status__in=[SegmentEnrolmentStatus.QUEUED, SegmentEnrolmentStatus.RUNNING]
    ).count()


def segment_enrolment_sweep(*, now=None) -> int:
    """Wake a worker for every queued or running job no live run holds."""
    return jobs_wake(
        SegmentEnrolment.objects.all(),
        running=Status.RUNNING,
        queued=Status.QUEUED,
        task=segment_enrolment_task,
        now=now,
        label="Segment enrolment",
    )


def segment_enrolment_problems(limit: int) -> list[Problem]:
    """Failed jobs, and running ones whose worker stopped renewing its lease."""
    jobs = jobs_in_trouble(
        SegmentEnrolment.objects.select_related("sequence"),
        running=Status.RUNNING,
        failed=Status.FAILED,
        limit=limit,
    )
    return [
        Problem(
            pk=job.pk,
            title=f"“{job.segment_name}” into {job.sequence.name} · "
            f"{job.members:,} of {job.total or 0:,}",
            state=job.trouble,
            detail=job.message,
            since=job.created_at,
            url=job.get_absolute_url(),
        )
        for job in jobs
    ]


def segment_enrolment_retry(pk: int) -> bool:
    job = SegmentEnrolment.objects.filter(pk=pk).first()
    return job is not None and segment_enrolment_resume(job=job)


def _enrol(chunk, job: SegmentEnrolment) -> tuple[dict, int]:
    """Count the chunk's members by skip reason, then enrol the rest in one INSERT … SELECT."""
    sequence, user = job.sequence, job.created_by
    now = timezone.now()
    in_sequence = Exists(Enrollment.objects.filter(sequence=sequence, lead_id=OuterRef("pk")))
    emailable = Q(marketing_consent=True, unsubscribed_at__isnull=True) & ~Q(email="")
    closed = Q(status__in=[LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
    counts = chunk.aggregate(
        members=Count("pk"),
        already=Count("pk", filter=Q(in_sequence)),
        closed=Count("pk", filter=~Q(in_sequence) & closed),
        no_consent=Count("pk", filter=~Q(in_sequence) & ~closed & ~emailable),
    )
    first = _first_step(sequence)
    if first is None:
        state, position, next_step_at, finished_at = EnrollmentState.COMPLETED, 1, None, now
    else:
        state, position, finished_at = EnrollmentState.ACTIVE, first.position, None
        next_step_at = now + timedelta(days=first.delay_days)
    rows = (
        chunk.filter(emailable)
        .exclude(closed)
        .exclude(in_sequence)
        .annotate(
            e_sequence=Value(sequence.pk, output_field=IntegerField()),
            e_state=Value(state, output_field=CharField()),
            e_stop_reason=Value("", output_field=CharField()),
            e_next_position=Value(position, output_field=IntegerField()),
            e_next_step_at=Value(next_step_at, output_field=DateTimeField()),
            e_steps_done=Value(0, output_field=IntegerField()),
            e_enrolled_by=Value(user.pk, output_field=IntegerField()),
            e_created_at=Value(now, output_field=DateTimeField()),
            e_finished_at=Value(finished_at, output_field=DateTimeField()),
        )
        .values_list(
            "e_sequence",
            "pk",
            "e_state",
            "e_stop_reason",
            "e_next_position",
            "e_next_step_at",
            "e_steps_done",
            "e_enrolled_by",
            "e_created_at",
            "e_finished_at",
        )
    )
    return {k: v or 0 for k, v in counts.items()}, insert_select(Enrollment, ENROLMENT_FIELDS, rows)


def _record(job: SegmentEnrolment) -> None:
    """The sequence's timeline says who enrolled which segment and how many joined (written with
    the last chunk, so once)."""
    enrolled = SegmentEnrolment.objects.values_list("enrolled", flat=True).get(pk=job.pk)
    who = job.created_by.get_full_name() or job.created_by.username
    system_event(
        subject=job.sequence,
        summary=f"{enrolled:,} lead{'' if enrolled == 1 else 's'} of the segment "
        f"“{job.segment_name}” enrolled by {who}",
    )
