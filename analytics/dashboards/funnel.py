"""Lead funnel dashboard: where leads come from, how far they get, how fast, and what a
campaign's money bought."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from analytics import rollups
from analytics.dashboards.base import Col, Figure, Scope, percent
from analytics.models import DealDay, LeadDay
from leads.choices import LeadSource
from leads.models import Campaign
from sales.choices import StageKind

ZERO = Decimal("0")


def _lead_days(scope: Scope):
    """Rollup rows of the leads created in the range that the user may see (and the filters
    keep)."""
    days = LeadDay.objects.visible_to(scope.user).filter(date__gte=scope.start, date__lte=scope.end)
    return scope.owned(days).order_by()


def leads_by_source(scope: Scope) -> list[dict]:
    labels = dict(LeadSource.choices)
    rows = (
        _lead_days(scope)
        .values("source")
        .annotate(leads=Sum("leads"), qualified=Sum("qualified"), converted=Sum("converted"))
        .order_by("-leads", "source")
    )
    return [
        {
            "source": labels.get(r["source"], r["source"]),
            "leads": r["leads"],
            "qualified": r["qualified"],
            "converted": r["converted"],
            "conversion": percent(r["converted"], r["leads"]),
        }
        for r in rows
    ]


def leads_by_campaign(scope: Scope) -> list[dict]:
    rows = (
        _lead_days(scope)
        .values("campaign_id", "campaign__name")
        .annotate(leads=Sum("leads"), converted=Sum("converted"))
        .order_by("-leads", "campaign__name")
    )
    return [
        {
            "campaign": r["campaign__name"] or "No campaign",
            "leads": r["leads"],
            "converted": r["converted"],
            "conversion": percent(r["converted"], r["leads"]),
        }
        for r in rows
    ]


def funnel(scope: Scope) -> list[dict]:
    totals = _lead_days(scope).aggregate(
        leads=Sum("leads"), qualified=Sum("qualified"), opportunity=Sum("with_deal"),
        won=Sum("won"),
    )  # fmt: skip
    if not totals["leads"]:
        return []
    steps = [
        ("Leads", totals["leads"]),
        ("Qualified", totals["qualified"]),
        ("Opportunity", totals["opportunity"]),
        ("Won", totals["won"]),
    ]
    rows, previous = [], None
    for name, n in steps:
        rows.append(
            {
                "step": name,
                "leads": n,
                "of_leads": percent(n, totals["leads"]),
                "of_previous": percent(n, previous) if previous is not None else None,
            }
        )
        previous = n
    return rows


def speed_by_source(scope: Scope) -> list[dict]:
    durations = rollups.grouped(_lead_days(scope), "source", ("touch_seconds", "qualify_seconds"))
    labels = dict(LeadSource.choices)
    rows = []
    for source in sorted(durations, key=str):
        d = durations[source]
        t = rollups.percentiles([d["touch_seconds"]], {"median": 0.5}, scale=3600.0)["median"]
        q = rollups.percentiles([d["qualify_seconds"]], {"median": 0.5}, scale=86400.0)["median"]
        if t is None and q is None:
            continue
        rows.append(
            {
                "source": labels.get(source, source),
                "touch_hours": round(t, 1) if t is not None else None,
                "qualify_days": round(q, 1) if q is not None else None,
            }
        )
    return rows


def campaign_roi(scope: Scope) -> list[dict]:
    leads = dict(
        _lead_days(scope)
        .filter(campaign__isnull=False)
        .values("campaign_id")
        .annotate(n=Sum("leads"))
        .values_list("campaign_id", "n")
    )
    won = {
        r["campaign_id"]: r
        for r in scope.owned(DealDay.objects.visible_to(scope.user))
        .filter(
            date__gte=scope.start,
            date__lte=scope.end,
            status=StageKind.WON,
            campaign__isnull=False,
        )
        .order_by()
        .values("campaign_id")
        .annotate(n=Sum("deals_count"), revenue=Sum("amount"))
    }
    campaigns = (
        Campaign.objects.visible_to(scope.user)
        .filter(pk__in=set(leads) | set(won))
        .order_by("name")
        .values("pk", "name", "cost")
    )
    rows = []
    for c in campaigns:
        n_leads = leads.get(c["pk"], 0)
        w = won.get(c["pk"], {})
        n_won, revenue, cost = w.get("n", 0), w.get("revenue") or ZERO, c["cost"]
        rows.append(
            {
                "campaign": c["name"],
                "cost": cost,
                "leads": n_leads,
                "won": n_won,
                "revenue": revenue,
                "cost_per_lead": (cost / n_leads).quantize(Decimal("0.01")) if n_leads else None,
                "cost_per_won": (cost / n_won).quantize(Decimal("0.01")) if n_won else None,
                "roi": percent(revenue - cost, cost),
            }
        )
    return rows


FIGURES = (
    Figure(
        key="funnel",
        rollups=("leads",),
        title="Lead funnel",
        how="Leads created in the range; qualified = now Qualified or Converted; opportunity = "
        "a deal was made from the lead; won = one of those deals is won. Percentages of all "
        "leads and of the step before.",
        compute=funnel,
        columns=(
            Col("step", "Step"),
            Col("leads", "Leads", "int"),
            Col("of_leads", "Of all leads", "percent"),
            Col("of_previous", "Of previous step", "percent"),
        ),
        label="step",
        series=("leads",),
    ),
    Figure(
        key="by_source",
        rollups=("leads",),
        title="Leads by source",
        how="Leads created in the range per source; converted ÷ leads is the conversion.",
        compute=leads_by_source,
        columns=(
            Col("source", "Source"),
            Col("leads", "Leads", "int"),
            Col("qualified", "Qualified", "int"),
            Col("converted", "Converted", "int"),
            Col("conversion", "Conversion", "percent"),
        ),
        label="source",
        series=("leads", "converted"),
    ),
    Figure(
        key="by_campaign",
        rollups=("leads",),
        title="Leads by campaign",
        how="Leads created in the range per campaign they came from.",
        compute=leads_by_campaign,
        columns=(
            Col("campaign", "Campaign"),
            Col("leads", "Leads", "int"),
            Col("converted", "Converted", "int"),
            Col("conversion", "Conversion", "percent"),
        ),
        label="campaign",
        series=("leads", "converted"),
        chart="hbar",
    ),
    Figure(
        key="speed",
        rollups=("leads",),
        title="Time to first touch and to qualification",
        how="Per source, over leads created in the range: median hours from creation to the "
        "first call, email or meeting logged on the lead by a person; median days from "
        "creation to the status change to Qualified (or to conversion when it skipped it), "
        "exact medians of every lead's duration kept in the rollup. "
        "Activities move to the contact on conversion, so converted leads count for "
        "qualification only.",
        compute=speed_by_source,
        columns=(
            Col("source", "Source"),
            Col("touch_hours", "Median hours to first touch", "hours"),
            Col("qualify_days", "Median days to qualification", "days"),
        ),
        label="source",
        series=("touch_hours", "qualify_days"),
    ),
    Figure(
        key="campaign_roi",
        rollups=("leads", "deals"),
        title="Campaign cost, cost per lead, cost per won deal and ROI",
        how="Cost is the campaign's whole recorded cost; leads = its leads created in the "
        "range; won/revenue = its deals won in the range; cost per lead = cost ÷ leads; cost "
        "per won deal = cost ÷ won; ROI = (revenue − cost) ÷ cost.",
        compute=campaign_roi,
        columns=(
            Col("campaign", "Campaign"),
            Col("cost", "Cost", "money"),
            Col("leads", "Leads", "int"),
            Col("won", "Won deals", "int"),
            Col("revenue", "Won revenue", "money"),
            Col("cost_per_lead", "Cost per lead", "money"),
            Col("cost_per_won", "Cost per won deal", "money"),
            Col("roi", "ROI", "percent"),
        ),
        label="campaign",
        series=("roi",),
    ),
)
