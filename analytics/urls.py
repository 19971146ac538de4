from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("analytics/", views.dashboard_index, name="index"),
    path("analytics/pipeline/", views.PipelineDashboard.as_view(), name="pipeline"),
    path("analytics/funnel/", views.FunnelDashboard.as_view(), name="funnel"),
    path("analytics/support/", views.SupportDashboard.as_view(), name="support"),
]
