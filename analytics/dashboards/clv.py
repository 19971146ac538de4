"""Customer lifetime value dashboard: what customers bought, what the latest CLV fit expects of
them (BG/NBD + Gamma-Gamma, ``analytics.clv``), their RFM segments, and what each campaign's
customers are worth against what it cost to win them.

Reads ``CustomerValue`` (the latest fit, replaced as a whole by each refit); the date range does
not apply (the fit has its own observation end, shown on the page). The summed figures read
``ValueSummary`` (the fit's customers summed per owner, segment, bucket and campaign); with a
segment chosen they sum ``CustomerValue`` of the segment's accounts instead, through the same
bucket and first-campaign expressions the summary is built with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Case, CharField, Count, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate

from analytics.choices import RFMSegment
from analytics.dashboards.base import Col, Figure, Scope, rates_used_text, ratio
from analytics.models import CLVFit, CustomerValue, ValueSummary
from crm.currencies import company_currency, rate_expression
from leads.models import Campaign, Lead
from sales.choices import StageKind
from sales.models import Opportunity

ZERO = Decimal("0")
CENT = Decimal("0.01")
ALIVE_BUCKETS = (
    ("0–20 %", 0.0, 0.2),
    ("20–40 %", 0.2, 0.4),
    ("40–60 %", 0.4, 0.6),
    ("60–80 %", 0.6, 0.8),
    ("80–100 %", 0.8, 1.01),
)


def alive_bucket():
    """A ``CustomerValue``'s P(alive) bucket (a name of ``ALIVE_BUCKETS``)."""
    return Case(
        *(
            When(p_alive__gte=lo, p_alive__lt=hi, then=Value(name))
            for name, lo, hi in ALIVE_BUCKETS
        ),
        default=Value(ALIVE_BUCKETS[-1][0]),
        output_field=CharField(),
    )


def first_campaign():
    """A ``CustomerValue``'s acquiring campaign: its account's first converted lead's campaign,
    else its first won deal's."""
    lead_campaign = Subquery(
        Lead.objects.filter(converted_account=OuterRef("account_id"), campaign__isnull=False)
        .order_by("converted_at", "pk")
        .values("campaign_id")[:1]
    )
    deal_campaign = Subquery(
        Opportunity.objects.filter(
            account=OuterRef("account_id"), status=StageKind.WON, campaign__isnull=False
        )
        .order_by("closed_at", "pk")
        .values("campaign_id")[:1]
    )
    return Coalesce(lead_campaign, deal_campaign)


def _values(scope: Scope):
    values = CustomerValue.objects.visible_to(scope.user)
    return scope.in_segment(scope.owned(values, "account__owner")).order_by()


def _summary(scope: Scope):
    """The latest fit's customers summed per owner, segment, P(alive) bucket and campaign."""
    return scope.owned(ValueSummary.objects.visible_to(scope.user)).order_by()


def by_segment(scope: Scope) -> list[dict]:
    rows = (
        _summary(scope)
        .values("rfm_segment")
        .annotate(
            n=Sum("customers"),
            historical=Sum("historical_value"),
            predicted=Sum("expected_value_12m"),
            alive=Sum("p_alive_sum"),
        )
    )
    return _segment_rows(rows)


def by_segment_live(scope: Scope) -> list[dict]:
    rows = (
        _values(scope)
        .values("rfm_segment")
        .annotate(
            n=Count("id"),
            historical=Sum("historical_value"),
            predicted=Sum("expected_value_12m"),
            alive=Sum("p_alive"),
        )
    )
    return _segment_rows(rows)


def _segment_rows(rows) -> list[dict]:
    labels = dict(RFMSegment.choices)
    return [
        {
            "segment": labels.get(r["rfm_segment"], r["rfm_segment"]),
            "customers": r["n"],
            "historical": r["historical"] or ZERO,
            "predicted": r["predicted"] or ZERO,
            "p_alive": round(r["alive"] / r["n"] * 100, 1),
        }
        for r in rows.order_by("-predicted", "rfm_segment")
    ]


def top_accounts(scope: Scope) -> list[dict]:
    labels = dict(RFMSegment.choices)
    rows = _values(scope).order_by("-expected_value_12m", "id")[:20]
    return [
        {
            "account": r["account__name"],
            "segment": labels.get(r["rfm_segment"], r["rfm_segment"]),
            "historical": r["historical_value"],
            "predicted": r["expected_value_12m"],
            "p_alive": round(r["p_alive"] * 100, 1),
        }
        for r in rows.values(
            "account__name", "rfm_segment", "historical_value", "expected_value_12m", "p_alive"
        )
    ]


def alive_distribution(scope: Scope) -> list[dict]:
    counts = _summary(scope).values("alive_bucket").annotate(n=Sum("customers"))
    return _bucket_rows(counts.values_list("alive_bucket", "n"))


def alive_distribution_live(scope: Scope) -> list[dict]:
    counts = _values(scope).annotate(bucket=alive_bucket()).values("bucket").annotate(n=Count("id"))
    return _bucket_rows(counts.values_list("bucket", "n"))


def _bucket_rows(pairs) -> list[dict]:
    counts = dict(pairs)
    if not counts:
        return []
    return [{"bucket": name, "customers": counts.get(name, 0)} for name, _, _ in ALIVE_BUCKETS]


def clv_to_cac(scope: Scope) -> list[dict]:
    rows = (
        _summary(scope)
        .filter(campaign__isnull=False)
        .values("campaign_id")
        .annotate(n=Sum("customers"), clv=Sum(F("historical_value") + F("expected_value_12m")))
    )
    return _campaign_rows({r["campaign_id"]: r for r in rows})


def clv_to_cac_live(scope: Scope) -> list[dict]:
    rows = (
        _values(scope)
        .annotate(campaign_id=first_campaign())
        .filter(campaign_id__isnull=False)
        .values("campaign_id")
        .annotate(n=Count("id"), clv=Sum(F("historical_value") + F("expected_value_12m")))
    )
    return _campaign_rows({r["campaign_id"]: r for r in rows})


def _campaign_rows(rows: dict) -> list[dict]:
    out = []
    campaigns = (
        Campaign.objects.filter(pk__in=list(rows))
        .annotate(cost_day=Coalesce("start_date", TruncDate("created_at")))
        .annotate(cost_rate=rate_expression(date_field="cost_day"))
        .order_by("name")
        .values("pk", "name", "cost", "cost_rate")
    )
    for c in campaigns:
        r = rows[c["pk"]]
        avg_clv = (r["clv"] / r["n"]).quantize(CENT)
        # The cost in the company currency at the rate of the campaign's start (or creation)
        # day; unknown without a rate.
        rate = c["cost_rate"]
        cac = None if rate is None else (c["cost"] * rate / r["n"]).quantize(CENT)
        out.append(
            {
                "campaign": c["name"],
                "customers": r["n"],
                "avg_clv": avg_clv,
                "cac": cac,
                "ratio": ratio(avg_clv, cac),
            }
        )
    return out


def value_note(scope: Scope, figure: Figure) -> str:
    """How the latest fit's order values were brought to the company currency: the rule, the
    rates used and the orders left out for want of one (kept with the fit)."""
    fit = scope.memo("fit", lambda: CLVFit.objects.only("currency", "parameters").first())
    if fit is None:
        return ""
    conversion = fit.parameters.get("conversion")
    if conversion is None:  # a fit on orders of its currency only
        return f"Order values in {fit.currency}."
    used = [
        (currency, dt.date.fromisoformat(day), Decimal(rate))
        for currency, day, rate in conversion["rates"]
    ]
    text = (
        f"Order values in {conversion['currency']} (the company currency): each order at the "
        "rate of its order date." + rates_used_text(used)
    )
    missing = conversion["left_out"]
    if missing:
        named = "; ".join(
            f"{o['account']} {o['currency']} {Decimal(o['amount']):,.2f} on {o['date']}"
            for o in conversion["left_out_orders"]
        )
        more = (
            f" and {missing - len(conversion['left_out_orders']):,} more"
            if missing > len(conversion["left_out_orders"])
            else ""
        )
        text += (
            f" {missing:,} order{'s' if missing != 1 else ''} without a rate for the day left "
            f"out of the fit: {named}{more}."
        )
    return text


def cost_note(scope: Scope, figure: Figure) -> str:
    return (
        value_note(scope, figure)
        + f" Campaign costs in {company_currency()} at the rate of the campaign's start date "
        "(its creation day when none); without a rate the cost per customer is left empty."
    )


FIGURES = (
    Figure(
        key="segments",
        rollups=("customer_values",),
        title="Value by RFM segment",
        how="Customers of the latest fit grouped by their RFM segment (recency and frequency "
        "quintiles): sum of historical order value, sum of predicted 12-month value "
        "(BG/NBD purchases × Gamma-Gamma spend, discounted), mean P(alive).",
        note=value_note,
        compute=by_segment,
        live=by_segment_live,
        columns=(
            Col("segment", "Segment"),
            Col("customers", "Customers", "int"),
            Col("historical", "Historical value", "money"),
            Col("predicted", "Predicted 12-month value", "money"),
            Col("p_alive", "Mean P(alive)", "percent"),
        ),
        label="segment",
        series=("historical", "predicted"),
    ),
    Figure(
        key="top_accounts",
        title="Most valuable accounts (predicted 12 months)",
        how="The 20 accounts with the highest predicted 12-month value from the latest fit, "
        "with their historical order value and probability of still being a customer.",
        note=value_note,
        compute=top_accounts,
        columns=(
            Col("account", "Account"),
            Col("segment", "Segment"),
            Col("historical", "Historical value", "money"),
            Col("predicted", "Predicted 12-month value", "money"),
            Col("p_alive", "P(alive)", "percent"),
        ),
        label="account",
        series=("predicted", "historical"),
        chart="hbar",
    ),
    Figure(
        key="p_alive",
        rollups=("customer_values",),
        title="P(alive) distribution",
        how="Customers of the latest fit counted by their BG/NBD probability of still buying.",
        compute=alive_distribution,
        live=alive_distribution_live,
        columns=(Col("bucket", "P(alive)"), Col("customers", "Customers", "int")),
        label="bucket",
        series=("customers",),
    ),
    Figure(
        key="clv_cac",
        rollups=("customer_values",),
        title="Customer value against acquisition cost by campaign",
        how="Customers won through the campaign (their first converted lead's campaign, else "
        "their first won deal's): average CLV = "
        "(historical + predicted 12-month value) ÷ customers; acquisition cost = the "
        "campaign's cost ÷ those customers; ratio = CLV ÷ cost (above 3 is healthy).",
        note=cost_note,
        compute=clv_to_cac,
        live=clv_to_cac_live,
        columns=(
            Col("campaign", "Campaign"),
            Col("customers", "Customers", "int"),
            Col("avg_clv", "Average CLV", "money"),
            Col("cac", "Acquisition cost per customer", "money"),
            Col("ratio", "CLV ÷ cost", "number"),
        ),
        label="campaign",
        series=("ratio",),
    ),
)
