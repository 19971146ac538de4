"""The dashboards' rollups: per-day aggregates of leads, closed deals, stage changes and
tickets, kept by Celery so a dashboard reads a few thousand small rows instead of scanning
millions (``LeadDay``, ``DealDay``, ``StageDay``, ``SupportDay``).

A rollup is always rewritten a whole day at a time: the day's rows are deleted and recomputed
from the records in one transaction, so rerunning a refresh (or a crash and retry) leaves the
same rows. The rows are computed in the database, one ``INSERT ... SELECT ... GROUP BY`` per
rollup and run of consecutive days (at most a month), each run committed before the next; a
rebuild reads a year of those runs with one ``SELECT`` and writes them run by run the same way.
``rollups_refresh`` (beat, every 15 minutes) rewrites today, yesterday and every day holding a
record changed since its previous run; ``rollups_rebuild`` (nightly, and the
``rebuild_rollups`` command) rewrites every day, which also catches what the refresh cannot see
(deleted records, bulk updates that leave ``updated_at`` alone, reassigned teams).

Durations are stored per row as packed float64 seconds (big-endian, as ``float8send`` writes
them: ``string_agg`` packs a group's in SQL); ``percentiles`` concatenates the rows'
durations and interpolates between the nearest ranks like PostgreSQL's ``percentile_cont``, so
a median read from the rollup equals the one computed over the records.

The package: ``base`` holds what every rollup shares (packing durations, days, the ``Rollup``
record, the writers), one module per dashboard computes its rows (``funnel``, ``pipeline``,
``support``, ``retention``, ``clv``), and ``registry`` lists the rollups and snapshots in the
order a run rewrites them and holds the runs.
"""

import logging

from analytics.rollups.base import (
    DURATION,
    WINDOW_DAYS,
    ConcatBytes,
    Rollup,
    _insert,
    _rewrite,
    count,
    day_start,
    days_of,
    first_day_of,
    grouped,
    local_day,
    pack,
    percentiles,
    rollup_freshness,
    spans,
    sum_rows,
    unpack,
)
from analytics.rollups.funnel import lead_history
from analytics.rollups.pipeline import stage_history
from analytics.rollups.registry import (
    REFRESH_OVERLAP,
    ROLLUPS,
    ROLLUPS_JOB,
    SNAPSHOTS,
    rollups_rebuild,
    rollups_refresh,
    snapshot_refresh,
)
from analytics.rollups.retention import multi_owner_accounts, multi_owner_subscribers
from analytics.rollups.support import BUSY_AT_LEAST, COUNTS

logger = logging.getLogger(__name__)

__all__ = [
    "BUSY_AT_LEAST",
    "COUNTS",
    "ConcatBytes",
    "DURATION",
    "REFRESH_OVERLAP",
    "ROLLUPS",
    "ROLLUPS_JOB",
    "Rollup",
    "SNAPSHOTS",
    "WINDOW_DAYS",
    "_insert",
    "_rewrite",
    "count",
    "day_start",
    "days_of",
    "first_day_of",
    "grouped",
    "lead_history",
    "local_day",
    "multi_owner_accounts",
    "multi_owner_subscribers",
    "pack",
    "percentiles",
    "rollup_freshness",
    "rollups_rebuild",
    "rollups_refresh",
    "snapshot_refresh",
    "spans",
    "stage_history",
    "sum_rows",
    "unpack",
]
