from django.db import models


class WorkHeartbeat(models.Model):
    """When a background process last did its periodic round (the sweep, run by a worker on
    beat's schedule), so ``/healthz`` and operators can tell a stopped worker or beat."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()
    by = models.CharField(max_length=120, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class TaskFailureCount(models.Model):
    """How many runs of a Celery task failed, ever (the ``crm_task_failures_total`` metric).

    Counted in the database by the worker that saw the failure, so ``/metrics`` on any web
    process reports every worker's failures and the count survives restarts."""

    task = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveBigIntegerField(default=0)
    last_failed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.task}: {self.count}"


class BeatLeader(models.Model):
    """Which beat process sends due periodic tasks, and until when (``crm.beat``).

    One row (id 1). Every beat takes or renews it with one conditional statement at each tick:
    the owner renews its lease, anyone takes it once the lease has run out, so however many
    beats run, one sends. A database row, not a session-level lock, so it works through
    PgBouncer in transaction mode and needs no Redis."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    owner = models.CharField(max_length=200)
    lease_until = models.DateTimeField()

    def __str__(self):
        return f"{self.owner} until {self.lease_until:%Y-%m-%d %H:%M:%S}"
