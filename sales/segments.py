"""Segment criteria from the sales stage: open deals (their stage and value), won deals and
orders, on accounts, on contacts (through their account) and on leads (the deals a lead was
converted into). Registered from ``sales/apps.py``."""

from dataclasses import replace

from django.conf import settings
from django.db.models import Sum

from crm.permissions import may_sell
from crm.segments.registry import (
    Criterion,
    Group,
    Kind,
    aggregate_q,
    count_q,
    days_ago,
    exists_q,
    in_company_currency,
    segment_criteria,
)
from sales.choices import StageKind
from sales.models import Opportunity, Order, Stage


def open_stage_choices():
    """The open stages of the active pipelines, as "Pipeline · Stage"."""
    stages = (
        Stage.objects.filter(kind=StageKind.OPEN, pipeline__is_active=True)
        .select_related("pipeline")
        .order_by("pipeline__order", "pipeline__name", "order", "id")
    )
    return [(stage.pk, f"{stage.pipeline.name} · {stage.name}") for stage in stages]


def _deals(status):
    return Opportunity.objects.filter(status=status)


def deal_criteria(*, key: str, target_field: str, about: str) -> list[Criterion]:
    """Deal criteria for a target whose deals are the ``Opportunity`` rows with
    ``<key> = target.<target_field>``; ``about`` says whose deals they are, for the help text."""

    def has(related, operator=""):
        return exists_q(related, key, target_field=target_field, operator=operator)

    currency = settings.COMPANY_CURRENCY
    return [
        Criterion(
            "open_deal",
            "Has an open deal",
            Group.SALES,
            Kind.BOOLEAN,
            lambda value, operator: has(_deals(StageKind.OPEN)),
            help_text=about,
        ),
        Criterion(
            "open_deal_stage",
            "Open deal in stage",
            Group.SALES,
            Kind.MULTI_CHOICE,
            lambda value, operator: has(
                _deals(StageKind.OPEN).filter(stage_id__in=[int(v) for v in value]), operator
            ),
            choices=open_stage_choices,
            help_text=about,
        ),
        Criterion(
            "open_deal_value",
            "Open deals' value",
            Group.SALES,
            Kind.NUMBER,
            lambda value, operator: aggregate_q(
                _deals(StageKind.OPEN),
                key,
                operator,
                value,
                aggregate=Sum(in_company_currency("amount")),
                target_field=target_field,
            ),
            unit=currency,
            help_text=f"The total of the open deals in {currency} at today's rates (a deal in a "
            "currency with no rate yet is left out); none is 0.",
        ),
        Criterion(
            "won_deals",
            "Number of won deals",
            Group.SALES,
            Kind.NUMBER,
            lambda value, operator: count_q(
                _deals(StageKind.WON), key, operator, value, target_field=target_field
            ),
            help_text=about,
        ),
        Criterion(
            "won_within",
            "Won a deal",
            Group.SALES,
            Kind.DAYS,
            lambda value, operator: has(
                _deals(StageKind.WON).filter(closed_at__gte=days_ago(value)), operator
            ),
            unit="days",
            help_text=about,
        ),
    ]


def order_criteria(*, target_field: str, about: str) -> list[Criterion]:
    """Orders are an account's: ``target_field`` is the target's account (``pk`` for accounts)."""

    def count(value, operator):
        return count_q(
            Order.objects.all(), "account_id", operator, value, target_field=target_field
        )

    def ordered(value, operator):
        since = days_ago(value).date()
        return exists_q(
            Order.objects.filter(order_date__gte=since),
            "account_id",
            target_field=target_field,
            operator=operator,
        )

    return [
        Criterion("orders", "Number of orders", Group.SALES, Kind.NUMBER, count, help_text=about),
        Criterion(
            "ordered_within",
            "Ordered",
            Group.SALES,
            Kind.DAYS,
            ordered,
            unit="days",
            help_text=about,
        ),
    ]


def register_segment_criteria():
    """Deals and orders are the selling roles' (support agents see no deals or amounts)."""

    def register(target, criteria, keys=None):
        for criterion in criteria:
            if keys is None or criterion.key in keys:
                segment_criteria.register(target, replace(criterion, usable_by=may_sell))

    register(
        "account",
        [
            *deal_criteria(key="account_id", target_field="pk", about="Deals of the account."),
            *order_criteria(target_field="pk", about="Orders of the account."),
        ],
    )
    register(
        "contact",
        [
            *deal_criteria(
                key="account_id",
                target_field="account_id",
                about="Deals of the contact's account.",
            ),
            *order_criteria(target_field="account_id", about="Orders of the contact's account."),
        ],
    )
    register(
        "lead",
        deal_criteria(
            key="source_lead_id", target_field="pk", about="Deals the lead was converted into."
        ),
        keys=("open_deal", "open_deal_stage", "won_deals"),
    )


def register_deal_target():
    """Deals as a target of conditions (automation rules on deals; the segment page lists only
    the kinds a saved segment holds)."""
    from crm.segments.criteria import account_firmographics, standard_criteria
    from crm.segments.registry import Column
    from sales.automation import stage_choices

    segment_criteria.register_target(
        "deal",
        Opportunity,
        label="Deals",
        select_related=("account", "stage", "owner"),
        order_by=("-created_at", "-id"),
        columns=(Column("Name", lambda d: d.name), Column("Amount", lambda d: d.amount)),
    )
    field = Criterion.for_field
    for criterion in (
        field("amount", "Amount", group=Group.SALES, kind=Kind.NUMBER, field="amount"),
        field(
            "probability",
            "Probability (%)",
            group=Group.SALES,
            kind=Kind.NUMBER,
            field="probability",
        ),
        field(
            "stage",
            "Stage",
            group=Group.SALES,
            kind=Kind.MULTI_CHOICE,
            field="stage_id",
            choices=stage_choices,
        ),
        *account_firmographics(),
        *standard_criteria(Opportunity),
    ):
        segment_criteria.register("deal", replace(criterion, usable_by=may_sell))
