from django.apps import AppConfig


class SalesConfig(AppConfig):
    """Pipelines, opportunities, quotes, orders, forecasting and onboarding of won customers."""

    name = "sales"
