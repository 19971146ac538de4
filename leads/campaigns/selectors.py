"""Reading email campaigns: per-variant results with a significance test, and ROI under
first- and last-touch attribution."""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Round, TruncDate, TruncMonth
from django.utils import timezone
from scipy import stats

from crm.currencies import (
    company_currency,
    company_currency_only,
    convert,
    rate_date_expression,
    rate_expression,
    rated,
)
from crm.selectors import record_get, scoped
from leads.campaigns.services.outcomes import (
    ATTRIBUTION_DAYS,
    REACHED,
    won_deals,
    won_deals_model,
)
from leads.choices import AttributionTouch, RecipientStatus, SkipReason, SuppressionReason
from leads.models import Campaign, CampaignCredit, CampaignRecipient, EmailCampaign, Suppression


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
    """Compare the best two variants on ``metric``'s rate (clicks by default); None (nothing to
    claim) with fewer than two variants, before both have delivered emails, or when their rates
    are tied (there is no best)."""
    ranked = sorted(results, key=lambda r: (-r[f"{metric}_rate"], r["label"]))
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    if not a["delivered"] or not b["delivered"] or a[f"{metric}_rate"] == b[f"{metric}_rate"]:
        return None
    z, p = two_proportion_z(a[metric], a["delivered"], b[metric], b["delivered"])
    return Significance(metric=metric, best=a["label"], runner_up=b["label"], z=z, p_value=p)


def _standing(row: dict) -> tuple[float, float]:
    return (row["clicked_rate"], row["opened_rate"])


def best_variant_id(results: list[dict]) -> int | None:
    """Most clicks per delivered email, ties going to opens; None when nothing was delivered or
    the best two are level on both (a tie is no winner, not a win for the earlier label)."""
    if not any(r["delivered"] for r in results):
        return None
    ranked = sorted(results, key=lambda r: (-r["clicked_rate"], -r["opened_rate"], r["label"]))
    if len(ranked) > 1 and _standing(ranked[0]) == _standing(ranked[1]):
        return None
    return ranked[0]["variant_id"]


#: What the campaign's page and the lists of campaigns show of its relations.
EMAIL_CAMPAIGN_RELATIONS = ("campaign", "segment", "created_by", "winner_variant")


def email_campaign_list(*, user, for_change: bool = False) -> QuerySet:
    return scoped(EmailCampaign, user=user, for_change=for_change)


def email_campaign_get(*, user, pk, for_change: bool = False, related=()) -> EmailCampaign:
    """One email campaign with ``related`` joined (the page: ``EMAIL_CAMPAIGN_RELATIONS``)."""
    return record_get(
        email_campaign_list(user=user, for_change=for_change).select_related(*related), pk
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
    if significance is None:
        for row in results:
            row["p_value"] = None
        ranked = sorted(results, key=lambda r: (-r[f"{metric}_rate"], r["label"]))
        if not ranked[0]["delivered"] or not ranked[1]["delivered"]:
            return Verdict("Nothing to compare until emails of every variant are delivered.", False)
        return Verdict(
            f"No variant is ahead: {ranked[0]['label']} and {ranked[1]['label']} are level at "
            f"{ranked[0][f'{metric}_rate']:.1%} of delivered emails {metric}.",
            False,
        )
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


# --- ROI ---------------------------------------------------------------------------------------
# Won revenue credited to campaigns is a snapshot (``CampaignCredit``) recomputed hourly by
# ``leads.campaigns.services.attribution``, where the rules are written down; reading it is one
# GROUP BY over the credits of the deals the user may see. Amounts are totalled in the company
# currency, each deal at the rate of its close date (read with the credits, so a rate entered
# later counts at once); a deal with no rate for that day is left out of the amounts and
# counted. A campaign's cost converts at the rate of its start date (its creation day when it
# has none).

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Attribution:
    first_touch: Decimal = ZERO
    first_touch_deals: int = 0
    last_touch: Decimal = ZERO
    last_touch_deals: int = 0
    first_touch_left_out: int = 0  # credited deals with no rate for their close date
    last_touch_left_out: int = 0
    left_out_currencies: tuple[str, ...] = ()


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(ZERO)


def _credits(*, user, campaign: Campaign | None = None, owner_ids=None, single=None):
    """The credits of the won deals ``user`` may see (of ``owner_ids`` when given; of
    ``campaign`` when given), with the rate of each deal's currency on its close date
    (``rate``: NULL when none is known) and ``converted``, its amount in the company currency;
    None when sales has no deals. A credit carries its deal's owner (kept equal to it), so the
    deals' own visibility rule (``won_deals.scope``) applies to the credits without reading the
    deals."""
    if won_deals_model() is None:
        return None
    credits = won_deals.scope(CampaignCredit.objects.all(), user, field="owner")
    if owner_ids is not None:
        credits = credits.filter(owner_id__in=owner_ids)
    if campaign is not None:
        credits = credits.filter(campaign=campaign)
    # Every credit in the company currency: each at 1, no rate looked up per credit and
    # aggregate (the funnel's credits of every campaign: 22 ms to 8 ms at 43,000 credits);
    # ``single`` when the caller knows (``rated``). One campaign's few credits are rated
    # without asking, which would cost a query more.
    if single is None and campaign is not None:
        single = False
    credits, _ = rated(credits.order_by(), deal_date=TruncDate("won_at"), single=single)
    return credits.annotate(converted=Round(F("amount") * F("rate"), 2))


def campaigns_attribution(
    *, user, campaign: Campaign | None = None, owner_ids=None
) -> dict[int, Attribution]:
    """Won revenue credited to each marketing campaign under first- and last-touch attribution,
    in the company currency, over the won deals ``user`` may see: ``{campaign_id:
    Attribution}`` (campaigns credited with nothing are absent); only ``campaign``'s when given,
    only the deals of ``owner_ids`` when given. One query."""
    credits = _credits(user=user, campaign=campaign, owner_ids=owner_ids)
    if credits is None:
        return {}
    first, last = Q(touch=AttributionTouch.FIRST), Q(touch=AttributionTouch.LAST)
    known, unknown = Q(rate__isnull=False), Q(rate__isnull=True)
    rows = credits.values("campaign_id").annotate(
        first_touch=Sum("converted", filter=first),
        first_touch_deals=Count("id", filter=first & known),
        first_touch_left_out=Count("id", filter=first & unknown),
        last_touch=Sum("converted", filter=last),
        last_touch_deals=Count("id", filter=last & known),
        last_touch_left_out=Count("id", filter=last & unknown),
        # Not DISTINCT (made unique below): an aggregate with DISTINCT sorts every credit
        # first, where the others are summed by a hash; the list is of the few left out.
        left_out_currencies=ArrayAgg("currency", filter=unknown, default=[]),
    )
    return {
        row["campaign_id"]: Attribution(
            first_touch=_money(row["first_touch"]),
            first_touch_deals=row["first_touch_deals"],
            last_touch=_money(row["last_touch"]),
            last_touch_deals=row["last_touch_deals"],
            first_touch_left_out=row["first_touch_left_out"],
            last_touch_left_out=row["last_touch_left_out"],
            left_out_currencies=tuple(sorted(set(row["left_out_currencies"]))),
        )
        for row in rows
    }


def attribution_rates(*, user, owner_ids=None) -> list[tuple]:
    """For the "how computed" note: (currency, rate date, rate, close month, deals) per rate the
    credited deals' amounts were converted at and per currency and month of the deals left out
    (a NULL rate) — the company currency's aside. One query."""
    if company_currency_only(CampaignCredit):
        return []  # every credit at 1: no rate to tell of, none left out
    credits = _credits(user=user, owner_ids=owner_ids, single=False)
    if credits is None:
        return []
    return list(
        credits.exclude(currency=company_currency())
        .annotate(
            rate_date=rate_date_expression(date_field="deal_date"), month=TruncMonth("won_at")
        )
        .values_list("currency", "rate_date", "rate", "month")
        .annotate(n=Count("opportunity_id", distinct=True))
    )


def with_cost_rate(campaigns):
    """Campaigns with the day their cost converts at (``cost_day``: the start date, else the
    day they were created) and the rate of their currency that day (``cost_rate``: 1 in the
    company currency, NULL when none is known), for ``campaign_return`` without a query each."""
    return campaigns.annotate(cost_day=Coalesce("start_date", TruncDate("created_at"))).annotate(
        cost_rate=rate_expression(date_field="cost_day")
    )


def _company_cost(campaign: Campaign) -> tuple[Decimal | None, Decimal | None, dt.date]:
    """The campaign's cost in the company currency (None without a rate), the rate and its day:
    read from ``with_cost_rate``'s annotations when there, else looked up."""
    day = getattr(campaign, "cost_day", None) or campaign.start_date
    if day is None:
        day = (
            timezone.localdate(campaign.created_at) if campaign.created_at else timezone.localdate()
        )
    if hasattr(campaign, "cost_rate"):
        rate = campaign.cost_rate
    else:
        converted = convert(campaign.cost, campaign.currency, on=day)
        rate = None if converted is None else converted.rate
    if rate is None:
        return None, None, day
    cost = (Decimal(campaign.cost) * rate).quantize(ZERO, rounding=ROUND_HALF_UP)
    return cost, rate, day


def campaign_return(*, campaign: Campaign, credited: Attribution) -> dict:
    """A marketing campaign's cost against the won revenue ``credited`` to it, first- and
    last-touch, both in the company currency, with ROI as a fraction of cost (None when the
    campaign cost nothing or its cost has no rate). The one place ROI is computed: the
    campaign's page and the funnel dashboard both show this."""
    cost, cost_rate, cost_day = _company_cost(campaign)

    def roi(value):
        return None if not cost else (value - cost) / cost

    return {
        "cost": cost,
        "currency": company_currency(),
        "recorded_cost": campaign.cost,
        "cost_currency": campaign.currency,
        "cost_rate": cost_rate,
        "cost_day": cost_day,
        "first_touch": credited.first_touch,
        "first_touch_deals": credited.first_touch_deals,
        "first_touch_left_out": credited.first_touch_left_out,
        "last_touch": credited.last_touch,
        "last_touch_deals": credited.last_touch_deals,
        "last_touch_left_out": credited.last_touch_left_out,
        "left_out_currencies": credited.left_out_currencies,
        "first_touch_roi": roi(credited.first_touch),
        "last_touch_roi": roi(credited.last_touch),
        "attribution_days": ATTRIBUTION_DAYS,
    }


def campaign_roi(*, campaign: Campaign, user) -> dict:
    """One campaign's return (``campaign_return``) over the won deals ``user`` may see."""
    credited = campaigns_attribution(user=user, campaign=campaign).get(campaign.pk, Attribution())
    return campaign_return(campaign=campaign, credited=credited)
