"""Reading email campaigns: per-variant results with a significance test, and ROI under
first- and last-touch attribution."""

import math
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.db.models import Count, Min, Q
from scipy import stats

from leads.choices import RecipientStatus
from leads.models import CampaignRecipient, EmailCampaign


def variant_results(campaign: EmailCampaign) -> list[dict]:
    """Per variant: recipients, delivered, opened, clicked, replied, converted and their rates,
    in one GROUP BY."""
    rows = (
        CampaignRecipient.objects.filter(campaign=campaign, variant__isnull=False)
        .order_by()
        .values("variant_id", "variant__label")
        .annotate(
            recipients=Count("id"),
            delivered=Count("id", filter=Q(status=RecipientStatus.SENT)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            converted=Count("id", filter=Q(converted_at__isnull=False)),
        )
    )
    results = []
    for row in sorted(rows, key=lambda r: r["variant__label"]):
        base = row["delivered"]
        for name in ("opened", "clicked", "replied", "converted"):
            row[f"{name}_rate"] = row[name] / base if base else 0.0
        row["label"] = row.pop("variant__label")
        results.append(row)
    return results


@dataclass(frozen=True)
class Significance:
    metric: str
    best: str
    runner_up: str
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test; (z, two-sided p-value). Undefined (0, 1) without data."""
    if not n1 or not n2:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, float(2 * stats.norm.sf(abs(z)))


def ab_significance(results: list[dict], metric: str = "clicked") -> Significance | None:
    """Compare the best two variants on ``metric``'s rate (clicks by default)."""
    ranked = sorted(results, key=lambda r: (-r[f"{metric}_rate"], r["label"]))
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    z, p = two_proportion_z(a[metric], a["delivered"], b[metric], b["delivered"])
    return Significance(metric=metric, best=a["label"], runner_up=b["label"], z=z, p_value=p)


def best_variant_id(results: list[dict]) -> int | None:
    """Most clicks per delivered email; ties go to opens, then to the earlier label."""
    if not results:
        return None
    best = min(results, key=lambda r: (-r["clicked_rate"], -r["opened_rate"], r["label"]))
    return best["variant_id"]


# --- ROI ------------------------------------------------------------------------------------


def _won_revenue_by_account(account_ids) -> dict[int, Decimal]:
    """Won deal amounts per account, read from the sales stage when it is installed (looked up
    at runtime, so leads does not import sales)."""
    if not account_ids or not apps.is_installed("sales"):
        return {}
    from django.db.models import Sum

    Opportunity = apps.get_model("sales", "Opportunity")
    rows = (
        Opportunity.objects.filter(account_id__in=account_ids, status="won")
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
    )
    return {row["account_id"]: row["total"] or Decimal("0") for row in rows}


def campaign_roi(campaign: EmailCampaign) -> dict:
    """Cost of the marketing campaign against the won revenue of the accounts its emails
    reached, credited first-touch (this campaign was the contact's first sent campaign email)
    and last-touch (their latest)."""
    sent = CampaignRecipient.objects.filter(
        status__in=[RecipientStatus.SENT, RecipientStatus.QUEUED]
    )
    contacts = sent.filter(campaign=campaign).values("contact_id")
    touches = (
        sent.filter(contact_id__in=contacts, contact__account__isnull=False)
        .order_by()
        .values("contact_id", "contact__account_id", "campaign__campaign_id")
        .annotate(first=Min("queued_at"))
    )
    first: dict[int, tuple] = {}
    last: dict[int, tuple] = {}
    for row in touches:
        account = row["contact__account_id"]
        key = (row["first"], row["campaign__campaign_id"])
        if account not in first or key < first[account]:
            first[account] = key
        if account not in last or key > last[account]:
            last[account] = key
    revenue = _won_revenue_by_account(list(first))
    mine = campaign.campaign_id
    first_touch = sum(
        (revenue.get(a, Decimal("0")) for a, (_, c) in first.items() if c == mine), Decimal("0")
    )
    last_touch = sum(
        (revenue.get(a, Decimal("0")) for a, (_, c) in last.items() if c == mine), Decimal("0")
    )
    cost = campaign.campaign.cost

    def roi(value):
        return None if not cost else (value - cost) / cost

    return {
        "cost": cost,
        "currency": campaign.campaign.currency,
        "first_touch": first_touch,
        "last_touch": last_touch,
        "first_touch_roi": roi(first_touch),
        "last_touch_roi": roi(last_touch),
    }
