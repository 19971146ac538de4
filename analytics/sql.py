"""SQL building blocks the dashboards share: durations in seconds and percentiles.

Percentiles are computed in the database (``percentile_cont ... WITHIN GROUP``).
"""

from __future__ import annotations

from django.db.models import Aggregate, DateField, F, FloatField, Func


class Seconds(Func):
    """``end - start`` in seconds, as a float (NULL when either is NULL)."""

    output_field = FloatField()

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, conn, **extra):
        end, end_params = compiler.compile(self.source_expressions[0])
        start, start_params = compiler.compile(self.source_expressions[1])
        return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision", [
            *end_params,
            *start_params,
        ]


class MonthEnd(Func):
    """The last day of the month of a date (as ``analytics.rollups.base.month_end_sql``)."""

    output_field = DateField()
    template = "(date_trunc('month', %(expressions)s) + interval '1 month - 1 day')::date"


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


def percentiles(queryset, expression, fractions: dict[str, float], group_by: str | None = None):
    """``{group: {name: value}}`` (group ``None`` when ``group_by`` is None) of ``expression``
    over ``queryset``; rows where the expression is NULL are left out.

    One GROUP BY query with ``percentile_cont``."""
    qs = queryset.order_by().annotate(_value=expression).filter(_value__isnull=False)
    aggregates = {name: PercentileCont(F("_value"), f) for name, f in fractions.items()}
    if group_by is None:
        return {None: qs.aggregate(**aggregates)}
    return {
        row.pop("_group"): row
        for row in qs.annotate(_group=F(group_by)).values("_group").annotate(**aggregates)
    }
