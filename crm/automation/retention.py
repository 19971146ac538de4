"""The automation run log's retention rule (README, "Retention rules"): finished runs, with their
steps, are deleted ``RETENTION_AUTOMATION_RUNS_MONTHS`` after they finished.

Only finished runs go (done, failed, skipped): a queued, running or waiting run is work still to
do. Matches stay, so a deleted run never lets its change fire again: a run's key names its match
or its day, both of which the engine never makes anew."""

from django.db import transaction
from django.db.models import Q

from crm.models import RuleRun
from crm.models.automation import RuleRunState

RULE = "crm.automation_runs"
ACTION = "retention.automation_runs_deleted"

FINISHED = [RuleRunState.DONE, RuleRunState.FAILED, RuleRunState.SKIPPED]


def _due(before):
    return RuleRun.objects.filter(state__in=FINISHED).filter(
        Q(finished_at__lt=before) | Q(finished_at__isnull=True, created_at__lt=before)
    )


def automation_runs_count(*, before) -> dict:
    return {"runs": _due(before).count()}


def automation_runs_remove(*, before, batch: int) -> dict:
    """Delete the runs finished before ``before`` and their steps, ``batch`` runs a transaction
    (runs another retention run holds are skipped by this one)."""
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                _due(before)
                .order_by()
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return {"runs": removed}
            RuleRun.objects.filter(pk__in=ids).delete()
        removed += len(ids)
