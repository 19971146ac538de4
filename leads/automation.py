"""Leads as records rules watch (their status is their stage). Registered from
``leads/apps.py``."""


def register() -> None:
    from crm.automation.registry import automation
    from leads.choices import LeadStatus
    from leads.models import Lead

    automation.register_entity(
        "lead",
        Lead,
        label="lead",
        stage_field="status",
        stage_choices=lambda: LeadStatus.choices,
    )
    automation.register_field("lead", "score", "Score")
    automation.register_field(
        "lead", "status", "Status", kind="choice", choices=lambda: LeadStatus.choices
    )
