"""Deals and products as files (registered in ``sales.apps``).

Deals: the amount and probability are columns only for roles that see amounts (support agents
see no deals at all); a deal's stage is exported and changed on the board or the deal's page,
not by import (a stage move may close the deal, which has its own steps). Products: the
catalogue, changed by managers and admins. Orders: exported here; they come from won deals and
from the order import of past revenue (``/orders/import/``), not from this import.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError

from crm import registry
from crm.permissions import may_manage, may_sell
from crm.tabular import columns as c
from crm.tabular.kinds import RecordKind
from crm.tabular.records import account_column, created_column, owner_column
from sales.choices import Billing, ForecastCategory
from sales.models import Opportunity, Order, Product
from sales.selectors import opportunity_list, order_list, product_list
from sales.services import opportunities, products


def _create_deal(*, user, data):
    return opportunities.opportunity_create(user=user, **data)


def _update_deal(*, record, user, data):
    if "amount" in data and record.line_items.exists():
        raise ValidationError("the amount of a deal with line items comes from its lines")
    return opportunities.opportunity_update(opportunity=record, user=user, **data)


OPPORTUNITIES = RecordKind(
    name="opportunities",
    label="Deals",
    model=Opportunity,
    columns=(
        c.record_id(),
        c.text("name", "Name", max_length=200, required=True),
        account_column(required=True),
        owner_column(),
        c.readonly("pipeline", "Pipeline", read=lambda o: o.pipeline.name, related=("pipeline",)),
        c.readonly("stage", "Stage", read=lambda o: o.stage.name, related=("stage",)),
        c.readonly("status", "Status"),
        c.decimal("amount", "Amount", visible=may_sell),
        c.text("currency", "Currency", max_length=3, clean=c.currency_code),
        c.integer("probability", "Probability (%)", maximum=100, visible=may_sell),
        c.choice("forecast_category", "Forecast", ForecastCategory),
        c.date("expected_close_date", "Close date", aliases=("close date",)),
        c.text("next_step", "Next step", max_length=200),
        created_column(),
    ),
    keys=("id",),
    selector=opportunity_list,
    create=_create_deal,
    update=_update_deal,
    may_import=may_sell,
    list_url="sales:opportunity_list",
)


PRODUCTS = RecordKind(
    name="products",
    label="Products",
    model=Product,
    columns=(
        c.record_id(),
        c.text("sku", "SKU", max_length=60, required=True),
        c.text("name", "Name", max_length=200, required=True),
        c.text("description", "Description", max_length=5000),
        c.decimal("price", "Price"),
        c.text("currency", "Currency", max_length=3, clean=c.currency_code),
        c.choice("billing", "Billing", Billing),
        c.decimal("tax_rate", "Tax rate (%)", maximum=Decimal(101)),
        c.boolean("is_active", "Active", aliases=("active",)),
    ),
    keys=("id", "sku", "name"),
    selector=product_list,
    create=lambda *, user, data: products.product_create(user=user, **data),
    update=lambda *, record, user, data: products.product_update(product=record, user=user, **data),
    may_import=may_manage,
    list_url="sales:product_list",
)


def _orders_are_not_imported(*, record, user, data):
    raise ValidationError("Past orders are imported at /orders/import/, not here")


ORDERS = RecordKind(
    name="orders",
    label="Orders",
    model=Order,
    columns=(
        c.record_id(),
        c.readonly("account", "Account", cell=lambda a: a.name, related=("account",)),
        c.readonly("order_date", "Date"),
        c.readonly("amount", "Amount", visible=may_sell),
        c.readonly("one_off_amount", "One-off amount", visible=may_sell),
        c.readonly("mrr", "MRR", visible=may_sell),
        c.readonly("currency", "Currency"),
        c.readonly("source", "Source"),
        c.readonly("external_ref", "External reference"),
        created_column(),
    ),
    keys=("id",),
    selector=order_list,
    update=_orders_are_not_imported,
    may_import=lambda user: False,
    list_url="sales:order_list",
)


def register() -> None:
    registry.tabular.register(ORDERS)
    registry.tabular.register(OPPORTUNITIES)
    registry.tabular.register(PRODUCTS)
