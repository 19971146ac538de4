"""Demo data for the dashboards: 90 days of reconstructed snapshots, today's snapshot, the
rollups the dashboards read, and a CLV fit of the seeded orders. Runs after every other stage (it reads their data)."""

import logging

from analytics import rollups, services

logger = logging.getLogger(__name__)
HISTORY_DAYS = 90


def seed(ctx):
    today = ctx.today
    ctx.progress("analytics: snapshots of the last 90 days")
    services.daily_snapshots_backfill(days=HISTORY_DAYS, today=today)
    services.daily_snapshots_take(day=today)
    ctx.progress("analytics: the dashboards' rollups")
    rollups.rollups_rebuild(today=today)
    ctx.progress("analytics: CLV fit of the orders")
    try:
        fit = services.clv_refit_run()
    except Exception as error:  # the demo goes on without a fit; the dashboard says so
        logger.exception("CLV fit of the demo orders failed")
        ctx.progress(f"analytics: CLV fit failed ({type(error).__name__}: {error})")
        return
    if fit is None:
        lock = services.clv_refit_status()
        ctx.progress(f"analytics: no CLV fit ({lock.last_error if lock else 'skipped'})")
