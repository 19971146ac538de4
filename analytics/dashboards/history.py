"""Figures read from the nightly ``DailyMetric`` snapshots (history that would otherwise need
re-scanning millions of rows)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from analytics.choices import Metric
from analytics.dashboards.base import Col, Figure, Scope
from analytics.models import DailyMetric
from support.choices import Priority

ZERO = Decimal("0")


def _metrics(scope: Scope, *metrics):
    qs = DailyMetric.objects.visible_to(scope.user).filter(
        metric__in=metrics, date__gte=scope.start, date__lte=scope.end
    )
    return scope.owned(qs, "owner").order_by()


def pipeline_over_time(scope: Scope) -> list[dict]:
    cells = (
        _metrics(
            scope, Metric.PIPELINE_OPEN_COUNT, Metric.PIPELINE_OPEN_VALUE, Metric.PIPELINE_WEIGHTED
        )
        .values("date", "metric")
        .annotate(total=Sum("value"))
        .order_by("date")
    )
    days: dict = {}
    for c in cells:  # dates × 3 metrics, summed in SQL
        days.setdefault(c["date"], {})[c["metric"]] = c["total"]
    return [
        {
            "date": day.isoformat(),
            "deals": int(v.get(Metric.PIPELINE_OPEN_COUNT) or 0),
            "value": v.get(Metric.PIPELINE_OPEN_VALUE) or ZERO,
            "weighted": v.get(Metric.PIPELINE_WEIGHTED) or ZERO,
        }
        for day, v in days.items()
    ]


def backlog_over_time(scope: Scope) -> list[dict]:
    cells = (
        _metrics(scope, Metric.TICKETS_ACTIVE)
        .values("date", "dimension")
        .annotate(total=Sum("value"))
        .order_by("date")
    )
    days: dict = {}
    for c in cells:  # dates × statuses × priorities, summed in SQL
        priority = c["dimension"].rpartition(":")[2]
        row = days.setdefault(c["date"], dict.fromkeys(Priority.values, 0))
        row[priority] = row.get(priority, 0) + int(c["total"])
    return [
        {"date": day.isoformat(), **counts, "total": sum(counts.values())}
        for day, counts in days.items()
    ]


PIPELINE_OVER_TIME = Figure(
    key="pipeline_history",
    title="Open pipeline over time",
    how="The nightly snapshot of open deals per owner, summed per day of the range: count, "
    "value and probability-weighted value, in the company currency (each deal at the rate of "
    "its expected close date, the snapshot's day when none; a deal without a rate counts but "
    "adds nothing to the values).",
    compute=pipeline_over_time,
    columns=(
        Col("date", "Day"),
        Col("deals", "Open deals", "int"),
        Col("value", "Value", "money"),
        Col("weighted", "Weighted", "money"),
    ),
    label="date",
    series=("value", "weighted"),
    chart="line",
    segmentable=False,  # past days' snapshots know owners, not an arbitrary set of accounts
)

BACKLOG_OVER_TIME = Figure(
    key="backlog_history",
    title="Backlog over time by priority",
    how="The nightly snapshot of tickets not solved or closed, per assignee, summed per day of "
    "the range and priority. Managers see their people's tickets.",
    compute=backlog_over_time,
    columns=(
        Col("date", "Day"),
        *(Col(value, label, "int") for value, label in Priority.choices),
        Col("total", "Total", "int"),
    ),
    label="date",
    series=tuple(Priority.values),
    chart="line",
    stacked=True,
    segmentable=False,  # past days' snapshots know assignees, not an arbitrary set of accounts
)
