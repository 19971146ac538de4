"""The pipeline dashboard's rollups: closed deals per day (``DealDay``), stage changes per day
(``StageDay``) and the snapshot of the deals open now (``OpenDeals``)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When

from analytics.models import DealDay, OpenDeals, StageDay
from analytics.rollups.base import (
    days_of,
    first_day_of,
    insert_select,
    local_date_sql,
    packed_sql,
    rate_join_sql,
    rate_sql,
    seconds_sql,
    table,
    window_params,
)

# Deals ---------------------------------------------------------------------------------------


def _deal_write(first: dt.date, last: dt.date) -> int:
    """The deals closed on the days, per day, owner, outcome, lead source, campaign and
    currency: amounts in the company currency at the rate of the close date (each deal rounded
    to the cent, as ``crm.currencies.convert``); a deal with no rate for its day keeps its row
    with a NULL rate and adds nothing to the amount."""
    from leads.models import Lead
    from sales.choices import StageKind
    from sales.models import Opportunity

    start, end = window_params(first, last)
    join, join_params = rate_join_sql("r", "d.currency", "d.day")
    rate, rate_params = rate_sql("r", "d.currency")
    sql = f"""
        WITH d AS MATERIALIZED (
            SELECT o.owner_id, o.status, o.source_lead_id, o.campaign_id, o.currency, o.amount,
                   {local_date_sql("o.closed_at")} AS day,
                   {seconds_sql("o.closed_at", "o.created_at")} AS cycle
            FROM {table(Opportunity)} o
            WHERE o.status <> %s AND o.closed_at >= %s AND o.closed_at < %s
        ), deals AS (
            SELECT d.day, d.owner_id, d.status, COALESCE(l.source, '') AS source, d.campaign_id,
                   d.currency, {rate} AS rate, r.valid_from AS rate_date, d.amount, d.cycle
            FROM d LEFT JOIN {table(Lead)} l ON l.id = d.source_lead_id
            {join}
        )
        INSERT INTO {table(DealDay)} (date, owner_id, status, source, campaign_id, currency,
            rate, rate_date, deals_count, amount, cycle_seconds)
        SELECT day, owner_id, status, source, campaign_id, currency, rate, rate_date, COUNT(*),
               COALESCE(SUM(ROUND(amount * rate, 2)), 0), COALESCE(SUM(cycle), 0)
        FROM deals
        GROUP BY day, owner_id, status, source, campaign_id, currency, rate, rate_date
    """
    return insert_select(sql, [str(StageKind.OPEN), start, end, *rate_params, *join_params])


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


def _stage_write(first: dt.date, last: dt.date) -> int:
    """The stage changes of the days, per day, owner, move and the days the deal last entered
    the same stage and last moved on from it (what ``stage_history`` annotates row by row,
    here by window functions over the history of the deals that moved in the days)."""
    from sales.choices import StageKind
    from sales.models import Opportunity, Stage, StageChange

    start, end = window_params(first, last)
    sql = f"""
        WITH moved AS MATERIALIZED (
            SELECT DISTINCT opportunity_id FROM {table(StageChange)}
            WHERE changed_at >= %s AND changed_at < %s
        ), own AS MATERIALIZED (
            -- Each moved deal's own history through its index, not every change before the
            -- run's end (a scan of the whole table per month of a rebuild).
            SELECT c.* FROM moved CROSS JOIN LATERAL (
                SELECT h.id, h.opportunity_id, h.from_stage_id, h.to_stage_id, h.changed_at,
                       h.seconds_in_from_stage
                FROM {table(StageChange)} h
                WHERE h.opportunity_id = moved.opportunity_id AND h.changed_at < %s
            ) c
        ), history AS (
            SELECT c.*,
                   COALESCE(c.from_stage_id IS NOT NULL AND ts."order" > fs."order"
                            AND ts.kind <> %s, false) AS advanced
            FROM own c
            JOIN {table(Stage)} ts ON ts.id = c.to_stage_id
            LEFT JOIN {table(Stage)} fs ON fs.id = c.from_stage_id
        ), changes AS (
            SELECT h.*,
                   lag(h.changed_at) OVER (PARTITION BY h.opportunity_id, h.to_stage_id
                                           ORDER BY h.changed_at, h.id) AS entered_before,
                   CASE WHEN h.advanced THEN
                       lag(h.changed_at) OVER (PARTITION BY h.opportunity_id, h.from_stage_id,
                                               h.advanced ORDER BY h.changed_at, h.id)
                   END AS advanced_before
            FROM history h
        )
        INSERT INTO {table(StageDay)} (date, owner_id, from_stage_id, to_stage_id, advanced,
            entered_before, advanced_before, moves, seconds)
        SELECT {local_date_sql("c.changed_at")} AS day, o.owner_id, c.from_stage_id,
               c.to_stage_id, c.advanced, {local_date_sql("c.entered_before")} AS entered,
               {local_date_sql("c.advanced_before")} AS moved, COUNT(*),
               {packed_sql("c.seconds_in_from_stage", "c.from_stage_id IS NOT NULL")}
        FROM changes c JOIN {table(Opportunity)} o ON o.id = c.opportunity_id
        WHERE c.changed_at >= %s
        GROUP BY day, o.owner_id, c.from_stage_id, c.to_stage_id, c.advanced, entered, moved
    """
    return insert_select(sql, [start, end, end, str(StageKind.LOST), start])


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
    """The deals open now, per owner, pipeline, stage, forecast category, expected month and
    currency: amounts in the company currency at the rate of the expected close date (today
    when there is none); deals with no rate keep their row with a NULL rate and no amount."""
    from sales.choices import StageKind
    from sales.models import Opportunity

    join, join_params = rate_join_sql("r", "d.currency", "d.on_day")
    rate, rate_params = rate_sql("r", "d.currency")
    sql = f"""
        WITH d AS (
            SELECT o.*, COALESCE(o.expected_close_date, %s) AS on_day
            FROM {table(Opportunity)} o WHERE o.status = %s
        ), deals AS (
            SELECT d.owner_id, d.pipeline_id, d.stage_id, d.forecast_category,
                   date_trunc('month', d.expected_close_date)::date AS expected_month,
                   COALESCE(d.expected_close_date < %s, false) AS slipped, d.currency,
                   {rate} AS rate, r.valid_from AS rate_date,
                   ROUND(d.amount * {rate}, 2) AS converted, d.probability
            FROM d {join}
        )
        SELECT owner_id, pipeline_id, stage_id, forecast_category, expected_month, slipped,
               currency, rate, rate_date, COUNT(*), COALESCE(SUM(converted), 0),
               COALESCE(SUM(converted * probability / 100), 0)
        FROM deals
        GROUP BY owner_id, pipeline_id, stage_id, forecast_category, expected_month, slipped,
                 currency, rate, rate_date
    """
    params = [today, str(StageKind.OPEN), today, *rate_params, *rate_params, *join_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    fields = (
        "owner_id", "pipeline_id", "stage_id", "forecast_category", "expected_month", "slipped",
        "currency", "rate", "rate_date", "deals_count", "amount", "weighted",
    )  # fmt: skip
    return [OpenDeals(**dict(zip(fields, row, strict=True))) for row in rows]
