"""The funnel dashboard's rollup: leads per day (``LeadDay``)."""

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
from django.db.models.functions import Coalesce, TruncDate

from analytics.models import LeadDay
from analytics.rollups.base import _in_days, days_of, first_day_of, pack
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


def _lead_rows(first: dt.date, last: dt.date) -> list[LeadDay]:
    from leads.choices import LeadStatus
    from leads.models import Lead

    reached = (LeadStatus.QUALIFIED, LeadStatus.CONVERTED)
    rows = (
        Lead.objects.filter(_in_days("created_at", first, last))
        .order_by()
        .annotate(day=TruncDate("created_at"), **lead_history())
        .values_list(
            "day",
            "owner_id",
            "source",
            "campaign_id",
            "status",
            "has_deal",
            "has_win",
            "touch",
            "qualify",
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, source, campaign, status, has_deal, has_win, touch, qualify in rows.iterator(
        chunk_size=5000
    ):
        g = groups.get((day, owner, source, campaign))
        if g is None:
            g = groups[(day, owner, source, campaign)] = [0, 0, 0, 0, 0, [], []]
        g[0] += 1
        g[1] += status in reached
        g[2] += status == LeadStatus.CONVERTED
        g[3] += bool(has_deal)
        g[4] += bool(has_win)
        if touch is not None:
            g[5].append(touch)
        if qualify is not None:
            g[6].append(qualify)
    return [
        LeadDay(
            date=day,
            owner_id=owner,
            source=source,
            campaign_id=campaign,
            leads=g[0],
            qualified=g[1],
            converted=g[2],
            with_deal=g[3],
            won=g[4],
            touch_seconds=pack(g[5]),
            qualify_seconds=pack(g[6]),
        )  # fmt: skip
        for (day, owner, source, campaign), g in groups.items()
    ]


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
