from django.urls import path

from sales import views

app_name = "sales"

urlpatterns = [
    path("opportunities/", views.OpportunityListView.as_view(), name="opportunity_list"),
    path("opportunities/new/", views.OpportunityFormView.as_view(), name="opportunity_create"),
    path(
        "opportunities/<int:pk>/", views.OpportunityDetailView.as_view(), name="opportunity_detail"
    ),
    path(
        "opportunities/<int:pk>/edit/", views.OpportunityFormView.as_view(), name="opportunity_edit"
    ),
    path("opportunities/<int:pk>/move/", views.opportunity_move, name="opportunity_move"),
    path("opportunities/<int:pk>/win/", views.opportunity_win, name="opportunity_win"),
    path("opportunities/<int:pk>/lose/", views.opportunity_lose, name="opportunity_lose"),
    path("opportunities/<int:pk>/lines/", views.line_item_add, name="line_item_add"),
    path("opportunities/<int:pk>/quotes/", views.quote_create, name="quote_create"),
    path("opportunities/lines/<int:pk>/", views.line_item_update, name="line_item_update"),
    path("opportunities/lines/<int:pk>/remove/", views.line_item_remove, name="line_item_remove"),
    path("opportunities/board/", views.board, name="board_default"),
    path("opportunities/board/<int:pk>/", views.board, name="board"),
    path("opportunities/forecast/", views.forecast, name="forecast"),
    path("quotes/<int:pk>/", views.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/status/", views.quote_status, name="quote_status"),
    path("orders/", views.OrderListView.as_view(), name="order_list"),
    path("orders/import/", views.order_import, name="order_import"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("onboarding/", views.OnboardingBoardView.as_view(), name="onboarding_board"),
    path("onboarding/<int:pk>/", views.OnboardingDetailView.as_view(), name="onboarding_detail"),
    path(
        "onboarding/<int:pk>/items/<int:task_pk>/done/",
        views.onboarding_item_done,
        name="onboarding_item_done",
    ),
]
