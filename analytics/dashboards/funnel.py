"""Lead funnel dashboard: where leads come from, how far they get, how fast, and what a
campaign's money bought.

The lead figures read the per-day lead rollup. With a segment chosen (of leads, or of accounts
or contacts: the leads converted into those accounts), the same figure code reads the segment's
leads annotated into the rollup's shape (one lead a row); the median durations come from SQL
instead of the packed rollup values. The campaign return is the campaign page's own
(``leads.campaigns.selectors.campaign_return``), so the two never disagree."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Case, Count, Q, Sum, Value, When

from analytics import rollups
from analytics.dashboards.base import (
    Col,
    Figure,
    Scope,
    left_out_text,
    percent,
    rates_used_text,
)
from analytics.models import LeadDay
from analytics.sql import percentiles as sql_percentiles
from crm.currencies import company_currency
from crm.segments.choices import SegmentTarget
from crm.segments.selectors import segment_queryset
from leads.campaigns.selectors import (
    Attribution,
    attribution_rates,
    campaign_return,
    campaigns_attribution,
    with_cost_rate,
)
from leads.choices import LeadSource, LeadStatus
from leads.models import Campaign, Lead

REACHED_QUALIFIED = (LeadStatus.QUALIFIED, LeadStatus.CONVERTED)
HOUR, DAY = 3600.0, 86400.0


def _in_segment(scope: Scope, queryset, lead: str = "pk"):
    """``queryset`` narrowed to the segment's leads (``lead`` names the lead): a lead segment's
    members, or the leads converted into an account segment's accounts (a contact segment's
    contacts' accounts)."""
    if scope.segment.target == SegmentTarget.LEAD:
        members = scope.memo(
            "segment_leads",
            lambda: segment_queryset(scope.segment, user=scope.user).order_by().values("pk"),
        )
        return queryset.filter(**{f"{lead}__in": members})
    through = "" if lead == "pk" else f"{lead}__"
    return queryset.filter(**{f"{through}converted_account_id__in": scope.segment_accounts()})


def _count_if(condition):
    return Case(When(condition, then=Value(1)), default=Value(0))


def _lead_days(scope: Scope):
    """Rollup rows of the leads created in the range that the user may see (and the filters
    keep); with a segment, its leads in the rollup's shape."""
    if scope.segment is None:
        days = LeadDay.objects.visible_to(scope.user).filter(
            date__gte=scope.start, date__lte=scope.end
        )
        return scope.owned(days).order_by()
    return _leads(scope).annotate(
        leads=Value(1),
        qualified=_count_if(Q(status__in=REACHED_QUALIFIED)),
        converted=_count_if(Q(status=LeadStatus.CONVERTED)),
        with_deal=_count_if(Q(has_deal=True)),
        won=_count_if(Q(has_win=True)),
    )


def _leads(scope: Scope):
    """The segment's leads created in the range the user may see, with their history."""
    leads = scope.between(scope.owned(Lead.objects.visible_to(scope.user)), "created_at")
    history = rollups.lead_history()
    return (
        _in_segment(scope, leads)
        .order_by()
        .annotate(has_deal=history["has_deal"], has_win=history["has_win"])
    )


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
    # Names of their own: an aggregate named as the live path's per-lead annotation it sums
    # would replace that annotation.
    totals = _lead_days(scope).aggregate(
        n_leads=Sum("leads"), n_qualified=Sum("qualified"), n_opportunity=Sum("with_deal"),
        n_won=Sum("won"),
    )  # fmt: skip
    if not totals["n_leads"]:
        return []
    steps = [
        ("Leads", totals["n_leads"]),
        ("Qualified", totals["n_qualified"]),
        ("Opportunity", totals["n_opportunity"]),
        ("Won", totals["n_won"]),
    ]
    rows, previous = [], None
    for name, n in steps:
        rows.append(
            {
                "step": name,
                "leads": n,
                "of_leads": percent(n, totals["n_leads"]),
                "of_previous": percent(n, previous) if previous is not None else None,
            }
        )
        previous = n
    return rows


MEDIAN = {"median": 0.5}


def speed_by_source(scope: Scope) -> list[dict]:
    durations = rollups.grouped(_lead_days(scope), "source", ("touch_seconds", "qualify_seconds"))
    return _speed_rows(
        {s: rollups.percentiles([d["touch_seconds"]], MEDIAN, scale=HOUR) for s, d in durations.items()},
        {s: rollups.percentiles([d["qualify_seconds"]], MEDIAN, scale=DAY) for s, d in durations.items()},
    )  # fmt: skip


def speed_by_source_live(scope: Scope) -> list[dict]:
    leads, history = _leads(scope), rollups.lead_history()
    return _speed_rows(
        sql_percentiles(leads, history["touch"] / Value(HOUR), MEDIAN, group_by="source"),
        sql_percentiles(leads, history["qualify"] / Value(DAY), MEDIAN, group_by="source"),
    )


def _speed_rows(touch: dict, qualify: dict) -> list[dict]:
    """Per source with a duration: the median hours to first touch and days to qualify."""
    labels = dict(LeadSource.choices)
    rows = []
    for source in sorted(set(touch) | set(qualify), key=str):
        t = touch.get(source, {}).get("median")
        q = qualify.get(source, {}).get("median")
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
    """Each campaign's return to date, computed by the campaign page's own function
    (``campaign_return``) over the credits of the deals the user may see, narrowed to the
    chosen owners; its leads to date for the cost per lead. Not limited to the date range: a
    campaign's cost is one sum, not spread over days, so a range would cut its revenue and not
    its cost."""
    credited = campaigns_attribution(user=scope.user, owner_ids=scope.owner_ids)
    leads = campaign_leads(scope)
    campaigns = with_cost_rate(
        Campaign.objects.visible_to(scope.user)
        .filter(pk__in=set(leads) | set(credited))
        .order_by("name")
    )
    rows = []
    for campaign in campaigns:
        result = campaign_return(
            campaign=campaign, credited=credited.get(campaign.pk, Attribution())
        )
        n_leads, cost = leads.get(campaign.pk, 0), result["cost"]
        rows.append(
            {
                "campaign": campaign.name,
                "cost": cost,
                "leads": n_leads,
                "cost_per_lead": (
                    (cost / n_leads).quantize(Decimal("0.01"))
                    if n_leads and cost is not None
                    else None
                ),
                "first_touch_deals": result["first_touch_deals"],
                "first_touch": result["first_touch"],
                "first_touch_roi": _as_percent(result["first_touch_roi"]),
                "last_touch_deals": result["last_touch_deals"],
                "last_touch": result["last_touch"],
                "last_touch_roi": _as_percent(result["last_touch_roi"]),
            }
        )
    return rows


def campaign_leads(scope: Scope) -> dict[int, int]:
    """Each campaign's leads to date that the user may see (of the chosen owners), the leads a
    campaign row counts, from the leads rollup summed over every day. The rollup is kept per
    owner, so it cannot tell which unassigned leads a manager sees (those of the teams they
    manage and those routed to none): for a manager these are counted from the records (a few
    percent of the leads, counted in the index of the unassigned leads alone); an admin sees
    them all and a rep none, as the rollup's visibility has it."""
    user = scope.user
    days = scope.owned(LeadDay.objects.visible_to(user)).filter(campaign__isnull=False)
    counted = [(days, Sum("leads"))]
    if user.is_manager and not user.is_admin_role and scope.owner_ids is None:
        unassigned = Lead.objects.unassigned_visible_to(user).filter(campaign__isnull=False)
        # COUNT(*), not of a column: the index of the unassigned leads then answers alone.
        counted = [(days.filter(owner__isnull=False), Sum("leads")), (unassigned, Count("*"))]
    counts: dict[int, int] = {}
    for rows, total in counted:
        grouped = rows.order_by().values("campaign_id").annotate(n=total)
        for campaign_id, n in grouped.values_list("campaign_id", "n"):
            counts[campaign_id] = counts.get(campaign_id, 0) + n
    return counts


def roi_note(scope: Scope, figure: Figure) -> str:
    """The rates the credited deals were converted at and the deals left out for want of one."""
    used: set[tuple] = set()
    missing: dict[tuple[str, str], int] = {}
    for currency, rate_date, rate, month, n in attribution_rates(
        user=scope.user, owner_ids=scope.owner_ids
    ):
        if rate is None:
            key = (currency, month.strftime("%Y-%m"))
            missing[key] = missing.get(key, 0) + n
        else:
            used.add((currency, rate_date, rate))
    return (
        f"Amounts in {company_currency()} (the company currency): credited deals at the rate "
        "of their close date, a campaign's cost at the rate of its start date (its creation "
        "day when none; without a rate its cost and ROI are left empty)."
        + rates_used_text(used)
        + left_out_text(missing, "credited deal", "the revenue")
    )


def _as_percent(fraction) -> float | None:
    return None if fraction is None else round(float(fraction) * 100, 1)


FIGURES = (
    Figure(
        key="funnel",
        rollups=("leads",),
        title="Lead funnel",
        how="Leads created in the range; qualified = now Qualified or Converted; opportunity = "
        "a deal was made from the lead; won = one of those deals is won. Percentages of all "
        "leads and of the step before.",
        compute=funnel,
        live=funnel,  # reads the segment's records itself
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
        live=leads_by_source,  # reads the segment's records itself
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
        live=leads_by_campaign,  # reads the segment's records itself
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
        live=speed_by_source_live,
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
        title="Campaign return to date",
        how="Each campaign's whole life, the same figures as on its page, so not limited to "
        "the date range (a campaign's cost is one sum, not spread over days): won revenue "
        "credited to it under first- and last-touch attribution (see the campaign's page), "
        "ROI = (credited revenue − cost) ÷ cost; leads = all its leads (the owned ones from "
        "the leads rollup, the unassigned ones from the records), cost per lead = cost ÷ leads. "
        "With a team or owner chosen, only their leads and won deals count.",
        note=roi_note,
        compute=campaign_roi,
        rollups=("leads",),  # its leads; the credited revenue is read from the deals' credits
        segmentable=False,
        columns=(
            Col("campaign", "Campaign"),
            Col("cost", "Cost", "money"),
            Col("leads", "Leads", "int"),
            Col("cost_per_lead", "Cost per lead", "money"),
            Col("first_touch_deals", "Won deals (first touch)", "int"),
            Col("first_touch", "Credited revenue (first touch)", "money"),
            Col("first_touch_roi", "ROI (first touch)", "percent"),
            Col("last_touch_deals", "Won deals (last touch)", "int"),
            Col("last_touch", "Credited revenue (last touch)", "money"),
            Col("last_touch_roi", "ROI (last touch)", "percent"),
        ),
        label="campaign",
        series=("first_touch_roi", "last_touch_roi"),
    ),
)
