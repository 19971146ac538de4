"""The registry and the runs: every rollup and snapshot in the order a run rewrites them, and
the refresh and rebuild that bring them up to date."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from analytics.models import (
    AccountTicketsDay,
    ChurnDay,
    CohortCell,
    DealDay,
    HealthSummary,
    LeadDay,
    MrrDay,
    MrrMoveDay,
    NpsDay,
    OpenDeals,
    OpenTickets,
    RollupState,
    StageDay,
    SupportDay,
    ValueSummary,
)
from analytics.rollups.base import Rollup, _all_days, _rewrite, _snapshot
from analytics.rollups.clv import _value_rows
from analytics.rollups.funnel import _lead_days_changed, _lead_first_day, _lead_write
from analytics.rollups.pipeline import (
    _deal_days_changed,
    _deal_first_day,
    _deal_write,
    _open_deals_rows,
    _stage_days_changed,
    _stage_first_day,
    _stage_write,
)
from analytics.rollups.retention import (
    _churn_days_changed,
    _churn_first_day,
    _churn_write,
    _cohort_rows,
    _health_rows,
    _mrr_days_changed,
    _mrr_first_day,
    _mrr_move_days_changed,
    _mrr_move_write,
    _mrr_write,
    _nps_days_changed,
    _nps_first_day,
    _nps_write,
    multi_owner_accounts,
    multi_owner_subscribers,
)
from analytics.rollups.support import (
    _account_write,
    _busy_months,
    _manager_views,
    _open_tickets_rows,
    _support_days_changed,
    _support_first_day,
    _support_write,
)
from analytics.services import FAILED, ROLLUPS_JOB, job_claim, job_release, job_renew

REFRESH_OVERLAP = dt.timedelta(minutes=5)  # re-read a little before the last run: clock skew


SNAPSHOTS = (
    ("open_deals", OpenDeals, _open_deals_rows),
    ("open_tickets", OpenTickets, _open_tickets_rows),
    ("customer_values", ValueSummary, _value_rows),
    ("health", HealthSummary, _health_rows),
    ("cohorts", CohortCell, _cohort_rows),
)


def snapshot_refresh(name: str, *, today: dt.date | None = None) -> int:
    """Rewrite one snapshot now (the CLV summary after a fit)."""
    _, model, compute = next(s for s in SNAPSHOTS if s[0] == name)
    state, _ = RollupState.objects.get_or_create(name=name)
    started = timezone.now()
    written = _snapshot(model, compute(today or timezone.localdate()))
    fields = {"refreshed_at": started, "rebuilt_at": started}
    if name == "cohorts":
        fields["detail"] = {"multi_owner_accounts": multi_owner_subscribers()}
    RollupState.objects.filter(pk=state.pk).update(**fields)
    return written


ROLLUPS = (
    Rollup("leads", LeadDay, _lead_write, _lead_days_changed, _lead_first_day),
    Rollup("deals", DealDay, _deal_write, _deal_days_changed, _deal_first_day),
    Rollup("stages", StageDay, _stage_write, _stage_days_changed, _stage_first_day),
    Rollup("support", SupportDay, _support_write, _support_days_changed, _support_first_day),
    Rollup(
        "accounts",
        AccountTicketsDay,
        _account_write,
        _support_days_changed,
        _support_first_day,
        after=lambda days: _busy_months(days),
    ),
    Rollup("nps", NpsDay, _nps_write, _nps_days_changed, _nps_first_day),
    Rollup("churn", ChurnDay, _churn_write, _churn_days_changed, _churn_first_day),
    Rollup("mrr", MrrDay, _mrr_write, _mrr_days_changed, _mrr_first_day),
    Rollup("mrr_moves", MrrMoveDay, _mrr_move_write, _mrr_move_days_changed, _mrr_first_day),
)


def rollups_refresh(*, rebuild: bool = False, today: dt.date | None = None) -> dict | None:
    """Bring every rollup up to date: rewrite today, yesterday and the days of records changed
    since the previous run (every day on ``rebuild``, or when a rollup was never filled).
    Returns the rows written per rollup, or None when another run holds the job."""
    claimed_at = job_claim(ROLLUPS_JOB)
    if claimed_at is None:
        return None
    today = today or timezone.localdate()
    written = {}
    try:
        for rollup in ROLLUPS:
            job_renew(ROLLUPS_JOB, claimed_at)  # each rollup is a step: the run is alive
            state, _ = RollupState.objects.get_or_create(name=rollup.name)
            started = timezone.now()
            views = _manager_views() if rollup.model is SupportDay else None
            if views is not None and state.detail.get("managers") != views:
                rebuild_this = True  # a manager's view changed: their rows of every day
            else:
                rebuild_this = rebuild or state.refreshed_at is None
            if rebuild_this:
                days = _all_days(rollup, today)
            else:
                days = rollup.days_changed(state.refreshed_at - REFRESH_OVERLAP)
                days |= {today, today - dt.timedelta(days=1)}
                days = {d for d in days if d is not None}
            written[rollup.name] = _rewrite(rollup, days, whole=rebuild_this)
            if rollup.after is not None:
                rollup.after(set(days))
            fields = {"refreshed_at": started}
            if rebuild_this:
                fields["rebuilt_at"] = started
            if rollup.name == "mrr":
                fields["detail"] = {"multi_owner_accounts": multi_owner_accounts()}
            if views is not None:
                fields["detail"] = {"managers": views}
            RollupState.objects.filter(pk=state.pk).update(**fields)
        for name, _, _ in SNAPSHOTS:
            written[name] = snapshot_refresh(name, today=today)
    except BaseException:
        job_release(ROLLUPS_JOB, claimed_at, error=FAILED)
        raise
    job_release(ROLLUPS_JOB, claimed_at)
    return written


def rollups_rebuild(*, today: dt.date | None = None) -> dict | None:
    """Rewrite every day of every rollup from the records."""
    return rollups_refresh(rebuild=True, today=today)
