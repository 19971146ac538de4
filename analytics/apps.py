from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Dashboards and the models behind them (pipeline, funnel, support, churn, CLV)."""

    name = "analytics"
