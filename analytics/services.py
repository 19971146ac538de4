"""Analytics writes: the CLV refit (one at a time) and the nightly metric snapshots.

Both (and the rollups) are claimed through a ``JobLock`` row with one conditional UPDATE, so a
second worker (or a second click) finds the job taken and does nothing. The claim is a lease: a
worker killed mid-run holds the job only until its lease runs out, and the sweep then starts the
job again (``jobs_sweep``), as it starts a requested refit whose message was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Round
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from analytics.choices import Metric
from analytics.models import LEGACY_CLAIM, CLVFit, DailyMetric, JobLock
from crm.currencies import rate_expression
from crm.work import worker_name

logger = logging.getLogger(__name__)

CLV_REFIT = "clv_refit"
DAILY_SNAPSHOTS = "daily_snapshots"
ROLLUPS_JOB = "rollups"
STALE_AFTER = LEGACY_CLAIM

#: How long each job's claim holds unless renewed: a little over its task's hard time limit, when
#: the worker is killed anyway; the rollups renew theirs at each rollup they rewrite. A claim
#: whose lease ran out belongs to a dead worker: the next run, or the sweep, takes the job over.
LEASES = {
    CLV_REFIT: dt.timedelta(minutes=31),
    DAILY_SNAPSHOTS: dt.timedelta(minutes=16),
    ROLLUPS_JOB: dt.timedelta(minutes=15),
}
#: The task that runs each job, for the sweep (dotted paths: tasks import this module).
TASKS = {
    CLV_REFIT: "analytics.tasks.clv_refit",
    DAILY_SNAPSHOTS: "analytics.tasks.daily_snapshots",
    ROLLUPS_JOB: "analytics.tasks.rollups_refresh",
}
#: A refit asked for this long ago and not started lost its message: the sweep starts it.
REQUEST_GRACE = dt.timedelta(seconds=30)
#: What a run that failed (rather than skipped, e.g. with no orders to fit) leaves.
FAILED = "failed; see the worker log"


def _lock(name: str) -> JobLock:
    lock, _ = JobLock.objects.get_or_create(name=name)
    return lock


def _lease(name: str) -> dt.timedelta:
    return LEASES.get(name, STALE_AFTER)


def _free(now) -> Q:
    """Nobody runs the job: never claimed, released, or the claimer's lease ran out."""
    return (
        Q(running_since__isnull=True)
        | Q(lease_until__lt=now)
        | Q(lease_until__isnull=True, running_since__lt=now - STALE_AFTER)
    )


def job_claim(name: str) -> dt.datetime | None:
    """Take the job if nobody runs it (or its runner died: the lease ran out); the claim's time,
    else None. A second run in the same worker process is refused too."""
    _lock(name)
    now = timezone.now()
    claimed = (
        JobLock.objects.filter(name=name)
        .filter(_free(now))
        .update(running_since=now, lease_owner=worker_name(), lease_until=now + _lease(name))
    )
    return now if claimed else None


def job_renew(name: str, claimed_at: dt.datetime) -> bool:
    """Extend the claim at a step of the job; False if it was lost (the run should stop)."""
    return bool(
        JobLock.objects.filter(name=name, running_since=claimed_at).update(
            lease_until=timezone.now() + _lease(name)
        )
    )


def job_release(name: str, claimed_at: dt.datetime, *, error: str = "") -> None:
    JobLock.objects.filter(name=name, running_since=claimed_at).update(
        running_since=None,
        lease_owner="",
        lease_until=None,
        finished_at=timezone.now(),
        last_error=error[:2000],
    )


def jobs_sweep(*, now=None) -> int:
    """Start again every job whose run died (claimed, and the lease ran out), and a refit
    someone asked for whose message was lost; returns how many tasks it woke. A job woken
    twice runs once at a time: its claim."""
    from crm.work import enqueue_quietly

    now = now or timezone.now()
    asked = Q(requested_at__lt=now - REQUEST_GRACE) & (
        Q(finished_at__isnull=True) | Q(finished_at__lt=F("requested_at"))
    )
    due = JobLock.objects.filter(_free(now), name__in=list(TASKS)).filter(
        Q(running_since__isnull=False) | asked
    )
    names = sorted(due.values_list("name", flat=True))
    for name in names:
        enqueue_quietly(import_string(TASKS[name]))
    if names:
        logger.info("Analytics sweep: started %s again", ", ".join(names))
    return len(names)


def jobs_problems(limit: int) -> list:
    """Jobs whose run died and was not yet taken over, and jobs whose last run failed."""
    from crm.work import Problem

    now = timezone.now()
    locks = JobLock.objects.filter(
        Q(running_since__isnull=False, lease_until__lt=now)
        | Q(running_since__isnull=True, last_error__startswith=FAILED)
    ).order_by("name")[:limit]
    return [
        Problem(
            pk=lock.pk,
            title=lock.name.replace("_", " ").capitalize(),
            state="Stopped (its worker died)" if lock.running_since else "Failed",
            detail=lock.last_error,
            since=lock.running_since or lock.finished_at,
            url=reverse("admin:analytics_joblock_change", args=[lock.pk]),
        )
        for lock in locks
    ]


def jobs_retry(pk: int) -> bool:
    """Run a job again now (it still runs once at a time: its claim)."""
    from crm.work import enqueue_quietly

    lock = JobLock.objects.filter(pk=pk).first()
    if lock is None or lock.name not in TASKS or lock.is_running:
        return False
    transaction.on_commit(lambda: enqueue_quietly(import_string(TASKS[lock.name])))
    return True


def clv_refit_status() -> JobLock | None:
    return JobLock.objects.filter(name=CLV_REFIT).first()


def clv_refit_request(*, user) -> bool:
    """Ask for a refit after this transaction commits; False (nothing queued) when a fit is
    already running."""
    from analytics.tasks import clv_refit

    lock = _lock(CLV_REFIT)
    if lock.is_running:
        return False
    JobLock.objects.filter(pk=lock.pk).update(requested_at=timezone.now(), requested_by=user)
    transaction.on_commit(clv_refit.delay)
    return True


def clv_refit_run() -> CLVFit | None:
    """Fit the CLV models on the orders and store the values, unless a fit is running.
    Returns the new fit, or None when another run holds the job or the orders cannot be fitted
    (the reason is kept on the lock row for the dashboard)."""
    from analytics.clv.orders import NoOrdersTable, fit_from_orders

    claimed_at = job_claim(CLV_REFIT)
    if claimed_at is None:
        return None
    try:
        fit = fit_from_orders()
    except (NoOrdersTable, ValueError) as error:
        logger.warning("CLV refit skipped: %s", error)
        job_release(CLV_REFIT, claimed_at, error=str(error))
        return None
    except BaseException:
        job_release(CLV_REFIT, claimed_at, error=FAILED)
        raise
    job_release(CLV_REFIT, claimed_at)
    from analytics.rollups import snapshot_refresh

    snapshot_refresh("customer_values")
    return fit


# Daily snapshots -----------------------------------------------------------------------------


MONEY = DecimalField(max_digits=20, decimal_places=2)


def _open_values(deals, day: dt.date):
    """Open deals per owner: how many, their value and weighted value in the company currency,
    each at the rate of its expected close date (``day`` when none), as the pipeline dashboard
    converts them; a deal without a rate counts but adds nothing."""
    converted = ExpressionWrapper(Round(F("amount") * F("rate"), 2), output_field=MONEY)
    weighted = ExpressionWrapper(
        F("amount") * F("rate") * F("probability") / Value(100), output_field=MONEY
    )
    return (
        deals.order_by()
        .annotate(rate_day=Coalesce(F("expected_close_date"), Value(day)))
        .annotate(rate=rate_expression(date_field="rate_day"))
        .values("owner_id")
        .annotate(n=Count("id"), value=Sum(converted), weighted=Sum(weighted))
    )


def _snapshot_rows(day: dt.date) -> list[DailyMetric]:
    from sales.choices import StageKind
    from sales.models import Opportunity
    from support.choices import ACTIVE_STATUSES
    from support.models import Ticket

    rows = []
    for r in _open_values(Opportunity.objects.filter(status=StageKind.OPEN), day):
        for metric, value in (
            (Metric.PIPELINE_OPEN_COUNT, r["n"]),
            (Metric.PIPELINE_OPEN_VALUE, r["value"]),
            (Metric.PIPELINE_WEIGHTED, r["weighted"]),
        ):
            rows.append(
                DailyMetric(
                    date=day,
                    metric=metric,
                    owner_id=r["owner_id"],
                    value=Decimal(value or 0).quantize(Decimal("0.01")),
                )
            )
    for r in (
        Ticket.objects.filter(status__in=ACTIVE_STATUSES, merged_into__isnull=True)
        .order_by()
        .values("assignee_id", "status", "priority")
        .annotate(n=Count("id"))
    ):
        rows.append(
            DailyMetric(
                date=day,
                metric=Metric.TICKETS_ACTIVE,
                dimension=f"{r['status']}:{r['priority']}",
                owner_id=r["assignee_id"],
                value=r["n"],
            )
        )
    return rows


def daily_snapshots_take(*, day: dt.date | None = None) -> int | None:
    """Record today's (or ``day``'s) pipeline and backlog per owner. A rerun the same day
    replaces that day's rows, so it leaves exactly one set. Returns the rows written, or None
    when another run holds the job."""
    day = day or timezone.localdate()
    claimed_at = job_claim(DAILY_SNAPSHOTS)
    if claimed_at is None:
        return None
    try:
        with transaction.atomic():
            rows = _snapshot_rows(day)
            DailyMetric.objects.filter(date=day).delete()
            DailyMetric.objects.bulk_create(rows, batch_size=2000)
    finally:
        job_release(DAILY_SNAPSHOTS, claimed_at)
    return len(rows)


def daily_snapshots_backfill(*, days: int, today: dt.date | None = None) -> int:
    """Reconstruct the pipeline and backlog snapshots of the ``days`` days before ``today`` that
    have none (a new install, or the demo data), from when deals and tickets opened and closed.

    An approximation, said so on purpose: a past day's deal is counted at its current amount
    and probability, and a past day's active ticket at its current priority with the status
    "open". Days that already have rows are left alone, so a rerun writes nothing."""
    from sales.choices import StageKind
    from sales.models import Opportunity
    from support.choices import ACTIVE_STATUSES
    from support.models import Ticket

    today = today or timezone.localdate()
    have = set(
        DailyMetric.objects.filter(date__gte=today - dt.timedelta(days=days), date__lt=today)
        .values_list("date", flat=True)
        .distinct()
    )
    written = 0
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        if day in have:
            continue
        end = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
        rows = []
        open_then = Q(created_at__lt=end) & (
            Q(closed_at__isnull=True, status=StageKind.OPEN) | Q(closed_at__gte=end)
        )
        for r in _open_values(Opportunity.objects.filter(open_then), day):
            for metric, value in (
                (Metric.PIPELINE_OPEN_COUNT, r["n"]),
                (Metric.PIPELINE_OPEN_VALUE, r["value"]),
                (Metric.PIPELINE_WEIGHTED, r["weighted"]),
            ):
                rows.append(
                    DailyMetric(
                        date=day,
                        metric=metric,
                        owner_id=r["owner_id"],
                        value=Decimal(value or 0).quantize(Decimal("0.01")),
                    )
                )
        active_then = Q(created_at__lt=end, merged_into__isnull=True) & (
            Q(resolved_at__isnull=True, status__in=ACTIVE_STATUSES) | Q(resolved_at__gte=end)
        )
        for r in (
            Ticket.objects.filter(active_then)
            .order_by()
            .values("assignee_id", "priority")
            .annotate(n=Count("id"))
        ):
            rows.append(
                DailyMetric(
                    date=day,
                    metric=Metric.TICKETS_ACTIVE,
                    dimension=f"open:{r['priority']}",
                    owner_id=r["assignee_id"],
                    value=r["n"],
                )
            )
        with transaction.atomic():
            DailyMetric.objects.bulk_create(rows, batch_size=2000)
        written += len(rows)
    return written
