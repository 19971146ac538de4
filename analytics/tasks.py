"""Celery tasks of analytics: thin wrappers around one service each; both are idempotent
(a run claims its job row; a concurrent or repeated run does nothing)."""

from celery import shared_task

from analytics import services
from crm.retry import transient_retry

_RETRY = transient_retry(backoff_max=300)


@shared_task(
    name="analytics.tasks.clv_refit", soft_time_limit=25 * 60, time_limit=30 * 60, **_RETRY
)
def clv_refit() -> int | None:
    """Refit the CLV models on the orders; returns the fit's id (None if skipped)."""
    fit = services.clv_refit_run()
    return fit.pk if fit else None


@shared_task(
    name="analytics.tasks.daily_snapshots", soft_time_limit=10 * 60, time_limit=15 * 60, **_RETRY
)
def daily_snapshots() -> int | None:
    """Record today's pipeline and backlog per owner for the "over time" charts."""
    return services.daily_snapshots_take()


@shared_task(
    name="analytics.tasks.rollups_refresh", soft_time_limit=50 * 60, time_limit=55 * 60, **_RETRY
)
def rollups_refresh() -> dict | None:
    """Rewrite the dashboards' rollups for today, yesterday and the days of changed records
    (seconds); a rollup never filled is filled whole first (minutes at a million records, so
    the limits are the rebuild's; the job lock keeps the next runs from starting meanwhile)."""
    from analytics.rollups import rollups_refresh as refresh

    return refresh()


@shared_task(
    name="analytics.tasks.rollups_rebuild", soft_time_limit=50 * 60, time_limit=55 * 60, **_RETRY
)
def rollups_rebuild() -> dict | None:
    """Rewrite every day of the dashboards' rollups from the records."""
    from analytics.rollups import rollups_rebuild as rebuild

    return rebuild()
