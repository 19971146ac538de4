"""Pipeline dashboard: what is open, what will close, how well and how fast reps sell.

The figures read three rollups (open deals, closed deals per day, stage changes per day). With a
segment chosen, the same figure code reads the segment's accounts' opportunities and stage
changes, annotated into the rollups' shape (one deal or change a row), so the definitions stay
one; durations' percentiles come from SQL instead of the packed rollup values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round, TruncDate, TruncMonth

from analytics import rollups
from analytics.dashboards import history
from analytics.dashboards.base import Col, Figure, Scope, percent, rates_used_text
from analytics.models import DealDay, OpenDeals, StageDay
from analytics.sql import Seconds
from analytics.sql import percentiles as sql_percentiles
from crm.currencies import company_currency, rate_date_expression, rate_expression
from crm.models import User
from leads.choices import LeadSource
from sales.choices import ForecastCategory, PeriodKind, StageKind
from sales.models import Opportunity, Quota, Stage, StageChange, deal_scope

ZERO = Decimal("0")
DAY = 86400.0


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


def _deals(scope: Scope):
    """The segment's accounts' opportunities the user may see."""
    deals = scope.owned(Opportunity.objects.visible_to(scope.user))
    return scope.in_segment(deals).order_by()


def _open_deals(scope: Scope):
    """The open-deals snapshot rows (as of the last refresh) the user may see; with a segment,
    its open deals in the snapshot's shape."""
    if scope.segment is None:
        return (
            scope.owned(OpenDeals.objects.visible_to(scope.user))
            .order_by()
            .annotate(converted=F("amount"))
        )
    weighted = ExpressionWrapper(
        F("converted") * F("probability") / Value(100),
        output_field=DecimalField(max_digits=24, decimal_places=4),
    )
    return (
        _deals(scope)
        .filter(status=StageKind.OPEN)
        .annotate(rate_day=Coalesce(F("expected_close_date"), Value(scope.today)))
        .annotate(converted=Round(F("amount") * rate_expression(date_field="rate_day"), 2))
        .annotate(
            deals_count=Value(1),
            weighted=weighted,
            expected_month=TruncMonth("expected_close_date"),
            slipped=Case(
                When(expected_close_date__lt=scope.today, then=Value(True)), default=Value(False)
            ),
        )
    )


def open_by_stage(scope: Scope) -> list[dict]:
    rows = (
        _open_deals(scope)
        .values("pipeline__order", "pipeline__name", "stage__order", "stage__name")
        .annotate(deals=Sum("deals_count"), value=Sum("converted"), weighted=Sum("weighted"))
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


# Amounts in the company currency ----------------------------------------------------------


def _with_rates(queryset, scope: Scope, date_field: str):
    """Rollup rows carry their currency and rate; a segment's deals get them annotated."""
    if scope.segment is None:
        return queryset
    return queryset.annotate(
        rate=rate_expression(date_field=date_field),
        rate_date=rate_date_expression(date_field=date_field),
    )


def _rate_rows(queryset, kind: str):
    """Per currency and rate: how many deals (NULL rate: none known for their day)."""
    return (
        queryset.order_by()
        .annotate(kind=Value(kind))
        .values_list("kind", "currency", "rate_date", "rate")
        .annotate(n=Sum("deals_count"))
    )


def _rates(scope: Scope) -> dict[str, tuple[set[tuple], int]]:
    """For closed and open deals: the distinct (currency, rate date, rate) their amounts were
    converted at, and how many deals were left out for want of a rate (one query)."""
    company = company_currency()
    closed = _rate_rows(_with_rates(_closed(scope), scope, "date"), "closed")
    open_ = _rate_rows(_with_rates(_open_deals(scope), scope, "rate_day"), "open")
    out: dict[str, tuple[set[tuple], int]] = {"closed": (set(), 0), "open": (set(), 0)}
    for kind, currency, rate_date, rate, n in closed.union(open_, all=True):
        used, missing = out[kind]
        if rate is None:
            out[kind] = (used, missing + (n or 0))
        elif currency != company:
            used.add((currency, rate_date, rate))
    return out


def money_note(scope: Scope, figure: Figure) -> str:
    """How the figure's amounts were brought to the company currency: the rule, the rates
    used (currency, rate, the day it is valid from) and the deals left out for want of one."""

    used: set[tuple] = set()
    missing = 0
    rules = []
    if "deals" in figure.rollups:
        rules.append("closed deals at the rate of their close date")
        found, left_out = scope.memo("rates", lambda: _rates(scope))["closed"]
        used |= found
        missing += left_out
    if "open_deals" in figure.rollups:
        rules.append("open deals at the rate of their expected close date (today when none)")
        found, left_out = scope.memo("rates", lambda: _rates(scope))["open"]
        used |= found
        missing += left_out
    text = f"Amounts in {company_currency()} (the company currency): {'; '.join(rules)}."
    text += rates_used_text(used)
    if missing:
        text += (
            f" {missing:,} deal{'s' if missing != 1 else ''} without a rate for the day "
            "left out of the amounts (counted in the deal counts)."
        )
    return text


# Forecast against quota ----------------------------------------------------------------------


def forecast_vs_quota(scope: Scope) -> list[dict]:
    months = _months(scope)
    first, after = months[0], (months[-1] + dt.timedelta(days=32)).replace(day=1)
    won = dict(
        _deal_days(scope)
        .filter(status=StageKind.WON, date__gte=first, date__lt=after)
        .annotate(month=TruncMonth("date"))
        .values("month")
        .annotate(total=Sum("converted"))
        .values_list("month", "total")
    )
    won = {_month(k): v for k, v in won.items()}
    open_rows = (
        _open_deals(scope)
        .filter(expected_month__gte=first, expected_month__lt=after)
        .values("expected_month")
        .annotate(
            month=F("expected_month"),
            commit=Coalesce(
                Sum("converted", filter=Q(forecast_category=ForecastCategory.COMMIT)), ZERO
            ),
            weighted=Sum("weighted"),
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


# Win rates (from the closed-deal rollup) -----------------------------------------------------


def _deal_days(scope: Scope):
    """Rollup rows of the deals closed (won or lost) that the user may see; with a segment, its
    closed deals in the rollup's shape."""
    if scope.segment is None:
        return (
            scope.owned(DealDay.objects.visible_to(scope.user))
            .order_by()
            .annotate(converted=F("amount"))
        )
    return (
        _deals(scope)
        .exclude(status=StageKind.OPEN)
        .filter(closed_at__isnull=False)
        .annotate(
            date=TruncDate("closed_at"),
            source=Coalesce(F("source_lead__source"), Value("")),
            deals_count=Value(1),
            cycle_seconds=Seconds(F("closed_at"), F("created_at")),
        )
        .annotate(converted=Round(F("amount") * rate_expression(date_field="date"), 2))
    )


def _closed(scope: Scope):
    return _deal_days(scope).filter(date__gte=scope.start, date__lte=scope.end)


def _win_rows(queryset, label) -> list[dict]:
    rows = []
    for r in queryset.annotate(
        won=Coalesce(Sum("deals_count", filter=Q(status=StageKind.WON)), 0),
        lost=Coalesce(Sum("deals_count", filter=Q(status=StageKind.LOST)), 0),
        won_value=Coalesce(Sum("converted", filter=Q(status=StageKind.WON)), ZERO),
        lost_value=Coalesce(Sum("converted", filter=Q(status=StageKind.LOST)), ZERO),
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
    return _win_rows(qs.order_by(F("owner__username").asc(nulls_last=True)), _person)


def win_rate_by_source(scope: Scope) -> list[dict]:
    labels = dict(LeadSource.choices)
    rows = _win_rows(
        _closed(scope).values("source").order_by("source"),
        lambda r: labels.get(r["source"], "No lead (direct)"),
    )
    direct = labels.get("", "No lead (direct)")
    return [r for r in rows if r["label"] != direct] + [r for r in rows if r["label"] == direct]


def win_rate_by_month(scope: Scope) -> list[dict]:
    qs = _closed(scope).annotate(month=TruncMonth("date")).values("month").order_by("month")
    return _win_rows(qs, lambda r: _month(r["month"]).strftime("%Y-%m"))


# Rep performance: deal size, cycle, velocity (one query shared by two figures) --------------


def _rep_performance(scope: Scope) -> list[dict]:
    open_deals = dict(
        _open_deals(scope)
        .values("owner_id")
        .annotate(n=Sum("deals_count"))
        .values_list("owner_id", "n")
    )
    closed = {
        r["owner_id"]: r
        for r in _closed(scope)
        .values("owner_id")
        .annotate(
            won=Coalesce(Sum("deals_count", filter=Q(status=StageKind.WON)), 0),
            lost=Coalesce(Sum("deals_count", filter=Q(status=StageKind.LOST)), 0),
            won_amount=Sum("converted", filter=Q(status=StageKind.WON)),
            cycle_seconds=Sum("cycle_seconds", filter=Q(status=StageKind.WON)),
        )
    }
    owners = set(open_deals) | set(closed)
    people = {
        u["pk"]: u
        for u in User.objects.filter(pk__in=[pk for pk in owners if pk is not None]).values(
            "pk", "username", "first_name", "last_name"
        )
    }
    out = []
    for owner_id in sorted(
        owners, key=lambda pk: (pk is None, people.get(pk, {}).get("username", ""))
    ):
        person = people.get(owner_id, {})
        c = closed.get(owner_id, {})
        n_open, won, lost = open_deals.get(owner_id, 0), c.get("won", 0), c.get("lost", 0)
        cycle = c["cycle_seconds"] / won / DAY if won else None
        avg_deal = (c["won_amount"] / won).quantize(Decimal("0.01")) if won else None
        closed_n = won + lost
        win_rate = won / closed_n if closed_n else None
        velocity = None
        if avg_deal is not None and win_rate is not None and cycle:
            velocity = round(float(n_open) * float(avg_deal) * win_rate / max(cycle, 1.0), 2)
        out.append(
            {
                "rep": _person({f"owner__{k}": v for k, v in person.items()}),
                "open": n_open,
                "won": won,
                "avg_deal": avg_deal,
                "cycle_days": round(cycle, 1) if cycle is not None else None,
                "win_rate": round(win_rate * 100, 1) if win_rate is not None else None,
                "velocity": velocity,
            }
        )
    return out


def rep_performance(scope: Scope) -> list[dict]:
    return scope.memo("rep_performance", lambda: _rep_performance(scope))


# Stages: conversion and time in stage (from the stage-change rollup) -------------------------


def _stage_days(scope: Scope):
    if scope.segment is None:
        days = StageDay.objects.visible_to(scope.user).filter(
            date__gte=scope.start, date__lte=scope.end
        )
        return scope.owned(days).order_by()
    history = rollups.stage_history()
    return _stage_changes(scope).annotate(
        moves=Value(1),
        advanced=history["advanced"],
        entered_before=TruncDate(history["entered_before"]),  # the rollup keeps local days
        advanced_before=TruncDate(history["advanced_before"]),
    )


def _stage_changes(scope: Scope):
    """The segment's accounts' stage changes in the range the user may see."""
    changes = deal_scope(StageChange.objects.all(), scope.user, field="opportunity__owner")
    changes = scope.in_segment(scope.owned(changes, "opportunity__owner"), "opportunity__account")
    return scope.between(changes, "changed_at").order_by()


def _first_in_range(field: str, scope: Scope) -> Q:
    """The deal's first such change in the range (no earlier one, or one before the range)."""
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": scope.start})


def _stage_moves(scope: Scope) -> dict:
    """The range's stage changes in one GROUP BY over (stage left, stage entered), shared by
    the conversion and the time in stage (one read of the range's rows, not three): per stage,
    the deals that entered it (``entered``) and that moved on from it to a later one
    (``advanced``), each at their first such change in the range; from the rollup, the packed
    seconds spent in each stage left (``seconds``)."""

    def read():
        days = _stage_days(scope)
        sums = {
            "n_in": Sum("moves", filter=_first_in_range("entered_before", scope)),
            "n_on": Sum("moves", filter=_first_in_range("advanced_before", scope) & Q(advanced=True)),
        }  # fmt: skip
        if scope.segment is None:  # the rollup's rows carry the seconds
            sums["_seconds"] = rollups.ConcatBytes("seconds")
        entered, advanced, seconds = {}, {}, {}
        for row in days.values("from_stage_id", "to_stage_id").annotate(**sums):
            if row["n_in"] is not None:
                entered[row["to_stage_id"]] = entered.get(row["to_stage_id"], 0) + row["n_in"]
            left = row["from_stage_id"]
            if row["n_on"] is not None:
                advanced[left] = advanced.get(left, 0) + row["n_on"]
            if left is not None and "_seconds" in row:
                seconds.setdefault(left, []).append(row["_seconds"])
        return {"entered": entered, "advanced": advanced, "seconds": seconds}

    return scope.memo("stage_moves", read)


def stage_conversion(scope: Scope) -> list[dict]:
    moves = _stage_moves(scope)
    entered, advanced = moves["entered"], moves["advanced"]
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


FRACTIONS = {"median": 0.5, "p90": 0.9}


def time_in_stage(scope: Scope) -> list[dict]:
    durations = _stage_moves(scope)["seconds"]  # per stage left, the rollup's packed seconds
    return _stage_time_rows(
        {pk: rollups.count(blobs) for pk, blobs in durations.items()},
        {pk: rollups.percentiles(blobs, FRACTIONS, scale=DAY) for pk, blobs in durations.items()},
    )


def time_in_stage_live(scope: Scope) -> list[dict]:
    changes = _stage_changes(scope).filter(
        from_stage__isnull=False, seconds_in_from_stage__isnull=False
    )
    counts = dict(
        changes.values("from_stage_id").annotate(n=Count("id")).values_list("from_stage_id", "n")
    )
    stats = sql_percentiles(
        changes, F("seconds_in_from_stage") / Value(DAY), FRACTIONS, group_by="from_stage_id"
    )
    return _stage_time_rows(counts, stats)


def _stage_time_rows(counts: dict, stats: dict) -> list[dict]:
    """Per stage left (pipeline and stage order): moves and the days' median and p90."""
    rows = []
    for stage in (
        Stage.objects.filter(pk__in=[pk for pk, n in counts.items() if n])
        .select_related("pipeline")
        .order_by("pipeline__order", "order")
    ):
        moves, s = counts[stage.pk], stats[stage.pk]
        rows.append(
            {
                "stage": f"{stage.pipeline.name} · {stage.name}",
                "moves": moves,
                "median": round(s["median"], 1),
                "p90": round(s["p90"], 1),
            }
        )
    return rows


# Slipped deals -------------------------------------------------------------------------------


def slipped_deals(scope: Scope) -> list[dict]:
    rows = (
        _open_deals(scope)
        .filter(slipped=True)
        .values("owner_id", "owner__username", "owner__first_name", "owner__last_name")
        .annotate(deals=Sum("deals_count"), value=Sum("converted"))
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
        rollups=("open_deals",),
        title="Open pipeline by stage",
        how="Open deals (as of the last refresh), grouped by stage: count, sum of amounts, and "
        "sum of amount × the deal's probability. Ignores the date range.",
        note=money_note,
        compute=open_by_stage,
        live=open_by_stage,  # reads the segment's records itself
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
        rollups=("deals", "open_deals"),
        title="Forecast against quota",
        how="Per month of the range: quota (monthly quotas, quarterly ones split in thirds); won = "
        "amounts of deals won that month; commit = open deals in the Commit category expected to "
        "close that month; forecast = won + commit; weighted = open amount × probability by "
        "expected close month; attainment = won ÷ quota.",
        note=money_note,
        compute=forecast_vs_quota,
        segmentable=False,  # quotas are per rep, not per account
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
        rollups=("deals",),
        title="Win rate by rep",
        how=WIN_HOW,
        note=money_note,
        compute=win_rate_by_rep,
        live=win_rate_by_rep,  # reads the segment's records itself
        columns=(Col("label", "Rep"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
    ),
    Figure(
        key="win_rate_source",
        rollups=("deals",),
        title="Win rate by lead source",
        how=WIN_HOW + " Grouped by the source of the lead the deal came from.",
        note=money_note,
        compute=win_rate_by_source,
        live=win_rate_by_source,  # reads the segment's records itself
        columns=(Col("label", "Source"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
    ),
    Figure(
        key="win_rate_month",
        rollups=("deals",),
        title="Win rate by month",
        how=WIN_HOW + " Grouped by the month the deal closed.",
        note=money_note,
        compute=win_rate_by_month,
        live=win_rate_by_month,  # reads the segment's records itself
        columns=(Col("label", "Month"), *WIN_COLUMNS),
        label="label",
        series=("rate_count", "rate_value"),
        chart="line",
    ),
    Figure(
        key="rep_performance",
        rollups=("deals", "open_deals"),
        title="Deal size, sales cycle and velocity by rep",
        how="Average deal size = mean amount of deals won in the range; sales cycle = mean days "
        "from creation to win of those deals; win rate = won ÷ closed in the range; velocity "
        "(value per day) = open deals now × average deal size × win rate ÷ cycle days.",
        note=money_note,
        compute=rep_performance,
        live=rep_performance,  # reads the segment's records itself
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
        rollups=("stages",),
        title="Stage-to-stage conversion",
        how="From the stage history in the range: deals that entered each open stage, and deals "
        "that moved on from it to a later stage (not lost); conversion = moved on ÷ entered.",
        compute=stage_conversion,
        live=stage_conversion,  # reads the segment's records itself
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
        rollups=("stages",),
        title="Time in stage",
        how="For each stage change in the range, the days the deal had spent in the stage it "
        "left; median and 90th percentile per stage.",
        compute=time_in_stage,
        live=time_in_stage_live,
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
        rollups=("open_deals",),
        title="Slipped deals",
        how="Open deals whose expected close date is before the day of the last refresh, per "
        "rep: count and amount. Ignores the date range.",
        note=money_note,
        compute=slipped_deals,
        live=slipped_deals,  # reads the segment's records itself
        columns=(Col("rep", "Rep"), Col("deals", "Deals", "int"), Col("value", "Value", "money")),
        label="rep",
        series=("value",),
    ),
)
