"""Durable work: the row in the database is the truth; the broker only wakes a worker.

Every piece of background work the product promises (an outbound email, an import, a segment
enrolment, an NPS run…) is a row with a state. A worker *takes a lease* on a row before working
on it (``lease_owner`` names the worker, ``lease_until`` when the claim runs out), renews it at
each checkpoint, and gives it back when done. A worker that is killed simply stops renewing.

The sweep (``crm.tasks.work_sweep``, run by beat every ``WORK_SWEEP_SECONDS``) asks every kind
of work registered in ``crm.registry.work`` for rows that are due and not being worked on, or
whose lease ran out, and wakes a worker for each. So a lost message, a flushed broker or a killed
worker delays work by about one sweep period and one lease, but never drops it; and because a
row can be leased by one worker at a time, a row woken twice is still worked once.

A worker told to stop (SIGTERM, ``crm.workers``) does not wait for its lease to run out either:
at its next checkpoint ``lease_renew`` gives the row up (``lease_hand_over``) and the task is
queued again once it returns, so another worker goes on from that checkpoint at once.
"""

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

#: Told apart from a process that later reuses the same pid on the same host.
_PROCESS_NONCE = secrets.token_hex(3)


def worker_name() -> str:
    """Who holds a lease: host, process id and a per-process nonce (shown to operators)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_NONCE}"[:120]


def lease_seconds() -> int:
    return int(settings.WORK_LEASE_SECONDS)


def lease_end(now: datetime | None = None, seconds: int | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=seconds or lease_seconds())


class Leased(models.Model):
    """The lease columns of a row of durable work."""

    # Database defaults too, so set-based inserts (``crm.db.insert_rows``) may leave them out.
    lease_owner = models.CharField(
        max_length=120,
        blank=True,
        default="",
        db_default="",
        help_text="The worker working on this row, while leased.",
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="When the worker's claim runs out unless renewed."
    )

    class Meta:
        abstract = True

    def lease_lapsed(self, *, since: datetime, grace: timedelta) -> bool:
        """No worker holds the row: its lease ran out, or, never leased, it has waited since
        ``since`` for longer than ``grace``."""
        now = timezone.now()
        if self.lease_until is not None:
            return self.lease_until < now  # its worker stopped renewing the lease
        return since < now - grace


def lease_free(now: datetime | None = None) -> Q:
    """Rows nobody holds: never leased, given back, or the holder's lease ran out."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now or timezone.now())


def lease_take(
    queryset: models.QuerySet, *, owner: str, seconds: int | None = None, **fields
) -> bool:
    """Lease the row(s) of ``queryset`` (usually one pk plus the states it may be in) unless a
    live lease of another worker holds them; ``fields`` are written in the same UPDATE. One
    conditional UPDATE, so of two workers woken for one row exactly one gets it.

    A worker that is shutting down (``stop_requested``) takes nothing: a message it still
    receives is queued again when its task returns (``crm.workers``), for a worker that stays."""
    if stop_requested():
        _handed_over.set()
        return False
    now = timezone.now()
    return bool(
        queryset.filter(lease_free(now) | Q(lease_owner=owner)).update(
            lease_owner=owner, lease_until=lease_end(now, seconds), **fields
        )
    )


def lease_renew(queryset: models.QuerySet, *, owner: str, seconds: int | None = None) -> bool:
    """Extend our lease (at a checkpoint); False when it was lost to the sweep and another
    worker, in which case the caller stops working on the row.

    Also False when this worker is shutting down (``stop_requested``): the lease is then given
    up at this checkpoint and the task queued again (``lease_hand_over``), so another worker goes
    on from here at once instead of after the lease runs out."""
    if stop_requested():
        lease_hand_over(queryset, owner=owner)
        return False
    return bool(queryset.filter(lease_owner=owner).update(lease_until=lease_end(seconds=seconds)))


def lease_release(queryset: models.QuerySet, *, owner: str, **fields) -> bool:
    """Give the row back (with its final state in ``fields``), if we still hold it."""
    return bool(
        queryset.filter(lease_owner=owner).update(lease_owner="", lease_until=None, **fields)
    )


# --- stopping workers ---------------------------------------------------------------------------

#: Set when this worker process was asked to stop (SIGTERM, see ``crm.workers``): long work
#: stops at its next checkpoint instead of running on until the process is killed.
_stop = threading.Event()


def stop_requested() -> bool:
    return _stop.is_set()


def request_stop() -> None:
    _stop.set()


#: Set when work of the running task was handed over at a checkpoint (``lease_hand_over``):
#: the task is queued again once it returns (``crm.workers``).
_handed_over = threading.Event()


def lease_hand_over(queryset: models.QuerySet, *, owner: str) -> bool:
    """Stop working on our row(s) at a checkpoint, leaving their state as it is: the lease runs
    out now (so every sweep and ``lease_take`` sees them free), and once the task returns it is
    queued again for another worker. True if we still held the row."""
    _handed_over.set()
    return bool(queryset.filter(lease_owner=owner).update(lease_until=timezone.now()))


def handed_over_take() -> bool:
    """Whether the task that just ran handed work over (and forget it)."""
    handed = _handed_over.is_set()
    _handed_over.clear()
    return handed


def leased_models() -> list[type[models.Model]]:
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Leased)]


def leases_expire_mine(owner: str | None = None) -> int:
    """When a worker process exits: every lease it still holds runs out now, so the sweep hands
    those rows to another worker on its next round instead of after the lease. Returns how many
    rows; never raises (the database may be what is failing)."""
    owner = owner or worker_name()
    now = timezone.now()
    count = 0
    for model in leased_models():
        try:
            count += model._default_manager.filter(lease_owner=owner, lease_until__gt=now).update(
                lease_until=now
            )
        except Exception:
            logger.warning("Could not give up the leases on %s", model.__name__, exc_info=True)
    if count:
        logger.warning("Stopping: gave up the lease on %s row(s) still held", count)
    return count


# --- what operators see -----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One row an operator should look at: failed, uncertain, or stuck."""

    pk: int
    title: str
    state: str
    detail: str
    since: datetime | None
    url: str = ""
    retryable: bool = True


@dataclass(frozen=True)
class WorkKind:
    """A kind of durable work. Each callable may be given as a dotted path (imported on use):

    - ``sweep()`` wakes a worker for every row that is due and free or whose lease ran out, and
      returns how many it woke;
    - ``problems(limit)`` lists rows for the operators' page (failed, uncertain, stuck);
    - ``retry(pk)`` puts one failed row back to work safely, True if it did;
    - ``pending()`` (optional) counts rows waiting for or held by a worker, for the queue depth
      metric (``crm.metrics``).
    """

    name: str
    label: str
    sweep: Callable[[], int] | str
    problems: Callable[[int], list[Problem]] | str
    retry: Callable[[int], bool] | str
    pending: Callable[[], int] | str | None = None

    def call(self, attr: str, *args):
        func = getattr(self, attr)
        if isinstance(func, str):
            func = import_string(func)
        return func(*args)


class WorkRegistry:
    def __init__(self):
        self._kinds: dict[str, WorkKind] = {}

    def register(self, name: str, *, label: str, sweep, problems, retry, pending=None) -> None:
        self._kinds[name] = WorkKind(name, label, sweep, problems, retry, pending)

    def kinds(self) -> list[WorkKind]:
        return list(self._kinds.values())

    def get(self, name: str) -> WorkKind | None:
        return self._kinds.get(name)


def work_sweep(registry: WorkRegistry | None = None) -> dict[str, int]:
    """Run every kind's sweep; one kind's error is logged and does not stop the others."""
    from crm.models import WorkHeartbeat
    from crm.registry import work

    WorkHeartbeat.objects.update_or_create(
        name="sweep", defaults={"at": timezone.now(), "by": worker_name()}
    )
    woken = {}
    for kind in (registry or work).kinds():
        try:
            woken[kind.name] = kind.call("sweep")
        except Exception:
            logger.exception("The sweep of %s failed; the next sweep tries again", kind.name)
            woken[kind.name] = -1
    return woken


#: A queued job younger than this is left to the message that queued it.
QUEUED_GRACE = timedelta(seconds=10)
#: Jobs woken per kind and sweep; the rest wait for the next sweep.
SWEEP_LIMIT = 100


def jobs_wake(
    queryset: models.QuerySet, *, running: str, queued: str, task, now=None, label: str
) -> int:
    """The sweep of a kind of long job (an import, an enrolment, a run): wake a worker for every
    ``running`` job no live lease holds (its worker was killed) and every ``queued`` one older
    than ``QUEUED_GRACE`` (its message was lost); returns how many. A job woken twice runs once:
    the lease."""
    now = now or timezone.now()
    ids = list(
        queryset.filter(lease_free(now))
        .filter(Q(status=running) | Q(status=queued, created_at__lt=now - QUEUED_GRACE))
        .order_by("id")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    for pk in ids:
        enqueue_quietly(task, pk)
    if ids:
        logger.info("%s sweep: woke %s job(s) %s", label, len(ids), ids)
    return len(ids)


def jobs_in_trouble(
    queryset: models.QuerySet,
    *,
    running: str,
    failed: str,
    limit: int,
    field: str = "status",
    order_by: str = "-id",
) -> list[models.Model]:
    """For the operators' page: failed jobs, and running ones whose worker stopped renewing its
    lease (newest first), by their state ``field``. Each gets ``trouble``, its state as the
    page shows it, and ``stalled``, whether its worker stopped."""
    jobs = list(
        queryset.filter(
            Q(**{field: failed}) | Q(**{field: running, "lease_until__lt": timezone.now()})
        ).order_by(order_by)[:limit]
    )
    for job in jobs:
        job.stalled = getattr(job, field) == running
        job.trouble = getattr(job, f"get_{field}_display")() + (
            " (its worker stopped)" if job.stalled else ""
        )
    return jobs


def enqueue_quietly(task, *args) -> bool:
    """Publish a task; a broker outage is logged, not raised: the next sweep publishes again."""
    try:
        task.delay(*args)
    except Exception:
        logger.warning("Could not enqueue %s%s; the sweep will", task.name, args, exc_info=True)
        return False
    return True


def sweep_state(now: datetime | None = None) -> dict:
    """Whether the sweep ran lately (so beat schedules and a worker consumes): for ``/healthz``.
    Late means no run for three sweep periods."""
    from crm.models import WorkHeartbeat

    now = now or timezone.now()
    beat = WorkHeartbeat.objects.filter(name="sweep").first()
    if beat is None:
        return {"ok": False, "error": "The sweep has never run: start Celery beat and a worker."}
    age = (now - beat.at).total_seconds()
    state = {"ok": age <= 3 * settings.WORK_SWEEP_SECONDS, "last_sweep_seconds_ago": round(age)}
    if not state["ok"]:
        state["error"] = "No sweep for over three periods: is Celery beat or the worker down?"
    return state
