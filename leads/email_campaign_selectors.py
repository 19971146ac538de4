"""Reading email campaigns: per-variant results with a significance test, and ROI under
first- and last-touch attribution."""

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q
from scipy import stats

from leads.choices import RecipientStatus, SkipReason, SuppressionReason
from leads.models import Campaign, CampaignRecipient, EmailCampaign, Lead, Suppression
from leads.services.email_campaign_outcomes import (
    ATTRIBUTION_DAYS,
    REACHED,
    won_deals_model,
)


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


def email_campaign_list(*, user):
    """The campaigns ``user`` may see, with what the list shows."""
    return EmailCampaign.objects.visible_to(user).select_related(
        "campaign", "segment", "created_by", "winner_variant"
    )


def email_campaign_progress(campaign: EmailCampaign) -> dict:
    """Recipients by status, skipped by reason, and reached addresses that bounced or
    unsubscribed since: one aggregate query over the campaign's recipients."""
    reached = Q(status__in=REACHED)
    on_list = Suppression.objects.filter(email=OuterRef("email"))
    counts = {
        "recipients": Count("id"),
        **{status: Count("id", filter=Q(status=status)) for status in RecipientStatus.values},
        **{
            f"skip_{reason}": Count("id", filter=Q(skip_reason=reason))
            for reason in SkipReason.values
            if reason
        },
        "bounced": Count(
            "id",
            filter=reached
            & Q(
                Exists(
                    on_list.filter(
                        reason__in=[SuppressionReason.BOUNCE, SuppressionReason.COMPLAINT]
                    )
                )
            ),
        ),
        "unsubscribed": Count(
            "id",
            filter=reached & Q(Exists(on_list.filter(reason=SuppressionReason.UNSUBSCRIBE))),
        ),
    }
    row = CampaignRecipient.objects.filter(campaign=campaign).aggregate(**counts)
    row["skipped_by_reason"] = [
        (label, row[f"skip_{value}"])
        for value, label in SkipReason.choices
        if value and row[f"skip_{value}"]
    ]
    done = row[RecipientStatus.QUEUED] + row[RecipientStatus.SENT] + row[RecipientStatus.SKIPPED]
    row["percent_done"] = round(100 * done / row["recipients"]) if row["recipients"] else 0
    return row


@dataclass(frozen=True)
class Verdict:
    text: str
    significant: bool


def compare_variants(results: list[dict], metric: str = "clicked") -> Verdict | None:
    """Each variant's p-value against the leader on ``metric`` (written into ``results`` as
    ``p_value``, None for the leader) and a plain-language verdict on the leader's lead."""
    if len(results) < 2:
        return None
    significance = ab_significance(results, metric)
    by_label = {r["label"]: r for r in results}
    leader = by_label[significance.best]
    for row in results:
        row["p_value"] = (
            None
            if row is leader
            else two_proportion_z(
                leader[metric], leader["delivered"], row[metric], row["delivered"]
            )[1]
        )
    runner = by_label[significance.runner_up]
    if not leader["delivered"] or not runner["delivered"]:
        return Verdict("Nothing to compare until emails of every variant are delivered.", False)
    rates = (
        f"{leader[f'{metric}_rate']:.1%} of delivered emails {metric} against "
        f"{runner[f'{metric}_rate']:.1%} for {runner['label']}"
    )
    if significance.significant:
        return Verdict(
            f"Variant {leader['label']} is ahead: {rates}. With p = {significance.p_value:.3f} "
            "(below 0.05) a gap this large is unlikely to be chance.",
            True,
        )
    return Verdict(
        f"Variant {leader['label']} is ahead: {rates}, but p = {significance.p_value:.3f} "
        "(0.05 or more): the gap could still be chance. Not significant yet.",
        False,
    )


# --- ROI ------------------------------------------------------------------------------------
#
# A touch is a moment a marketing campaign reached an account: one of its campaign emails
# queued to a contact of the account, or a lead captured for it (web form, import, by hand)
# that was converted into the account. A won deal is credited to a campaign when one of the
# campaign's touches on the deal's account fell within ``ATTRIBUTION_DAYS`` before the win:
# first-touch gives the whole amount to the earliest such touch, last-touch to the latest
# (ties go to the lower campaign id). Amounts are not converted: a campaign is credited with
# deals in its own currency only. One SQL statement ranks every deal's touches with a window
# function; nothing loops over touches or deals in Python.

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Attribution:
    first_touch: Decimal = ZERO
    first_touch_deals: int = 0
    last_touch: Decimal = ZERO
    last_touch_deals: int = 0


def _reached_accounts(campaign_id: int):
    """The accounts campaign ``campaign_id`` touched (column ``r_account``)."""
    emailed = (
        CampaignRecipient.objects.filter(
            campaign__campaign_id=campaign_id,
            status__in=REACHED,
            queued_at__isnull=False,
            contact__account__isnull=False,
        )
        .order_by()
        .values(r_account=F("contact__account_id"))
    )
    captured = (
        Lead.objects.filter(campaign_id=campaign_id, converted_account__isnull=False)
        .order_by()
        .values(r_account=F("converted_account_id"))
    )
    return emailed.union(captured)


def _touches():
    emailed = CampaignRecipient.objects.filter(
        status__in=REACHED, queued_at__isnull=False, contact__account__isnull=False
    ).values(
        t_account=F("contact__account_id"),
        t_campaign=F("campaign__campaign_id"),
        t_at=F("queued_at"),
    )
    captured = Lead.objects.filter(campaign__isnull=False, converted_account__isnull=False).values(
        t_account=F("converted_account_id"), t_campaign=F("campaign_id"), t_at=F("created_at")
    )
    return emailed.order_by().union(captured.order_by(), all=True)


def _won_deals(user):
    Opportunity = won_deals_model()
    return (
        Opportunity.objects.visible_to(user)
        .filter(status="won", closed_at__isnull=False)
        .order_by()
        .values(
            d_id=F("id"),
            d_account=F("account_id"),
            d_amount=F("amount"),
            d_currency=F("currency"),
            d_closed=F("closed_at"),
            d_from=ExpressionWrapper(
                F("closed_at") - timedelta(days=ATTRIBUTION_DAYS), output_field=DateTimeField()
            ),
        )
    )


def _money(value) -> Decimal:
    # SQLite sums decimals as floats; PostgreSQL returns Decimal.
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def campaigns_attribution(*, user, campaign: Campaign | None = None) -> dict[int, Attribution]:
    """Won revenue credited to each marketing campaign under first- and last-touch attribution,
    over the won deals ``user`` may see: ``{campaign_id: Attribution}`` (campaigns credited with
    nothing are absent). With ``campaign``, only the accounts it touched are read."""
    if won_deals_model() is None:
        return {}
    deals_sql, params = _won_deals(user).query.sql_with_params()
    touches_sql, touches_params = _touches().query.sql_with_params()
    ctes = [f"deals AS ({deals_sql})", f"touches AS ({touches_sql})"]
    params = [*params, *touches_params]
    deals, only = "deals d", ""
    if campaign is not None:
        # Only the deals of accounts this campaign touched can credit it: start from those.
        reached_sql, reached_params = _reached_accounts(campaign.pk).query.sql_with_params()
        ctes.insert(0, f"reached AS ({reached_sql})")
        params = [*reached_params, *params]
        deals = "reached a JOIN deals d ON d.d_account = a.r_account"
        only = "AND r.t_campaign = %s"
    sql = f"""
        WITH {", ".join(ctes)},
        ranked AS (
            SELECT d.d_id, d.d_amount, d.d_currency, t.t_campaign,
                ROW_NUMBER() OVER (
                    PARTITION BY d.d_id ORDER BY t.t_at ASC, t.t_campaign ASC
                ) AS first_rank,
                ROW_NUMBER() OVER (
                    PARTITION BY d.d_id ORDER BY t.t_at DESC, t.t_campaign DESC
                ) AS last_rank
            FROM {deals}
            JOIN touches t
              ON t.t_account = d.d_account AND t.t_at <= d.d_closed AND t.t_at >= d.d_from
        )
        SELECT r.t_campaign,
            SUM(CASE WHEN r.first_rank = 1 THEN r.d_amount ELSE 0 END),
            SUM(CASE WHEN r.first_rank = 1 THEN 1 ELSE 0 END),
            SUM(CASE WHEN r.last_rank = 1 THEN r.d_amount ELSE 0 END),
            SUM(CASE WHEN r.last_rank = 1 THEN 1 ELSE 0 END)
        FROM ranked r
        JOIN {Campaign._meta.db_table} c ON c.id = r.t_campaign AND c.currency = r.d_currency
        WHERE (r.first_rank = 1 OR r.last_rank = 1) {only}
        GROUP BY r.t_campaign
    """  # noqa: S608 - only table names and ORM-compiled SQL are interpolated
    if campaign is not None:
        params.append(campaign.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        row[0]: Attribution(
            first_touch=_money(row[1]),
            first_touch_deals=int(row[2] or 0),
            last_touch=_money(row[3]),
            last_touch_deals=int(row[4] or 0),
        )
        for row in rows
    }


def campaign_roi(*, campaign: Campaign, user) -> dict:
    """A marketing campaign's cost against the won revenue credited to it, first- and
    last-touch, with ROI as a fraction of cost (None when the campaign cost nothing)."""
    credited = campaigns_attribution(user=user, campaign=campaign).get(campaign.pk, Attribution())
    cost = campaign.cost

    def roi(value):
        return None if not cost else (value - cost) / cost

    return {
        "cost": cost,
        "currency": campaign.currency,
        "first_touch": credited.first_touch,
        "first_touch_deals": credited.first_touch_deals,
        "last_touch": credited.last_touch,
        "last_touch_deals": credited.last_touch_deals,
        "first_touch_roi": roi(credited.first_touch),
        "last_touch_roi": roi(credited.last_touch),
        "attribution_days": ATTRIBUTION_DAYS,
    }
