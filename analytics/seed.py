"""Demo data for the dashboards: 90 days of reconstructed snapshots, today's snapshot, a CLV
fit of the seeded orders (after every other stage: it reads their data), and, as the seed's last
step, the rollups the dashboards read."""

import logging
import time

from analytics import rollups, services

logger = logging.getLogger(__name__)
HISTORY_DAYS = 90


def seed(ctx):
    today = ctx.today
    ctx.progress("analytics: snapshots of the last 90 days")
    services.daily_snapshots_backfill(days=HISTORY_DAYS, today=today)
    services.daily_snapshots_take(day=today)
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


def seed_rollups(ctx):
    """The dashboards' rollups, rebuilt from every other step's rows, a month at a time."""
    started = time.monotonic()
    written = rollups.rollups_rebuild(today=ctx.today) or {}
    for name, rows in written.items():
        ctx.progress(f"{name}: {rows:,} rows")
    ctx.progress(f"rollups rebuilt in {time.monotonic() - started:.1f}s")
