"""NPS surveys: runs to a contact segment or to the contacts of paying accounts (throttled), the
single-use answer, and what an answer sets off (a task for a detractor, an advocate for a
promoter).

A run is a durable job (``crm.work``): queued by the manager, leased by the worker that sends
it, batch by batch, and taken up by the sweep if its message is lost or its worker dies."""

import datetime as dt
import secrets

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone

from crm.faults import SimulatedKill
from crm.models import Contact
from crm.segments.selectors import segment_members, segments_usable_by
from crm.services.outbox import OutboxMessage, email_queue_many
from crm.services.timeline import system_event, task_create
from crm.work import (
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    jobs_wake,
    lease_end,
    lease_free,
    lease_release,
    lease_take,
    worker_name,
)
from retention.choices import PAYING_STATUSES, NpsCategory, NpsRunStatus, nps_category
from retention.models import Advocate, NpsRun, NpsSurvey, Subscription
from retention.tasks import nps_run_send as nps_run_send_task


def throttle_days() -> int:
    return int(getattr(settings, "NPS_THROTTLE_DAYS", 90))


def eligible_contacts(*, now=None, run: NpsRun | None = None):
    """Contacts to ask in ``run``: the members of its segment that its creator may see or,
    without a segment, the contacts of accounts with a paying subscription; in both cases only
    contacts of an account, with an email and consent to service email, not asked in the
    throttle period."""
    now = now or timezone.now()
    recent = NpsSurvey.objects.filter(
        contact_id=OuterRef("pk"), sent_at__gte=now - dt.timedelta(days=throttle_days())
    )
    if run is not None and run.segment_id is not None:
        if run.segment.target != "contact":
            return Contact.objects.none()
        contacts = segment_members(run.segment, run.created_by)
    else:
        paying = Subscription.objects.filter(
            account_id=OuterRef("account_id"), status__in=PAYING_STATUSES
        )
        contacts = Contact.objects.filter(Exists(paying))
    return (
        contacts.filter(account__isnull=False, email_consent=True)
        .exclude(email="")
        .exclude(Exists(recent))
    )


@transaction.atomic
def nps_run_create(*, name: str, user=None, segment=None) -> NpsRun:
    """A run to ``segment`` (a contact segment ``user`` may use) or, without one, to the
    contacts of paying accounts."""
    if segment is not None:
        if segment.target != "contact":
            raise ValueError("NPS runs go to a segment of contacts.")
        if user is None or not segments_usable_by(user, "contact").filter(pk=segment.pk).exists():
            raise ValueError("This segment is not yours to use.")
    return NpsRun.objects.create(name=name, created_by=user, segment=segment)


def nps_run_start(*, name: str, user, segment=None) -> NpsRun:
    """Create a run (named "NPS <date>" when no name is given), queued, and wake a worker to send
    it once the run is committed; if that message is lost, the sweep finds the queued run."""
    run = nps_run_create(
        name=name.strip() or f"NPS {timezone.localdate()}", user=user, segment=segment
    )
    transaction.on_commit(lambda: enqueue_quietly(nps_run_send_task, run.pk))
    return run


def survey_url(survey: NpsSurvey) -> str:
    from support import surveys

    token = surveys.make_token(kind="nps", key=survey.key)
    return getattr(settings, "SITE_URL", "") + reverse("support:survey", args=[token])


class _LeaseLost(Exception):
    pass


def nps_run_send(
    *,
    run_id: int,
    batch_size: int = 500,
    owner: str | None = None,
    crash_after_batches: int | None = None,
) -> int:
    """Send a run to every eligible contact, in batches, once: survey rows are unique per run
    and contact, and each email's key names its survey (one bulk outbox insert per batch).
    Returns how many were sent now.

    The run is leased first (queued → sending), so a second worker woken for it returns at
    once; each batch commits its surveys, their emails, the progress and a renewed lease
    together. A run whose worker died is taken up by the sweep when the lease runs out and goes
    on with the contacts not yet asked. ``crash_after_batches`` is for tests."""
    owner = owner or worker_name()
    runs = NpsRun.objects.filter(pk=run_id, status__in=[NpsRunStatus.QUEUED, NpsRunStatus.SENDING])
    if not lease_take(runs, owner=owner, status=NpsRunStatus.SENDING):
        return 0
    run = NpsRun.objects.select_related("segment", "created_by").get(pk=run_id)
    mine = NpsRun.objects.filter(pk=run.pk, lease_owner=owner)
    sent = 0
    try:
        if run.total is None:
            mine.update(
                total=eligible_contacts(run=run).count(),
                started_at=timezone.now(),
                lease_until=lease_end(),
            )
        batches = 0
        while created := _send_batch(run, owner, batch_size):
            sent += created
            batches += 1
            if crash_after_batches is not None and batches >= crash_after_batches:
                raise SimulatedKill
    except _LeaseLost:
        return sent
    except (OperationalError, SoftTimeLimitExceeded):
        # A database hiccup (the task retries) or the time limit: given back still sending, so a
        # retry or the next sweep goes on with the contacts not yet asked.
        lease_release(mine, owner=owner)
        raise
    except Exception as exc:
        lease_release(
            mine,
            owner=owner,
            status=NpsRunStatus.FAILED,
            message=f"Stopped on an unexpected error ({type(exc).__name__}); the surveys "
            "before it are sent. Retry once it is fixed.",
        )
        raise
    lease_release(
        mine,
        owner=owner,
        status=NpsRunStatus.DONE,
        finished_at=timezone.now(),
        sent_count=NpsSurvey.objects.filter(run=run).count(),
    )
    return sent


def _send_batch(run: NpsRun, owner: str, batch_size: int) -> int:
    """Ask the next ``batch_size`` contacts in one transaction; how many were asked (0: done)."""
    contact_type_id = ContentType.objects.get_for_model(Contact).pk
    now = timezone.now()
    with transaction.atomic():
        # The run row is the batch's lock: a run that lost its lease meanwhile finds out here.
        locked = NpsRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.lease_owner != owner or locked.status != NpsRunStatus.SENDING:
            raise _LeaseLost
        batch = list(
            eligible_contacts(now=now, run=run)
            .exclude(nps_surveys__run=run)
            .order_by("pk")
            .values_list("pk", "account_id")[:batch_size]
        )
        if not batch:
            return 0
        NpsSurvey.objects.bulk_create(
            [
                NpsSurvey(
                    run=run,
                    contact_id=contact_id,
                    account_id=account_id,
                    key=secrets.token_urlsafe(24),
                    sent_at=now,
                )
                for contact_id, account_id in batch
            ],
            ignore_conflicts=True,
        )
        created = list(
            NpsSurvey.objects.filter(
                run=run, contact_id__in=[contact_id for contact_id, _ in batch]
            ).select_related("contact")
        )
        email_queue_many(
            messages=[
                OutboxMessage(
                    to_email=survey.contact.email,
                    subject=f"How likely are you to recommend us, {survey.contact.first_name}?".replace(
                        " ,", ","
                    ).replace(" ?", "?"),
                    body_text=(
                        f"Hello {survey.contact.full_name},\n\nOn a scale from 0 to 10, how "
                        f"likely are you to recommend us to a friend or colleague? One click:"
                        f"\n\n{survey_url(survey)}\n\nThank you!\n"
                    ),
                    idempotency_key=f"retention:nps:{survey.pk}",
                    content_type_id=contact_type_id,
                    object_id=survey.contact_id,
                )
                for survey in created
            ]
        )
        NpsRun.objects.filter(pk=run.pk).update(
            sent_count=F("sent_count") + len(created), lease_until=lease_end()
        )
    return len(created)


def nps_run_pending() -> int:
    """Survey runs waiting for or sending (the queue depth metric)."""
    return NpsRun.objects.filter(status__in=[NpsRunStatus.QUEUED, NpsRunStatus.SENDING]).count()


def nps_run_sweep(*, now=None) -> int:
    """Wake a worker for every queued or sending run no live worker holds."""
    return jobs_wake(
        NpsRun.objects.all(),
        running=NpsRunStatus.SENDING,
        queued=NpsRunStatus.QUEUED,
        task=nps_run_send_task,
        now=now,
        label="NPS run",
    )


def nps_run_problems(limit: int) -> list[Problem]:
    """Failed runs, and sending ones whose worker stopped renewing its lease."""
    runs = jobs_in_trouble(
        NpsRun.objects.all(),
        running=NpsRunStatus.SENDING,
        failed=NpsRunStatus.FAILED,
        limit=limit,
    )
    return [
        Problem(
            pk=run.pk,
            title=f"{run.name} · {run.sent_count:,} of {run.total or 0:,} asked",
            state=run.trouble,
            detail=run.message,
            since=run.created_at,
            url=reverse("admin:retention_npsrun_change", args=[run.pk]),
        )
        for run in runs
    ]


def nps_run_retry(pk: int) -> bool:
    """Send a failed run again (each contact still once), or wake a worker for a stalled one."""
    now = timezone.now()
    restarted = NpsRun.objects.filter(pk=pk, status=NpsRunStatus.FAILED).update(
        status=NpsRunStatus.QUEUED, message="", lease_owner="", lease_until=None
    )
    stalled = NpsRun.objects.filter(
        lease_free(now), pk=pk, status__in=[NpsRunStatus.QUEUED, NpsRunStatus.SENDING]
    )
    if not restarted and not stalled.exists():
        return False
    transaction.on_commit(lambda: enqueue_quietly(nps_run_send_task, pk))
    return True


@transaction.atomic
def nps_answer(*, survey: NpsSurvey, score: int, comment: str = "") -> bool:
    """Record the answer once (a conditional UPDATE: a second submit changes nothing). A
    detractor gives the account owner a task; a promoter becomes an advocacy candidate."""
    if not 0 <= score <= 10:
        raise ValueError("NPS scores run from 0 to 10.")
    now = timezone.now()
    updated = NpsSurvey.objects.filter(pk=survey.pk, answered_at__isnull=True).update(
        score=score, comment=comment[:5000], answered_at=now
    )
    if not updated:
        return False
    survey = NpsSurvey.objects.select_related("contact", "account", "account__owner").get(
        pk=survey.pk
    )
    category = nps_category(score)
    system_event(
        subject=survey.contact,
        summary=f"NPS answer: {score} ({NpsCategory(category).label.lower()})",
        body=comment,
    )
    owner = survey.account.owner
    if category == NpsCategory.DETRACTOR and owner is not None:
        task_create(
            title=f"Follow up on NPS {score} from {survey.contact.full_name} ({survey.account.name})"[
                :200
            ],
            due_at=now + dt.timedelta(days=2),
            assignee=owner,
            subject=survey.contact,
            notes=comment,
        )
    elif category == NpsCategory.PROMOTER:
        advocate_candidate(contact=survey.contact, survey=survey)
    return True


def new_code() -> str:
    return secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")[:10]


def advocate_candidate(*, contact, survey=None) -> Advocate:
    """The contact's advocate record (made once), with their referral code."""
    advocate = Advocate.objects.filter(contact=contact).first()
    if advocate is not None:
        return advocate
    advocate, _ = Advocate.objects.get_or_create(
        contact=contact,
        defaults={"account_id": contact.account_id, "code": new_code(), "source_survey": survey},
    )
    return advocate
