from django.apps import AppConfig


class LeadsConfig(AppConfig):
    """Lead generation and qualification, and the marketing that nurtures leads."""

    name = "leads"
