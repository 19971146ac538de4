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
