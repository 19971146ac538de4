"""Pipeline dashboard: what is open, what will close, how well and how fast reps sell."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth

from analytics.dashboards import history
from analytics.dashboards.base import Col, Figure, Scope, percent
from analytics.sql import Seconds, percentiles
from leads.choices import LeadSource
from sales.choices import ForecastCategory, PeriodKind, StageKind
from sales.models import Opportunity, Quota, Stage, StageChange, deal_scope

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=20, decimal_places=2)
DAY = 86400.0


def _weighted():
    return Sum(ExpressionWrapper(F("amount") * F("probability") / Value(100), output_field=MONEY))


def _deals(scope: Scope):
    return scope.owned(Opportunity.objects.visible_to(scope.user)).order_by()


def _person(row, prefix="owner") -> str:
    name = f"{row.get(f'{prefix}__first_name') or ''} {row.get(f'{prefix}__last_name') or ''}"
    return name.strip() or row.get(f"{prefix}__username") or "Unassigned"


def _month(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _months(scope: Scope) -> list[dt.date]:
    months, day = [], scope.start.replace(day=1)
    while day <= scope.end:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


# Open pipeline -------------------------------------------------------------------------------


def open_by_stage(scope: Scope) -> list[dict]:
    rows = (
        _deals(scope)
        .filter(status=StageKind.OPEN)
        .values("pipeline__order", "pipeline__name", "stage__order", "stage__name")
        .annotate(deals=Count("id"), value=Sum("amount"), weighted=_weighted())
        .order_by("pipeline__order", "stage__order")
    )
    return [
        {
            "stage": f"{r['pipeline__name']} · {r['stage__name']}",
            "deals": r["deals"],
            "value": r["value"] or ZERO,
            "weighted": (r["weighted"] or ZERO).quantize(Decimal("0.01")),
        }
        for r in rows
    ]


# Forecast against quota ----------------------------------------------------------------------


def forecast_vs_quota(scope: Scope) -> list[dict]:
    months = _months(scope)
    first, after = months[0], (months[-1] + dt.timedelta(days=32)).replace(day=1)
    deals = _deals(scope)
    won = dict(
        deals.filter(status=StageKind.WON, closed_at__date__gte=first, closed_at__date__lt=after)
        .annotate(month=TruncMonth("closed_at"))
        .values("month")
        .annotate(total=Sum("amount"))
        .values_list("month", "total")
    )
    won = {_month(k): v for k, v in won.items()}
    open_rows = (
        deals.filter(
            status=StageKind.OPEN, expected_close_date__gte=first, expected_close_date__lt=after
        )
        .annotate(month=TruncMonth("expected_close_date"))
        .values("month")
        .annotate(
            commit=Coalesce(
                Sum("amount", filter=Q(forecast_category=ForecastCategory.COMMIT)), ZERO
            ),
            weighted=_weighted(),
        )
    )
    open_by_month = {_month(r["month"]): r for r in open_rows}
    quota: dict[dt.date, Decimal] = {}
    quotas = (
        scope.owned(Quota.objects.visible_to(scope.user))
        .filter(period_start__gte=first - dt.timedelta(days=92), period_start__lt=after)
        .values("period_kind", "period_start")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in quotas:  # a handful of rows: one per period, already summed in SQL
        if row["period_kind"] == PeriodKind.QUARTER:
            start = row["period_start"]
            for i in range(3):
                month = dt.date(start.year, start.month + i, 1)
                quota[month] = quota.get(month, ZERO) + row["total"] / 3
        else:
            quota[row["period_start"]] = quota.get(row["period_start"], ZERO) + row["total"]
    rows = []
    for month in months:
        w = won.get(month) or ZERO
        o = open_by_month.get(month, {})
        q = quota.get(month, ZERO).quantize(Decimal("0.01"))
        commit = o.get("commit") or ZERO
        rows.append(
            {
                "month": month.strftime("%Y-%m"),
                "quota": q,
                "won": w,
                "commit": commit,
                "forecast": w + commit,
                "weighted": (o.get("weighted") or ZERO).quantize(Decimal("0.01")),
                "attainment": percent(w, q),
            }
        )
    return rows


# Win rates -----------------------------------------------------------------------------------


def _closed(scope: Scope):
    return scope.between(_deals(scope).exclude(status=StageKind.OPEN), "closed_at")


def _win_rows(queryset, label) -> list[dict]:
    rows = []
    for r in queryset.annotate(
        won=Count("id", filter=Q(status=StageKind.WON)),
        lost=Count("id", filter=Q(status=StageKind.LOST)),
        won_value=Coalesce(Sum("amount", filter=Q(status=StageKind.WON)), ZERO),
        lost_value=Coalesce(Sum("amount", filter=Q(status=StageKind.LOST)), ZERO),
    ):
        rows.append(
            {
                "label": label(r),
                "won": r["won"],
                "lost": r["lost"],
                "rate_count": percent(r["won"], r["won"] + r["lost"]),
                "won_value": r["won_value"],
                "lost_value": r["lost_value"],
                "rate_value": percent(r["won_value"], r["won_value"] + r["lost_value"]),
            }
        )
    return rows


def win_rate_by_rep(scope: Scope) -> list[dict]:
    qs = _closed(scope).values(
        "owner_id", "owner__username", "owner__first_name", "owner__last_name"
    )
    return _win_rows(qs.order_by("owner__username"), _person)


def win_rate_by_source(scope: Scope) -> list[dict]:
    labels = dict(LeadSource.choices)
    qs = _closed(scope).values("source_lead__source").order_by("source_lead__source")
    return _win_rows(qs, lambda r: labels.get(r["source_lead__source"], "No lead (direct)"))


def win_rate_by_month(scope: Scope) -> list[dict]:
    qs = _closed(scope).annotate(month=TruncMonth("closed_at")).values("month").order_by("month")
    return _win_rows(qs, lambda r: _month(r["month"]).strftime("%Y-%m"))


# Rep performance: deal size, cycle, velocity (one query shared by two figures) --------------


def _rep_performance(scope: Scope) -> list[dict]:
    won_in_range = Q(
        status=StageKind.WON, closed_at__gte=scope.start_at, closed_at__lt=scope.end_before
    )
    lost_in_range = Q(
        status=StageKind.LOST, closed_at__gte=scope.start_at, closed_at__lt=scope.end_before
    )
    rows = (
        _deals(scope)
        .values("owner_id", "owner__username", "owner__first_name", "owner__last_name")
        .annotate(
            open=Count("id", filter=Q(status=StageKind.OPEN)),
            won=Count("id", filter=won_in_range),
            lost=Count("id", filter=lost_in_range),
            avg_deal=Avg("amount", filter=won_in_range),
            cycle_seconds=Avg(Seconds(F("closed_at"), F("created_at")), filter=won_in_range),
        )
        .filter(Q(open__gt=0) | Q(won__gt=0) | Q(lost__gt=0))
        .order_by("owner__username")
    )
    out = []
    for r in rows:
        cycle = r["cycle_seconds"] / DAY if r["cycle_seconds"] is not None else None
        avg_deal = Decimal(r["avg_deal"]).quantize(Decimal("0.01")) if r["avg_deal"] else None
        closed = r["won"] + r["lost"]
        win_rate = r["won"] / closed if closed else None
        velocity = None
        if avg_deal is not None and win_rate is not None and cycle:
            velocity = round(float(r["open"]) * float(avg_deal) * win_rate / max(cycle, 1.0), 2)
        out.append(
            {
                "rep": _person(r),
                "open": r["open"],
                "won": r["won"],
                "avg_deal": avg_deal,
                "cycle_days": round(cycle, 1) if cycle is not None else None,
                "win_rate": round(win_rate * 100, 1) if win_rate is not None else None,
                "velocity": velocity,
            }
        )
    return out


def rep_performance(scope: Scope) -> list[dict]:
    return scope.memo("rep_performance", lambda: _rep_performance(scope))


# Stages: conversion and time in stage --------------------------------------------------------


def _changes(scope: Scope):
    changes = deal_scope(StageChange.objects.all(), scope.user, field="opportunity__owner")
    return scope.between(scope.owned(changes, "opportunity__owner"), "changed_at").order_by()


def stage_conversion(scope: Scope) -> list[dict]:
    changes = _changes(scope)
    entered = {
        r["to_stage_id"]: r["n"]
        for r in changes.values("to_stage_id").annotate(n=Count("opportunity_id", distinct=True))
    }
    advanced = {
        r["from_stage_id"]: r["n"]
        for r in changes.filter(
            from_stage__isnull=False, to_stage__order__gt=F("from_stage__order")
        )
        .exclude(to_stage__kind=StageKind.LOST)
        .values("from_stage_id")
        .annotate(n=Count("opportunity_id", distinct=True))
    }
    stages = Stage.objects.filter(kind=StageKind.OPEN).select_related("pipeline")
    rows = []
    for stage in stages.order_by("pipeline__order", "order"):
        if stage.pk not in entered and stage.pk not in advanced:
            continue
        n_in, n_on = entered.get(stage.pk, 0), advanced.get(stage.pk, 0)
        rows.append(
            {
                "stage": f"{stage.pipeline.name} · {stage.name}",
                "entered": n_in,
                "advanced": n_on,
                "conversion": percent(n_on, n_in),
            }
        )
    return rows


def time_in_stage(scope: Scope) -> list[dict]:
    changes = _changes(scope).filter(from_stage__isnull=False)
    stats = percentiles(
        changes,
        F("seconds_in_from_stage") / Value(DAY),
        {"median": 0.5, "p90": 0.9},
        group_by="from_stage_id",
    )
    counts = dict(
        changes.filter(seconds_in_from_stage__isnull=False)
        .values("from_stage_id")
        .annotate(n=Count("id"))
        .values_list("from_stage_id", "n")
    )
    rows = []
    for stage in (
        Stage.objects.filter(pk__in=list(stats))
        .select_related("pipeline")
        .order_by("pipeline__order", "order")
    ):
        s = stats[stage.pk]
        rows.append(
            {
                "stage": f"{stage.pipeline.name} · {stage.name}",
                "moves": counts.get(stage.pk, 0),
                "median": round(s["median"], 1) if s["median"] is not None else None,
                "p90": round(s["p90"], 1) if s["p90"] is not None else None,
            }
        )
    return rows


# Slipped deals -------------------------------------------------------------------------------


def slipped_deals(scope: Scope) -> list[dict]:
    rows = (
        _deals(scope)
        .filter(status=StageKind.OPEN, expected_close_date__lt=scope.today)
        .values("owner_id", "owner__username", "owner__first_name", "owner__last_name")
        .annotate(deals=Count("id"), value=Sum("amount"))
        .order_by("-value", "owner__username")
    )
    return [{"rep": _person(r), "deals": r["deals"], "value": r["value"] or ZERO} for r in rows]


WIN_COLUMNS = (
    Col("won", "Won", "int"),
    Col("lost", "Lost", "int"),
    Col("rate_count", "Win rate by count", "percent"),
    Col("won_value", "Won value", "money"),
    Col("lost_value", "Lost value", "money"),
    Col("rate_value", "Win rate by value", "percent"),
)
WIN_HOW = "Deals closed in the range (by close date): won ÷ (won + lost), by count and by amount."

FIGURES = (
    Figure(
        key="open_by_stage",
        title="Open pipeline by stage",
        how="Open deals now, grouped by stage: count, sum of amounts, and sum of amount × the "
        "deal's probability. Ignores the date range.",
        compute=open_by_stage,
        columns=(
            Col("stage", "Stage"),
            Col("deals", "Deals", "int"),
            Col("value", "Value", "money"),
            Col("weighted", "Weighted", "money"),
        ),
        label="stage",
        series=("value", "weighted"),
    ),
    history.PIPELINE_OVER_TIME,
    Figure(
        key="forecast",
        title="Forecast against quota",
        how="Per month of the range: quota (monthly quotas, quarterly ones split in thirds); won = "
        "amounts of deals won that month; commit = open deals in the Commit category expected to "
        "close that month; forecast = won + commit; weighted = open amount × probability by "
        "expected close month; attainment = won ÷ quota.",
        compute=forecast_vs_quota,
        columns=(
            Col("month", "Month"),
            Col("quota", "Quota", "money"),
            Col("won", "Won", "money"),
            Col("commit", "Commit", "money"),
            Col("forecast", "Forecast", "money"),
            Col("weighted", "Weighted pipeline", "money"),
            Col("attainment", "Attainment", "percent"),
        ),
        label="month",
        series=("quota", "won", "forecast"),
    ),
    Figure(
        key="win_rate_rep",
        title="Win rate by rep",
        how=WIN_HOW,
        compute=win_rate_by_rep,
        columns=(Col("label", "Rep"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
    ),
    Figure(
        key="win_rate_source",
        title="Win rate by lead source",
        how=WIN_HOW + " Grouped by the source of the lead the deal came from.",
        compute=win_rate_by_source,
        columns=(Col("label", "Source"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
    ),
    Figure(
        key="win_rate_month",
        title="Win rate by month",
        how=WIN_HOW + " Grouped by the month the deal closed.",
        compute=win_rate_by_month,
        columns=(Col("label", "Month"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
        chart="line",
    ),
    Figure(
        key="rep_performance",
        title="Deal size, sales cycle and velocity by rep",
        how="Average deal size = mean amount of deals won in the range; sales cycle = mean days "
        "from creation to win of those deals; win rate = won ÷ closed in the range; velocity "
        "(value per day) = open deals now × average deal size × win rate ÷ cycle days.",
        compute=rep_performance,
        columns=(
            Col("rep", "Rep"),
            Col("open", "Open deals", "int"),
            Col("won", "Won", "int"),
            Col("avg_deal", "Average deal size", "money"),
            Col("cycle_days", "Sales cycle (days)", "days"),
            Col("win_rate", "Win rate", "percent"),
            Col("velocity", "Velocity per day", "money"),
        ),
        label="rep",
        series=("velocity",),
    ),
    Figure(
        key="stage_conversion",
        title="Stage-to-stage conversion",
        how="From the stage history in the range: deals that entered each open stage, and deals "
        "that moved on from it to a later stage (not lost); conversion = moved on ÷ entered.",
        compute=stage_conversion,
        columns=(
            Col("stage", "Stage"),
            Col("entered", "Entered", "int"),
            Col("advanced", "Moved on", "int"),
            Col("conversion", "Conversion", "percent"),
        ),
        label="stage",
        series=("conversion",),
    ),
    Figure(
        key="time_in_stage",
        title="Time in stage",
        how="For each stage change in the range, the days the deal had spent in the stage it "
        "left; median and 90th percentile per stage.",
        compute=time_in_stage,
        columns=(
            Col("stage", "Stage"),
            Col("moves", "Moves", "int"),
            Col("median", "Median days", "days"),
            Col("p90", "90th percentile days", "days"),
        ),
        label="stage",
        series=("median", "p90"),
    ),
    Figure(
        key="slipped",
        title="Slipped deals",
        how="Open deals whose expected close date is before today, per rep: count and amount. "
        "Ignores the date range.",
        compute=slipped_deals,
        columns=(Col("rep", "Rep"), Col("deals", "Deals", "int"), Col("value", "Value", "money")),
        label="rep",
        series=("value",),
    ),
)
