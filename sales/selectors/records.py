"""One ``<entity>_list`` / ``<entity>_get`` pair per sales record a page fetches (see
``crm.selectors``): the rows a user may see, or with ``for_change`` change, and one of them or
``Http404``. Each ``_get`` joins what the record's page shows."""

from django.db import models
from django.http import Http404
from django.utils.crypto import constant_time_compare

from crm.selectors import record_get, scoped
from sales.models import (
    OnboardingPlan,
    Opportunity,
    OpportunityLineItem,
    Order,
    Pipeline,
    Product,
    Quota,
    Quote,
    Stage,
)


def opportunity_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Opportunity, user=user, for_change=for_change)


def opportunity_get(*, user, pk, for_change: bool = False, probes=None) -> Opportunity:
    """``probes``: a record page's, read with the record (``record_get``)."""
    return record_get(
        opportunity_list(user=user, for_change=for_change)
        .select_related("account", "primary_contact", "owner", "stage", "pipeline")
        .select_related("source_lead", "campaign"),
        pk,
        name=("opportunity_get", for_change),
        user=user,
        probes=probes,
    )


def line_item_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(OpportunityLineItem, user=user, for_change=for_change)


def line_item_get(*, user, pk, for_change: bool = False) -> OpportunityLineItem:
    return record_get(
        line_item_list(user=user, for_change=for_change).select_related("opportunity"), pk
    )


def quote_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Quote, user=user, for_change=for_change)


def quote_get(*, user, pk, for_change: bool = False) -> Quote:
    return record_get(
        quote_list(user=user, for_change=for_change).select_related(
            "opportunity__account", "opportunity__primary_contact", "opportunity__owner"
        ),
        pk,
    )


def order_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Order, user=user, for_change=for_change)


def order_get(*, user, pk, for_change: bool = False) -> Order:
    return record_get(
        order_list(user=user, for_change=for_change).select_related(
            "account", "opportunity", "owner"
        ),
        pk,
    )


def pipeline_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Pipeline, user=user, for_change=for_change)


def pipeline_get(*, user, pk, for_change: bool = False) -> Pipeline:
    return record_get(pipeline_list(user=user, for_change=for_change), pk)


def stage_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Stage, user=user, for_change=for_change)


def stage_get(*, user, pk, for_change: bool = False) -> Stage:
    return record_get(stage_list(user=user, for_change=for_change), pk)


def onboarding_plan_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(OnboardingPlan, user=user, for_change=for_change)


def onboarding_plan_get(*, user, pk, for_change: bool = False, probes=None) -> OnboardingPlan:
    """``probes``: a record page's, read with the record (``record_get``)."""
    return record_get(
        onboarding_plan_list(user=user, for_change=for_change).select_related(
            "account", "opportunity", "owner", "template"
        ),
        pk,
        name=("onboarding_plan_get", for_change),
        user=user,
        probes=probes,
    )


def quota_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Quota, user=user, for_change=for_change)


def product_list(*, user, for_change: bool = False) -> models.QuerySet:
    """The catalogue: sellers read it, managers and admins change it."""
    return scoped(Product, user=user, for_change=for_change)


def product_get(*, user, pk, for_change: bool = False) -> Product:
    return record_get(product_list(user=user, for_change=for_change), pk)


def quote_public_get(*, token: str) -> Quote:
    """The quote behind a customer's link; 404 for anything else, whatever is wrong with it."""
    if not token or len(token) > 64:
        raise Http404
    quote = (
        Quote.objects.select_related("opportunity__account", "opportunity__owner")
        .filter(public_token=token)
        .first()
    )
    if quote is None or not constant_time_compare(quote.public_token, token):
        raise Http404
    return quote
