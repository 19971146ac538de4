"""Reading sales data: one ``<entity>_list`` / ``<entity>_get`` pair per record a page fetches
(``records``, over the models' ``visible_to`` / ``changeable_by``), and the pages' aggregates
(the board, the forecast, onboarding progress), each starting from those lists and aggregating
in SQL."""

from sales.selectors.board import (
    BoardColumn,
    pipeline_board,
    pipeline_closing_stages,
    pipelines_active,
    weighted_sum,
)
from sales.selectors.forecast import (
    Forecast,
    ForecastCell,
    forecast_reps,
    period_of,
    period_starts,
    sales_forecast,
)
from sales.selectors.onboarding import (
    onboarding_item_get,
    onboarding_items,
    onboarding_items_completable,
    onboarding_with_progress,
)
from sales.selectors.quotas import QuotaAttainment, quota_attainment_list
from sales.selectors.records import (
    line_item_get,
    line_item_list,
    onboarding_plan_get,
    onboarding_plan_list,
    opportunity_get,
    opportunity_list,
    order_get,
    order_list,
    pipeline_get,
    pipeline_list,
    product_get,
    product_list,
    quota_list,
    quote_get,
    quote_list,
    quote_public_get,
    stage_get,
    stage_list,
)

__all__ = [
    "BoardColumn",
    "Forecast",
    "ForecastCell",
    "forecast_reps",
    "line_item_get",
    "line_item_list",
    "onboarding_item_get",
    "onboarding_items",
    "onboarding_items_completable",
    "onboarding_plan_get",
    "onboarding_plan_list",
    "onboarding_with_progress",
    "opportunity_get",
    "opportunity_list",
    "order_get",
    "order_list",
    "period_of",
    "period_starts",
    "pipeline_board",
    "pipeline_closing_stages",
    "pipeline_get",
    "pipeline_list",
    "product_get",
    "product_list",
    "pipelines_active",
    "QuotaAttainment",
    "quota_attainment_list",
    "quota_list",
    "quote_get",
    "quote_list",
    "quote_public_get",
    "sales_forecast",
    "stage_get",
    "stage_list",
    "weighted_sum",
]
