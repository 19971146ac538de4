from django.urls import path

from sales.views import (
    board,
    forecast,
    line_items,
    onboarding,
    opportunities,
    orders,
    products,
    public_quotes,
    quotes,
    seller,
)

app_name = "sales"

urlpatterns = [
    path("opportunities/", opportunities.OpportunityListView.as_view(), name="opportunity_list"),
    path(
        "opportunities/new/", opportunities.OpportunityFormView.as_view(), name="opportunity_create"
    ),
    path(
        "opportunities/<int:pk>/",
        opportunities.OpportunityDetailView.as_view(),
        name="opportunity_detail",
    ),
    path(
        "opportunities/<int:pk>/edit/",
        opportunities.OpportunityFormView.as_view(),
        name="opportunity_edit",
    ),
    path(
        "opportunities/<int:pk>/delete/",
        opportunities.OpportunityDeleteView.as_view(),
        name="opportunity_delete",
    ),
    path("opportunities/<int:pk>/move/", opportunities.opportunity_move, name="opportunity_move"),
    path("opportunities/<int:pk>/win/", opportunities.opportunity_win, name="opportunity_win"),
    path("opportunities/<int:pk>/lose/", opportunities.opportunity_lose, name="opportunity_lose"),
    path("opportunities/<int:pk>/lines/", line_items.line_item_add, name="line_item_add"),
    path(
        "opportunities/<int:pk>/amount-from-lines/",
        line_items.opportunity_amount_from_lines,
        name="opportunity_amount_from_lines",
    ),
    path("opportunities/<int:pk>/quotes/", quotes.quote_create, name="quote_create"),
    path("opportunities/lines/<int:pk>/", line_items.line_item_update, name="line_item_update"),
    path(
        "opportunities/lines/<int:pk>/remove/", line_items.line_item_remove, name="line_item_remove"
    ),
    path("opportunities/board/", board.board, name="board_default"),
    path("opportunities/board/<int:pk>/", board.board, name="board"),
    path("opportunities/forecast/", forecast.forecast, name="forecast"),
    path("quotes/<int:pk>/", quotes.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/status/", quotes.quote_status, name="quote_status"),
    path("quotes/<int:pk>/pdf/", quotes.quote_pdf, name="quote_pdf"),
    path("quotes/<int:pk>/send/", quotes.quote_send, name="quote_send"),
    path("q/<str:token>/", public_quotes.quote_public, name="quote_public"),
    path("settings/seller/", seller.seller_profile_edit, name="seller_profile"),
    path("orders/", orders.OrderListView.as_view(), name="order_list"),
    path("products/", products.ProductListView.as_view(), name="product_list"),
    path("orders/import/", orders.order_import, name="order_import"),
    path("orders/<int:pk>/", orders.order_detail, name="order_detail"),
    path("onboarding/", onboarding.OnboardingBoardView.as_view(), name="onboarding_board"),
    path(
        "onboarding/<int:pk>/", onboarding.OnboardingDetailView.as_view(), name="onboarding_detail"
    ),
    path(
        "onboarding/<int:pk>/items/<int:task_pk>/done/",
        onboarding.onboarding_item_done,
        name="onboarding_item_done",
    ),
]
