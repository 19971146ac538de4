"""Reads for retention pages: each applies the user's visibility and aggregates in SQL."""

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    JSONField,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import JSONObject, TruncMonth
from django.utils import timezone

from crm import compiled
from crm.currencies import company_currency, convert, rate_expression
from crm.permissions import has_role, may_sell
from crm.visibility import owner_in_scope
from retention.choices import (
    PAYING_STATUSES,
    AdvocateStatus,
    HealthColour,
    HealthComponentKey,
    RecommendationStatus,
    SubscriptionStatus,
)
from retention.models import ChurnPrediction, HealthScore, MrrMovement, RiskEpisode
from retention.selectors.records import (
    advocate_list,
    nps_survey_list,
    recommendation_list,
    subscription_list,
    testimonial_request_list,
)
from retention.services.subscriptions import add_months


def _value():
    return ExpressionWrapper(
        F("mrr") * F("term_months"), output_field=DecimalField(max_digits=18, decimal_places=2)
    )


def renewals_by_month(*, user, today: dt.date | None = None, months: int = 12) -> list[dict]:
    """Per month (and currency) of the next ``months``: paying subscriptions renewing, their
    value (MRR × term), and the value at risk: cancelled, red health or an open risk episode."""
    today = today or timezone.localdate()
    start = today.replace(day=1)
    end = add_months(start, months)
    open_episode = RiskEpisode.objects.filter(account_id=OuterRef("account_id"), closed_at=None)
    risky = (
        Q(status=SubscriptionStatus.CANCELLED)
        | Q(account__health__colour=HealthColour.RED)
        | Q(at_risk_episode=True)
    )
    rows = (
        subscription_list(user=user)
        .filter(status__in=PAYING_STATUSES, renewal_date__gte=start, renewal_date__lt=end)
        .annotate(month=TruncMonth("renewal_date"), at_risk_episode=Exists(open_episode))
        .values("month", "currency")
        .annotate(
            count=Count("id"),
            value=Sum(_value()),
            at_risk=Sum(_value(), filter=risky),
            at_risk_count=Count("id", filter=risky),
        )
        .order_by("month", "currency")
    )
    result = []
    for row in rows:
        month = row["month"]
        if isinstance(month, dt.datetime):
            month = month.date()
        result.append(
            {
                **row,
                "month": month,
                "month_end": add_months(month, 1) - dt.timedelta(days=1),
                "at_risk": row["at_risk"] or Decimal("0"),
            }
        )
    return result


def renewal_totals_by_month(*, user, today: dt.date | None = None, months: int = 12) -> list[dict]:
    """Per month of the next ``months``: the renewals of ``renewals_by_month`` totalled in the
    company currency, each subscription at the rate in force on its renewal date (the latest
    known one for a date to come), with how many were left out for want of a rate."""
    today = today or timezone.localdate()
    start = today.replace(day=1)
    end = add_months(start, months)
    open_episode = RiskEpisode.objects.filter(account_id=OuterRef("account_id"), closed_at=None)
    risky = (
        Q(status=SubscriptionStatus.CANCELLED)
        | Q(account__health__colour=HealthColour.RED)
        | Q(at_risk_episode=True)
    )
    converted = ExpressionWrapper(
        F("mrr") * F("term_months") * F("rate"),
        output_field=DecimalField(max_digits=30, decimal_places=10),
    )
    rows = (
        subscription_list(user=user)
        .filter(status__in=PAYING_STATUSES, renewal_date__gte=start, renewal_date__lt=end)
        .annotate(
            month=TruncMonth("renewal_date"),
            at_risk_episode=Exists(open_episode),
            rate=rate_expression(date_field="renewal_date"),
        )
        .values("month")
        .annotate(
            count=Count("id", filter=Q(rate__isnull=False)),
            value=Sum(converted),
            at_risk=Sum(converted, filter=risky),
            left_out=Count("id", filter=Q(rate__isnull=True)),
        )
        .order_by("month")
    )
    result = []
    for row in rows:
        month = row["month"]
        if isinstance(month, dt.datetime):
            month = month.date()
        result.append(
            {
                **row,
                "month": month,
                "value": _cents(row["value"]),
                "at_risk": _cents(row["at_risk"]),
            }
        )
    return result


def _cents(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def mrr_in_company_currency(totals: list[dict], *, today: dt.date | None = None) -> dict:
    """MRR per currency (``[{"currency", "mrr"}]``) as one total in the company currency at
    today's rates, with the currencies left out for want of a rate. A query per currency other
    than the company's."""
    today = today or timezone.localdate()
    total, left_out = Decimal("0"), []
    for row in totals:
        moved = convert(row["mrr"], row["currency"], on=today)
        if moved is None:
            left_out.append(row["currency"])
        else:
            total += moved.amount
    return {"currency": company_currency(), "mrr": total, "left_out": left_out, "on": today}


def account_subscriptions(*, user, account, limit: int = 10) -> dict | None:
    """The account panel: its subscriptions, paying MRR per currency and in all in the company
    currency at today's rates; None for users who see no revenue. One query (a second only for
    accounts with more than ``limit``), and one per foreign currency to convert."""

    if not may_sell(user):
        return None
    visible = subscription_list(user=user).filter(account=account)
    rows = list(visible.order_by("status", "renewal_date", "id")[: limit + 1])
    more = len(rows) > limit
    if more:
        totals = list(
            visible.filter(status__in=PAYING_STATUSES)
            .values("currency")
            .annotate(mrr=Sum("mrr"))
            .order_by("currency")
        )
    else:
        by_currency: dict[str, Decimal] = {}
        for row in rows:
            if row.status in PAYING_STATUSES:
                by_currency[row.currency] = by_currency.get(row.currency, Decimal("0")) + row.mrr
        totals = [{"currency": c, "mrr": m} for c, m in sorted(by_currency.items())]
    return {
        "account": account,
        "subscriptions": rows[:limit],
        "more": more,
        "mrr_totals": totals,
        "mrr_total": mrr_in_company_currency(totals) if totals else None,
        "can_create": may_sell(user),
    }


def account_subscriptions_probe(*, user) -> Exists | None:
    """Whether the account ``OuterRef("pk")`` has subscriptions the user sees (None: the panel
    is not for this user)."""
    if not may_sell(user):
        return None
    return Exists(subscription_list(user=user).filter(account=OuterRef("pk")))


def account_subscriptions_empty(*, user, account) -> dict:
    """``account_subscriptions`` of an account without any."""
    return {
        "account": account,
        "subscriptions": [],
        "more": False,
        "mrr_totals": [],
        "mrr_total": None,
        "can_create": may_sell(user),
    }


def account_health(*, user, account) -> dict | None:
    """The account panel: score, colour, trend, the components that make it up (with the
    weights they had), whether an at-risk episode is open, and the churn model's view. One
    query (none on the account page, which reads it with its probes: ``account_health_probe``
    and ``account_health_from_probe``)."""
    if not has_role(user):
        return None

    def build(pk):
        scores = HealthScore.objects.filter(account_id=pk).annotate(**_health_extras())
        return (scores if scores.ordered else scores.order_by("pk"))[:1]

    found = compiled.rows(("account-health",), build, user=user, pk=account.pk)
    return _health_panel(account, found[0] if found else None)


def _health_extras() -> dict:
    """What the panel shows beside the score's columns: whether an at-risk episode is open,
    and the prediction's two shown columns (not the whole account row)."""
    open_episode = RiskEpisode.objects.filter(account_id=OuterRef("account_id"), closed_at=None)
    return {
        "at_risk": Exists(open_episode),
        "churn_probability": F("account__churn_prediction__probability"),
        "churn_factors": F("account__churn_prediction__factors"),
    }


#: The health score's columns the panel shows.
HEALTH_PANEL_FIELDS = ("score", "colour", "components", "trend", "computed_on")


def _health_panel(account, score) -> dict:
    components = []
    prediction = None
    if score is not None:
        for key, part in score.components.items():
            label = HealthComponentKey(key).label if key in HealthComponentKey.values else key
            components.append({"label": label, **part})
        if score.churn_probability is not None:
            prediction = ChurnPrediction(
                account_id=account.pk,
                probability=score.churn_probability,
                factors=score.churn_factors,
            )
    return {"score": score, "components": components, "prediction": prediction}


def account_health_probe(*, user):
    """The health panel's row of the account ``OuterRef("pk")``, as a JSON object (NULL when
    it has no score yet; None: not for this user), for ``account_health_from_probe``."""
    if not has_role(user):
        return None
    extras = _health_extras()
    row = (
        HealthScore.objects.filter(account_id=OuterRef("pk"))
        .annotate(**extras)
        .values(panel=JSONObject(**{name: name for name in (*HEALTH_PANEL_FIELDS, *extras)}))
    )
    return Subquery(row[:1], output_field=JSONField())


def account_health_from_probe(*, account, value: dict) -> dict:
    """``account_health`` of the row ``account_health_probe`` read."""
    score = HealthScore(
        account_id=account.pk,
        **{name: value[name] for name in HEALTH_PANEL_FIELDS if name != "computed_on"},
        computed_on=dt.date.fromisoformat(value["computed_on"]),
    )
    score.at_risk = value["at_risk"]
    score.churn_probability = value["churn_probability"]
    score.churn_factors = value["churn_factors"]
    return _health_panel(account, score)


def account_health_empty() -> dict:
    """``account_health`` of an account not scored yet."""
    return {"score": None, "components": [], "prediction": None}


def subscription_movements(*, subscription, limit: int = 50):
    return list(
        MrrMovement.objects.filter(subscription=subscription)
        .select_related("created_by")
        .order_by("-date", "-id")[:limit]
    )


NPS_GROUPS = {
    "account": ("account_id", "account__name"),
    "industry": ("account__industry",),
    "size": ("account__size_band",),
    "month": ("month",),
}


def nps_summary(*, user, group: str = "month", since: dt.date | None = None, limit: int = 50):
    """NPS (% promoters − % detractors) of answered surveys per account, industry, size band or
    month: one GROUP BY."""
    fields = NPS_GROUPS.get(group, NPS_GROUPS["month"])
    answered = nps_survey_list(user=user).filter(answered_at__isnull=False)
    if since:
        answered = answered.filter(answered_at__date__gte=since)
    if "month" in fields:
        answered = answered.annotate(month=TruncMonth("answered_at"))
    rows = (
        answered.values(*fields)
        .annotate(
            answers=Count("id"),
            promoters=Count("id", filter=Q(score__gte=9)),
            detractors=Count("id", filter=Q(score__lte=6)),
        )
        .order_by("-answers", *fields)[:limit]
    )
    result = []
    for row in rows:
        n = row["answers"]
        label = row.get("account__name") or row.get(fields[0])
        result.append(
            {
                **row,
                "label": label,
                "nps": round(100 * (row["promoters"] - row["detractors"]) / n) if n else None,
            }
        )
    if group == "month":
        result.sort(key=lambda r: r["label"] or dt.datetime.min, reverse=True)
    return result


def account_recommendations(*, user, account, limit: int = 5) -> dict | None:
    """The account panel: open upsell recommendations with their reasons (revenue roles)."""
    if not may_sell(user):
        return None
    rows = list(
        recommendation_list(user=user)
        .filter(account=account, status=RecommendationStatus.OPEN)
        .order_by("-strength", "id")[:limit]
    )
    return {
        "recommendations": rows,
        "can_take": owner_in_scope(user, account.owner_id),
        "account": account,
    }


def account_recommendations_probe(*, user) -> Exists | None:
    """Whether the account ``OuterRef("pk")`` has open recommendations the user sees (None: the
    panel is not for this user)."""
    if not may_sell(user):
        return None
    return Exists(
        recommendation_list(user=user).filter(
            account=OuterRef("pk"), status=RecommendationStatus.OPEN
        )
    )


def account_recommendations_empty(*, user, account) -> dict:
    """``account_recommendations`` of an account without open ones."""
    return {
        "recommendations": [],
        "can_take": owner_in_scope(user, account.owner_id),
        "account": account,
    }


def advocate_leaderboard(*, user, limit: int = 20) -> list:
    """Advocates by referred leads, then by conversions: one GROUP BY."""
    return list(
        advocate_list(user=user)
        .annotate(
            referred=Count("referrals"),
            converted=Count("referrals", filter=Q(referrals__converted_at__isnull=False)),
        )
        .filter(referred__gt=0)
        .select_related("contact", "account")
        .order_by("-referred", "-converted", "id")[:limit]
    )


def advocacy_overview(*, user) -> dict:
    """The advocacy page: the referral leaderboard, new candidates, reference customers and the
    latest testimonial requests, of the advocates ``user`` may see."""
    visible = advocate_list(user=user).select_related("contact", "account")
    return {
        "leaderboard": advocate_leaderboard(user=user),
        "candidates": list(
            visible.filter(status=AdvocateStatus.CANDIDATE).order_by("-created_at")[:20]
        ),
        "references": list(visible.filter(is_reference=True).order_by("account__name")[:50]),
        "testimonials": list(
            testimonial_request_list(user=user)
            .select_related("advocate__contact", "advocate__account")
            .order_by("-requested_at")[:20]
        ),
    }
