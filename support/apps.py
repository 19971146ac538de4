from django.apps import AppConfig


class SupportConfig(AppConfig):
    """The support desk: tickets, queues, SLAs, escalations and CSAT."""

    name = "support"
