"""Segment criteria from retention: paying subscriptions (MRR, plan, renewal date), the account's
health score and colour, churn risk, and NPS answers, on accounts and on contacts (through
their account; NPS: the contact's own answers). Registered from ``retention/apps.py``."""

from dataclasses import replace
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Q, Sum

from crm.permissions import may_sell
from crm.segments.registry import (
    NEGATED,
    Criterion,
    Group,
    Kind,
    aggregate_q,
    days_ahead_q,
    exists_q,
    field_build,
    in_company_currency,
    latest_q,
    number_q,
    segment_criteria,
)
from retention.choices import (
    CHURN_RISK_BANDS,
    PAYING_STATUSES,
    ChurnRiskLevel,
    HealthColour,
    NpsCategory,
)
from retention.models import NpsSurvey, RiskEpisode, Subscription

#: The NPS answers (0–10) of each category.
NPS_RANGES = {
    NpsCategory.PROMOTER: (9, 10),
    NpsCategory.PASSIVE: (7, 8),
    NpsCategory.DETRACTOR: (0, 6),
}
PLAN_CHOICES_LIMIT = 500


def plan_choices():
    """The plans subscriptions are on (up to ``PLAN_CHOICES_LIMIT``, by name)."""
    plans = (Subscription.objects.order_by("plan").values_list("plan", flat=True).distinct())[
        :PLAN_CHOICES_LIMIT
    ]
    return [(plan, plan) for plan in plans]


def _paying():
    return Subscription.objects.filter(status__in=PAYING_STATUSES)


def _text(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _either(conditions) -> Q:
    return reduce(or_, conditions, Q(pk__in=[]))


def subscription_criteria(*, target_field: str, about: str) -> list[Criterion]:
    """Subscriptions are an account's: ``target_field`` is the target's account."""

    def has(related, operator=""):
        return exists_q(related, "account_id", target_field=target_field, operator=operator)

    currency = settings.COMPANY_CURRENCY
    paying = f"{about} Paying: active, or cancelled and running to the end of its term."
    return [
        Criterion(
            "active_subscription",
            "Has a paying subscription",
            Group.RETENTION,
            Kind.BOOLEAN,
            lambda value, operator: has(_paying()),
            help_text=paying,
        ),
        Criterion(
            "mrr",
            "MRR",
            Group.RETENTION,
            Kind.NUMBER,
            lambda value, operator: aggregate_q(
                _paying(),
                "account_id",
                operator,
                value,
                aggregate=Sum(in_company_currency("mrr")),
                target_field=target_field,
            ),
            unit=currency,
            help_text=f"Monthly recurring revenue of the paying subscriptions in {currency} at "
            "today's rates (one in a currency with no rate yet is left out); none is 0.",
        ),
        Criterion(
            "plan",
            "Plan",
            Group.RETENTION,
            Kind.MULTI_CHOICE,
            lambda value, operator: has(_paying().filter(plan__in=value), operator),
            choices=plan_choices,
            help_text=paying,
        ),
        Criterion(
            "renewal",
            "Renewal date",
            Group.RETENTION,
            Kind.DAYS_AHEAD,
            lambda value, operator: has(
                _paying().filter(days_ahead_q("renewal_date", value)), operator
            ),
            unit="days",
            help_text=paying,
        ),
    ]


def health_criteria(*, account_path: str, target_field: str, about: str) -> list[Criterion]:
    """``account_path`` leads from the target to the account ("" for accounts themselves)."""
    prefix = f"{account_path}__" if account_path else ""
    not_scored = "An account not scored yet matches no score."

    def churn_risk(value, operator):
        condition = _either(
            Q(
                **{
                    f"{prefix}churn_prediction__probability__gte": CHURN_RISK_BANDS[level][0],
                    f"{prefix}churn_prediction__probability__lt": CHURN_RISK_BANDS[level][1],
                }
            )
            for level in value
        )
        return ~condition if operator in NEGATED else condition

    return [
        Criterion(
            "health",
            "Health score",
            Group.RETENTION,
            Kind.NUMBER,
            field_build(f"{prefix}health__score", Kind.NUMBER),
            unit="of 100",
            help_text=_text("The nightly health score (0–100).", about, not_scored),
        ),
        Criterion(
            "health_colour",
            "Health colour",
            Group.RETENTION,
            Kind.MULTI_CHOICE,
            field_build(f"{prefix}health__colour", Kind.MULTI_CHOICE),
            choices=HealthColour.choices,
            help_text=about,
        ),
        Criterion(
            "churn_risk",
            "Predicted churn risk",
            Group.RETENTION,
            Kind.MULTI_CHOICE,
            churn_risk,
            choices=ChurnRiskLevel.choices,
            help_text=_text("The churn model's nightly probability.", about),
        ),
        Criterion(
            "at_risk",
            "At risk (on the at-risk list)",
            Group.RETENTION,
            Kind.BOOLEAN,
            lambda value, operator: exists_q(
                RiskEpisode.objects.filter(closed_at__isnull=True),
                "account_id",
                target_field=target_field,
            ),
            help_text=_text("Health turned red or fell, and has not recovered yet.", about),
        ),
    ]


def nps_criteria(*, key: str, about: str) -> list[Criterion]:
    """The latest answered NPS survey of the surveys with ``<key> = target.pk``."""
    answered = NpsSurvey.objects.filter(score__isnull=False, answered_at__isnull=False)

    def last(condition):
        return latest_q(answered, key, condition, order_field="answered_at")

    def category(value, operator):
        condition = last(
            _either(Q(score__gte=NPS_RANGES[c][0], score__lte=NPS_RANGES[c][1]) for c in value)
        )
        return ~condition if operator in NEGATED else condition

    return [
        Criterion(
            "nps_score",
            "Last NPS answer",
            Group.RETENTION,
            Kind.NUMBER,
            lambda value, operator: last(number_q("score", operator, value)),
            unit="of 10",
            help_text=f"The score (0–10) of the latest NPS answer. {about}",
        ),
        Criterion(
            "nps_category",
            "Last NPS answer is",
            Group.RETENTION,
            Kind.MULTI_CHOICE,
            category,
            choices=NpsCategory.choices,
            help_text=f"Promoter 9–10, passive 7–8, detractor 0–6. {about}",
        ),
    ]


def register_segment_criteria():
    """Subscriptions (MRR, plans, renewals) are the selling roles'; health, churn risk and NPS
    every role's."""

    def selling(criteria):
        return [replace(criterion, usable_by=may_sell) for criterion in criteria]

    for criterion in (
        *selling(subscription_criteria(target_field="pk", about="Subscriptions of the account.")),
        *health_criteria(account_path="", target_field="pk", about=""),
        *nps_criteria(key="account_id", about="Answers of any contact of the account."),
    ):
        segment_criteria.register("account", criterion)
    for criterion in (
        *selling(
            subscription_criteria(
                target_field="account_id", about="Subscriptions of the contact's account."
            )
        ),
        *health_criteria(
            account_path="account", target_field="account_id", about="Of the contact's account."
        ),
        *nps_criteria(key="contact_id", about="The contact's own answers."),
    ):
        segment_criteria.register("contact", criterion)
