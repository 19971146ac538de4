from django.urls import path

from retention.views import advocacy, nps, public, renewals, risk, subscriptions, upsell, usage

app_name = "retention"

urlpatterns = [
    path(
        "subscriptions/",
        subscriptions.SubscriptionListView.as_view(),
        name="subscription_list",
    ),
    path(
        "subscriptions/new/",
        subscriptions.SubscriptionFormView.as_view(),
        name="subscription_create",
    ),
    path(
        "subscriptions/<int:pk>/",
        subscriptions.SubscriptionDetailView.as_view(),
        name="subscription_detail",
    ),
    path(
        "subscriptions/<int:pk>/edit/",
        subscriptions.SubscriptionFormView.as_view(),
        name="subscription_edit",
    ),
    path(
        "subscriptions/<int:pk>/status/",
        subscriptions.subscription_status,
        name="subscription_status",
    ),
    path(
        "subscriptions/<int:pk>/change/",
        subscriptions.subscription_change,
        name="subscription_change",
    ),
    path("renewals/", renewals.renewals, name="renewals"),
    path("usage/import/", usage.usage_import, name="usage_import"),
    path("api/usage/", usage.usage_api, name="usage_api"),
    path("churn/", risk.ChurnListView.as_view(), name="churn_list"),
    path("churn/accounts/<int:account_pk>/", risk.churn_record, name="churn_record"),
    path("churn/<int:pk>/winback/", risk.churn_winback, name="churn_winback"),
    path("at-risk/", risk.AtRiskListView.as_view(), name="at_risk"),
    path("upsell/", upsell.RecommendationListView.as_view(), name="upsell"),
    path("upsell/<int:pk>/take/", upsell.recommendation_take, name="recommendation_take"),
    path("upsell/<int:pk>/dismiss/", upsell.recommendation_dismiss, name="recommendation_dismiss"),
    path("nps/", nps.nps, name="nps"),
    path("advocacy/", advocacy.advocacy, name="advocacy"),
    path("advocacy/<int:pk>/", advocacy.advocate_detail, name="advocate_detail"),
    path("r/<str:code>/", public.referral, name="referral"),
]
