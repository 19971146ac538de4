"""The pipeline dashboard's rollups: closed deals per day (``DealDay``), stage changes per day
(``StageDay``) and the snapshot of the deals open now (``OpenDeals``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import TruncDate

from analytics.models import DealDay, OpenDeals, StageDay
from analytics.rollups.base import _as_date, _in_days, days_of, first_day_of, local_day, pack
from analytics.sql import Seconds

# Deals ---------------------------------------------------------------------------------------


def _deal_rows(first: dt.date, last: dt.date) -> list[DealDay]:
    from sales.choices import StageKind
    from sales.models import Opportunity

    rows = (
        Opportunity.objects.exclude(status=StageKind.OPEN)
        .filter(_in_days("closed_at", first, last))
        .order_by()
        .annotate(day=TruncDate("closed_at"), cycle=Seconds(F("closed_at"), F("created_at")))
        .values_list(
            "day", "owner_id", "status", "source_lead__source", "campaign_id", "amount", "cycle"
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, status, source, campaign, amount, cycle in rows.iterator(chunk_size=5000):
        key = (day, owner, status, source or "", campaign)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, Decimal("0"), 0.0]
        g[0] += 1
        g[1] += amount or 0
        g[2] += cycle or 0.0
    return [
        DealDay(
            date=day,
            owner_id=owner,
            status=status,
            source=source,
            campaign_id=campaign,
            deals_count=g[0],
            amount=g[1],
            cycle_seconds=g[2],
        )  # fmt: skip
        for (day, owner, status, source, campaign), g in groups.items()
    ]


def _deal_days_changed(since: dt.datetime) -> set[dt.date]:
    from sales.models import Opportunity

    return days_of(
        Opportunity.objects.filter(updated_at__gte=since, closed_at__isnull=False), "closed_at"
    )


def _deal_first_day() -> dt.date | None:
    from sales.models import Opportunity

    return first_day_of(Opportunity.objects.filter(closed_at__isnull=False), "closed_at")


# Stage changes -------------------------------------------------------------------------------


def stage_history() -> dict:
    """Annotations of a ``StageChange``: whether it moved the deal on (to a later stage, not
    lost), and when the deal last entered the same stage and last moved on from the same stage
    before it (None if never): a change is the first of its kind in a range if that is before
    the range. Shared by the rollup and the dashboard's live path."""
    from sales.choices import StageKind
    from sales.models import StageChange

    earlier = Q(changed_at__lt=OuterRef("changed_at")) | Q(
        changed_at=OuterRef("changed_at"), pk__lt=OuterRef("pk")
    )
    same_deal = StageChange.objects.filter(earlier, opportunity_id=OuterRef("opportunity_id"))
    advance = Q(from_stage__isnull=False, to_stage__order__gt=F("from_stage__order")) & ~Q(
        to_stage__kind=StageKind.LOST
    )
    entered_before = Subquery(
        same_deal.filter(to_stage_id=OuterRef("to_stage_id"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    advanced_before = Subquery(
        same_deal.filter(advance, from_stage_id=OuterRef("from_stage_id"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    return {
        "advanced": Case(When(advance, then=Value(True)), default=Value(False)),
        "entered_before": entered_before,
        "advanced_before": Case(When(advance, then=advanced_before), default=Value(None)),
    }


def _stage_rows(first: dt.date, last: dt.date) -> list[StageDay]:
    from sales.models import StageChange

    rows = (
        StageChange.objects.filter(_in_days("changed_at", first, last))
        .order_by()
        .annotate(day=TruncDate("changed_at"), **stage_history())
        .values_list(
            "day",
            "opportunity__owner_id",
            "from_stage_id",
            "to_stage_id",
            "advanced",
            "entered_before",
            "advanced_before",
            "seconds_in_from_stage",
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, from_id, to_id, advanced, entered, moved, seconds in rows.iterator(
        chunk_size=5000
    ):
        key = (day, owner, from_id, to_id, bool(advanced), local_day(entered), local_day(moved))
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, []]
        g[0] += 1
        if seconds is not None and from_id is not None:
            g[1].append(float(seconds))
    return [
        StageDay(
            date=day,
            owner_id=owner,
            from_stage_id=from_id,
            to_stage_id=to_id,
            advanced=advanced,
            entered_before=entered,
            advanced_before=moved,
            moves=g[0],
            seconds=pack(g[1]),
        )  # fmt: skip
        for (day, owner, from_id, to_id, advanced, entered, moved), g in groups.items()
    ]


def _stage_days_changed(since: dt.datetime) -> set[dt.date]:
    from sales.models import Opportunity, StageChange

    return days_of(
        StageChange.objects.filter(
            Q(changed_at__gte=since)
            | Q(opportunity__in=Opportunity.objects.filter(updated_at__gte=since).values("pk"))
        ),
        "changed_at",
    )


def _stage_first_day() -> dt.date | None:
    from sales.models import StageChange

    return first_day_of(StageChange.objects.all(), "changed_at")


# The deals open now -------------------------------------------------------------------------


def _open_deals_rows(today: dt.date) -> list[OpenDeals]:
    from django.db.models import Count, DecimalField, ExpressionWrapper, Sum
    from django.db.models.functions import TruncMonth

    from sales.choices import StageKind
    from sales.models import Opportunity

    weighted = ExpressionWrapper(
        F("amount") * F("probability") / Value(100),
        output_field=DecimalField(max_digits=24, decimal_places=4),
    )
    rows = (
        Opportunity.objects.filter(status=StageKind.OPEN)
        .order_by()
        .annotate(
            expected_month=TruncMonth("expected_close_date"),
            slipped=Case(
                When(expected_close_date__lt=today, then=Value(True)), default=Value(False)
            ),
        )
        .values(
            "owner_id", "pipeline_id", "stage_id", "forecast_category", "expected_month", "slipped"
        )  # fmt: skip
        .annotate(n=Count("id"), total=Sum("amount"), total_weighted=Sum(weighted))
    )
    return [
        OpenDeals(
            owner_id=r["owner_id"],
            pipeline_id=r["pipeline_id"],
            stage_id=r["stage_id"],
            forecast_category=r["forecast_category"],
            expected_month=_as_date(r["expected_month"]),
            slipped=bool(r["slipped"]),
            deals_count=r["n"],
            amount=r["total"] or 0,
            weighted=r["total_weighted"] or 0,
        )  # fmt: skip
        for r in rows
    ]
