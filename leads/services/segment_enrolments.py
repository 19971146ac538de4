"""Enrolling a lead segment into a sequence, in the background and in chunks.

A ``SegmentEnrolment`` row is the job. A run claims it with one conditional UPDATE (queued →
running, or a run already holding it: the same Celery task retried or redelivered after a
crashed worker, or a run gone silent for ``STALE_AFTER``), then walks the members the asking
user may see by lead id, ``CHUNK_SIZE`` at a time. Each chunk is one transaction: it locks the
job row, checks the cursor is still where this run left it, counts the chunk's members by skip
reason, enrols the rest with one INSERT … SELECT (the enrolment's unique constraint ignores a
lead enrolled meanwhile) and moves the cursor and counts. A crash loses at most the chunk in
flight, whose counts roll back with it, so a resumed run counts and enrols every member once.
"""

import uuid
from datetime import timedelta

from django.db import transaction
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
from crm.segments.selectors import segment_members
from crm.services.timeline import system_event
from leads.choices import EnrollmentState, LeadStatus, SegmentEnrolmentStatus
from leads.models import SEGMENT_ENROLMENT_STALE_AFTER, Enrollment, SegmentEnrolment, Sequence
from leads.services.sequences import _first_step
from leads.tasks import segment_enrolment_run as segment_enrolment_task

CHUNK_SIZE = 20_000
STALE_AFTER = SEGMENT_ENROLMENT_STALE_AFTER

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
    """Record the request as a queued job and start its task once the transaction commits."""
    if segment.target != "lead":
        raise ValueError("Only a segment of leads can be enrolled in a sequence.")
    job = SegmentEnrolment.objects.create(
        sequence=sequence, segment=segment, segment_name=str(segment)[:200], created_by=user
    )
    _enqueue(job.pk)
    return job


def segment_enrolment_resume(*, job: SegmentEnrolment) -> bool:
    """Start a failed job again, or a queued or running one that has stalled (its message lost,
    its worker gone); it goes on from its last committed chunk. False if there is nothing to do."""
    updated = SegmentEnrolment.objects.filter(pk=job.pk, status__in=_from(Status.QUEUED)).update(
        status=Status.QUEUED, message="", run_token=""
    )
    if not updated:
        job.refresh_from_db()
        if not job.is_stalled:
            return False
    _enqueue(job.pk)
    return True


def _enqueue(job_id: int) -> None:
    transaction.on_commit(lambda: segment_enrolment_task.delay(job_id))


def segment_enrolment_claim(*, job_id: int, token: str, now=None) -> bool:
    """Make ``token``'s run the job's only runner, in one UPDATE; False if another run holds it
    (or it is finished or gone)."""
    now = now or timezone.now()
    return bool(
        SegmentEnrolment.objects.filter(pk=job_id)
        .filter(
            Q(status=Status.QUEUED)
            | Q(status=Status.RUNNING, run_token=token)
            | Q(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
            | Q(status=Status.RUNNING, heartbeat_at__isnull=True)
        )
        .update(status=Status.RUNNING, run_token=token, heartbeat_at=now)
    )


def segment_enrolment_fail(*, job_id: int, message: str, token: str | None = None) -> bool:
    """Stop a job with a message the user reads; its committed chunks stay."""
    jobs = SegmentEnrolment.objects.filter(pk=job_id, status__in=_from(Status.FAILED))
    if token is not None:
        jobs = jobs.filter(run_token=token)
    return bool(jobs.update(status=Status.FAILED, message=message[:2000]))


def segment_enrolment_run(
    *,
    job_id: int,
    token: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    crash_after_chunks: int | None = None,
) -> SegmentEnrolment | None:
    """Run (or resume) a job to the end; None if it is gone. ``token`` names the run (the Celery
    task id, the same on a retry); ``crash_after_chunks`` is for tests."""
    token = token or uuid.uuid4().hex
    if not segment_enrolment_claim(job_id=job_id, token=token):
        return SegmentEnrolment.objects.filter(pk=job_id).first()
    job = (
        SegmentEnrolment.objects.select_related("sequence", "segment", "created_by")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return None
    if job.created_by is None or job.segment is None:
        gone = "user who asked" if job.created_by is None else "segment"
        segment_enrolment_fail(job_id=job.pk, token=token, message=f"The {gone} was deleted.")
        return SegmentEnrolment.objects.filter(pk=job_id).first()
    members = segment_members(job.segment, job.created_by).order_by()
    if job.total is None:
        total = members.count()
        SegmentEnrolment.objects.filter(pk=job.pk, run_token=token).update(
            total=total, started_at=timezone.now()
        )
    chunks = 0
    cursor = job.last_lead_id
    while cursor is not None:
        cursor = _commit_chunk(job, members, cursor, token, chunk_size)
        chunks += 1
        if crash_after_chunks is not None and chunks >= crash_after_chunks and cursor:
            raise RuntimeError("simulated crash")
    return SegmentEnrolment.objects.filter(pk=job_id).first()  # None if deleted meanwhile


def _commit_chunk(job: SegmentEnrolment, members, cursor: int, token: str, size: int):
    """Enrol the members after ``cursor`` up to ``size`` of them; the next cursor, or None when
    the job is finished (or another run took it over)."""
    with transaction.atomic():
        locked = SegmentEnrolment.objects.select_for_update().filter(pk=job.pk).first()
        if (
            locked is None
            or locked.status != Status.RUNNING
            or locked.run_token != token
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
            "heartbeat_at": now,
        }
        if upper:
            changes["last_lead_id"] = upper[0]
        else:
            changes.update(status=Status.DONE, finished_at=now)
        SegmentEnrolment.objects.filter(pk=job.pk).update(**changes)
        if not upper:
            _record(job)
    return upper[0] if upper else None


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
