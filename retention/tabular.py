"""Subscriptions as files (registered in ``retention.apps``).

A row creates a subscription through ``subscription_create`` (a paying one writes its "new" MRR
movement). On an existing one, MRR and seats change through ``subscription_change`` (an
expansion or contraction in the MRR ledger, as the page's form) and plan, owner, term, renewal
date and auto-renew through ``subscription_update``; the status changes on the subscription's
page (a cancellation or churn has its own steps), so it is exported, not imported.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm import registry
from crm.permissions import may_sell
from crm.tabular import columns as c
from crm.tabular.kinds import RecordKind
from crm.tabular.records import account_column, created_column, owner_column
from retention.models import Subscription
from retention.selectors import subscription_list
from retention.services import subscriptions

LEDGER = ("mrr", "seats")
#: What an import may change on an existing subscription (the edit form's fields and the ledger).
CHANGEABLE = (*subscriptions.EDITABLE_FIELDS, *LEDGER)


def _create(*, user, data):
    data = {k: v for k, v in data.items() if v is not None}
    data.setdefault("mrr", Decimal("0"))
    data.setdefault("start_date", timezone.localdate())
    return subscriptions.subscription_create(user=user, **data)


def _update(*, record, user, data):
    fixed = sorted(set(data) - set(CHANGEABLE))
    if fixed:
        raise ValidationError(
            f"{', '.join(fixed)} of an existing subscription cannot be changed by import"
        )
    subscription = record
    ledger = {k: data.pop(k) for k in LEDGER if k in data}
    if data:
        subscription = subscriptions.subscription_update(
            subscription=subscription, user=user, **data
        )
    if ledger:
        subscription = subscriptions.subscription_change(
            subscription=subscription, user=user, note="Imported", **ledger
        )
    return subscription


SUBSCRIPTIONS = RecordKind(
    name="subscriptions",
    label="Subscriptions",
    model=Subscription,
    columns=(
        c.record_id(),
        account_column(required=True),
        c.text("plan", "Plan", max_length=200, required=True),
        c.text("product_sku", "Product SKU", max_length=60),
        c.integer("seats", "Seats", minimum=1),
        c.decimal("mrr", "MRR", visible=may_sell),
        c.text("currency", "Currency", max_length=3, clean=c.currency_code),
        c.readonly("status", "Status"),
        c.date("start_date", "Start date"),
        c.integer("term_months", "Term (months)", minimum=1, maximum=600),
        c.date("renewal_date", "Renewal date"),
        c.boolean("auto_renew", "Auto-renew"),
        owner_column(),
        created_column(),
    ),
    keys=("id",),
    selector=subscription_list,
    create=_create,
    update=_update,
    may_import=may_sell,
    list_url="retention:subscription_list",
)


def register() -> None:
    registry.tabular.register(SUBSCRIPTIONS)
