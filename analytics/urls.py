from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("analytics/", views.dashboard_index, name="index"),
    path("analytics/pipeline/", views.PipelineDashboard.as_view(), name="pipeline"),
    path("analytics/funnel/", views.FunnelDashboard.as_view(), name="funnel"),
    path("analytics/support/", views.SupportDashboard.as_view(), name="support"),
    path("analytics/retention/", views.RetentionDashboard.as_view(), name="retention"),
    path("analytics/clv/", views.CLVDashboard.as_view(), name="clv"),
    path("analytics/clv/refit/", views.clv_refit, name="clv_refit"),
]
