from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Subscriptions, renewals, health, churn risk, expansion and advocacy."""

    name = "retention"
