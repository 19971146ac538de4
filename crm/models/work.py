from django.db import models


class WorkHeartbeat(models.Model):
    """When a background process last did its periodic round (the sweep, run by a worker on
    beat's schedule), so ``/healthz`` and operators can tell a stopped worker or beat."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()
    by = models.CharField(max_length=120, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
