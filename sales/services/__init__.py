"""Sales services: everything that writes. Views, tasks and other stages call these."""

from sales.services.onboarding import (
    onboarding_item_complete,
    onboarding_plan_create,
    onboarding_plan_finish_if_done,
    onboarding_plans_reconcile,
)
from sales.services.opportunities import (
    default_pipeline,
    first_open_stage,
    line_item_add,
    line_item_remove,
    line_item_update,
    opportunity_amount_from_lines,
    opportunity_close_lost,
    opportunity_close_won,
    opportunity_create,
    opportunity_delete,
    opportunity_move_stage,
    opportunity_recalculate,
    opportunity_update,
)
from sales.services.orders import order_record_for_opportunity, orders_import
from sales.services.quotas import quota_set
from sales.services.quotes import (
    quote_create,
    quote_decide,
    quote_send,
    quote_set_status,
    seller_profile_update,
)

__all__ = [
    "default_pipeline",
    "first_open_stage",
    "line_item_add",
    "line_item_remove",
    "line_item_update",
    "onboarding_item_complete",
    "onboarding_plan_create",
    "onboarding_plan_finish_if_done",
    "onboarding_plans_reconcile",
    "opportunity_amount_from_lines",
    "opportunity_close_lost",
    "opportunity_close_won",
    "opportunity_create",
    "opportunity_delete",
    "opportunity_move_stage",
    "opportunity_recalculate",
    "opportunity_update",
    "order_record_for_opportunity",
    "orders_import",
    "quota_set",
    "quote_create",
    "quote_decide",
    "quote_send",
    "quote_set_status",
    "seller_profile_update",
]
