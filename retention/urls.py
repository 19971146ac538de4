from django.urls import path

from retention import views

app_name = "retention"

urlpatterns = [
    path("subscriptions/", views.SubscriptionListView.as_view(), name="subscription_list"),
    path("subscriptions/new/", views.SubscriptionFormView.as_view(), name="subscription_create"),
    path(
        "subscriptions/<int:pk>/",
        views.SubscriptionDetailView.as_view(),
        name="subscription_detail",
    ),
    path(
        "subscriptions/<int:pk>/edit/",
        views.SubscriptionFormView.as_view(),
        name="subscription_edit",
    ),
    path("subscriptions/<int:pk>/status/", views.subscription_status, name="subscription_status"),
    path("subscriptions/<int:pk>/change/", views.subscription_change, name="subscription_change"),
    path("renewals/", views.renewals, name="renewals"),
    path("usage/import/", views.usage_import, name="usage_import"),
    path("api/usage/", views.usage_api, name="usage_api"),
    path("churn/", views.ChurnListView.as_view(), name="churn_list"),
    path("churn/accounts/<int:account_pk>/", views.churn_record, name="churn_record"),
    path("at-risk/", views.AtRiskListView.as_view(), name="at_risk"),
]

urlpatterns += [
    path("churn/<int:pk>/winback/", views.churn_winback, name="churn_winback"),
    path("upsell/", views.RecommendationListView.as_view(), name="upsell"),
    path("upsell/<int:pk>/take/", views.recommendation_take, name="recommendation_take"),
    path("upsell/<int:pk>/dismiss/", views.recommendation_dismiss, name="recommendation_dismiss"),
    path("nps/", views.nps, name="nps"),
    path("advocacy/", views.advocacy, name="advocacy"),
    path("advocacy/<int:pk>/", views.advocate_detail, name="advocate_detail"),
    path("r/<str:code>/", views.referral, name="referral"),
]
