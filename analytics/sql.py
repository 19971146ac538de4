"""SQL building blocks the dashboards share: durations in seconds and percentiles.

Percentiles are computed in the database on PostgreSQL (``percentile_cont ... WITHIN GROUP``).
SQLite has no ordered-set aggregates, so there ``percentiles`` fetches only the one sorted column
of durations (per group) and interpolates them the way ``percentile_cont`` does. That fallback is
for development and tests; production runs on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import connection
from django.db.models import Aggregate, F, FloatField, Func, IntegerField, Value


class Seconds(Func):
    """``end - start`` in seconds, as a float (NULL when either is NULL)."""

    output_field = FloatField()

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, conn, **extra):  # SQLite and anything else: julian days
        end, end_params = compiler.compile(self.source_expressions[0])
        start, start_params = compiler.compile(self.source_expressions[1])
        return f"((julianday({end}) - julianday({start})) * 86400.0)", [
            *end_params,
            *start_params,
        ]

    def as_postgresql(self, compiler, conn, **extra):
        end, end_params = compiler.compile(self.source_expressions[0])
        start, start_params = compiler.compile(self.source_expressions[1])
        return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision", [
            *end_params,
            *start_params,
        ]


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile of an expression (0 ≤ fraction ≤ 1)."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)


def interpolate(ordered: list[float], fraction: float) -> float | None:
    """``percentile_cont`` on an ascending list: linear between the two nearest ranks."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(queryset, expression, fractions: dict[str, float], group_by: str | None = None):
    """``{group: {name: value}}`` (group ``None`` when ``group_by`` is None) of ``expression``
    over ``queryset``; rows where the expression is NULL are left out.

    PostgreSQL: one GROUP BY query with ``percentile_cont``. SQLite: one query reading the sorted
    durations column (and the group key) only."""
    qs = queryset.order_by().annotate(_value=expression).filter(_value__isnull=False)
    if connection.vendor == "postgresql":
        aggregates = {name: PercentileCont(F("_value"), f) for name, f in fractions.items()}
        if group_by is None:
            return {None: qs.aggregate(**aggregates)}
        return {
            row.pop("_group"): row
            for row in qs.annotate(_group=F(group_by)).values("_group").annotate(**aggregates)
        }
    groups: dict = defaultdict(list)
    key = F(group_by) if group_by else Value(None, output_field=IntegerField())
    for group, value in qs.annotate(_group=key).order_by("_value").values_list("_group", "_value"):
        groups[group].append(value)
    if group_by is None and not groups:
        groups[None] = []
    return {
        group: {name: interpolate(values, f) for name, f in fractions.items()}
        for group, values in groups.items()
    }
