"""The funnel dashboard's rollup: leads per day (``LeadDay``), written in SQL."""

from __future__ import annotations

import datetime as dt

from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    Case,
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from analytics.models import LeadDay
from analytics.rollups.base import (
    days_of,
    first_day_of,
    insert_select,
    local_date_sql,
    packed_sql,
    seconds_sql,
    table,
    window_params,
)
from analytics.sql import Seconds

# Leads ---------------------------------------------------------------------------------------


def lead_history() -> dict:
    """Annotations of a ``Lead``: whether a deal was made from it and whether one is won, the
    seconds from creation to the first call, email or meeting a person logged on it, and, for
    a lead that reached Qualified, to when it was first set to Qualified (the status change on
    its timeline), else converted (a lead converted straight away is qualified then). Shared by
    the rollup and the dashboard's live path."""
    from crm.choices import ActivityKind
    from crm.models import Activity
    from leads.choices import LeadStatus
    from leads.models import Lead
    from sales.choices import StageKind
    from sales.models import Opportunity

    lead_type = ContentType.objects.get_for_model(Lead)
    touches = (ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING)
    first_touch = Subquery(
        Activity.objects.filter(
            content_type=lead_type, object_id=OuterRef("pk"), kind__in=touches, actor__isnull=False
        )
        .order_by()
        .values("object_id")
        .annotate(first=Min("occurred_at"))
        .values("first")[:1]
    )
    status_change = Subquery(
        Activity.objects.filter(
            content_type=lead_type,
            object_id=OuterRef("pk"),
            kind=ActivityKind.SYSTEM,
            summary__startswith="Status:",
            summary__endswith="→ Qualified",
        )
        .order_by()
        .values("object_id")
        .annotate(first=Min("occurred_at"))
        .values("first")[:1]
    )
    deals = Opportunity.objects.filter(source_lead=OuterRef("pk"))
    return {
        "has_deal": Exists(deals),
        "has_win": Exists(deals.filter(status=StageKind.WON)),
        "touch": Seconds(first_touch, F("created_at")),
        "qualify": Case(
            When(
                status__in=(LeadStatus.QUALIFIED, LeadStatus.CONVERTED),
                then=Seconds(Coalesce(status_change, F("converted_at")), F("created_at")),
            ),
            default=Value(None),
            output_field=FloatField(),
        ),
    }


def _lead_write(first: dt.date, last: dt.date) -> int:
    """The leads created on the days, per day, owner, source and campaign: one INSERT ...
    SELECT ... GROUP BY, the first touch and the first "→ Qualified" of each lead found by
    grouping the leads' activities once (what ``lead_history`` annotates row by row)."""
    from crm.choices import ActivityKind
    from crm.models import Activity
    from leads.choices import LeadStatus
    from leads.models import Lead
    from sales.choices import StageKind
    from sales.models import Opportunity

    lead_type = ContentType.objects.get_for_model(Lead).pk
    reached = [str(LeadStatus.QUALIFIED), str(LeadStatus.CONVERTED)]
    touches = [ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING]
    start, end = window_params(first, last)
    sql = f"""
        WITH w AS MATERIALIZED (
            SELECT id, created_at, owner_id, source, campaign_id, status, converted_at
            FROM {table(Lead)} WHERE created_at >= %s AND created_at < %s
        ), touched AS (
            SELECT a.object_id, MIN(a.occurred_at) AS at
            FROM {table(Activity)} a JOIN w ON w.id = a.object_id
            WHERE a.content_type_id = %s AND a.kind = ANY(%s) AND a.actor_id IS NOT NULL
            GROUP BY a.object_id
        ), qualified AS (
            SELECT a.object_id, MIN(a.occurred_at) AS at
            FROM {table(Activity)} a JOIN w ON w.id = a.object_id
            WHERE a.content_type_id = %s AND a.kind = %s
              AND a.summary LIKE %s AND a.summary LIKE %s
            GROUP BY a.object_id
        ), deals AS (
            SELECT o.source_lead_id AS lead_id, bool_or(o.status = %s) AS won
            FROM {table(Opportunity)} o JOIN w ON w.id = o.source_lead_id
            GROUP BY o.source_lead_id
        ), leads AS (
            SELECT {local_date_sql("w.created_at")} AS day, w.owner_id, w.source,
                   w.campaign_id, w.status, d.lead_id IS NOT NULL AS has_deal,
                   COALESCE(d.won, false) AS has_win,
                   {seconds_sql("t.at", "w.created_at")} AS touch,
                   CASE WHEN w.status = ANY(%s) THEN
                       {seconds_sql("COALESCE(q.at, w.converted_at)", "w.created_at")} END
                   AS qualify
            FROM w
            LEFT JOIN touched t ON t.object_id = w.id
            LEFT JOIN qualified q ON q.object_id = w.id
            LEFT JOIN deals d ON d.lead_id = w.id
        )
        INSERT INTO {table(LeadDay)} (date, owner_id, source, campaign_id, leads, qualified,
            converted, with_deal, won, touch_seconds, qualify_seconds)
        SELECT day, owner_id, source, campaign_id, COUNT(*),
               COUNT(*) FILTER (WHERE status = ANY(%s)), COUNT(*) FILTER (WHERE status = %s),
               COUNT(*) FILTER (WHERE has_deal), COUNT(*) FILTER (WHERE has_win),
               {packed_sql("touch")}, {packed_sql("qualify")}
        FROM leads GROUP BY day, owner_id, source, campaign_id
    """
    params = [
        start, end,
        lead_type, [str(k) for k in touches],
        lead_type, str(ActivityKind.SYSTEM), "Status:%", "%→ Qualified",
        str(StageKind.WON),
        reached,
        reached, str(LeadStatus.CONVERTED),
    ]  # fmt: skip
    return insert_select(sql, params)


def _lead_days_changed(since: dt.datetime) -> set[dt.date]:
    from crm.models import Activity
    from leads.models import Lead
    from sales.models import Opportunity

    lead_type = ContentType.objects.get_for_model(Lead)
    changed = Lead.objects.filter(
        Q(updated_at__gte=since)
        | Q(pk__in=Opportunity.objects.filter(updated_at__gte=since).values("source_lead_id"))
        | Q(
            pk__in=Activity.objects.filter(content_type=lead_type, created_at__gte=since).values(
                "object_id"
            )
        )
    )
    return days_of(changed, "created_at")


def _lead_first_day() -> dt.date | None:
    from leads.models import Lead

    return first_day_of(Lead.objects.all(), "created_at")
