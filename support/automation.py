"""Tickets as records rules watch: their status is their stage, their assignee their owner;
their conditions are the ``ticket`` segment criteria (``support.segments``). Registered from
``support/apps.py``."""


def register() -> None:
    from crm.automation.entities import account_owner
    from crm.automation.registry import automation
    from support.choices import Priority, TicketStatus
    from support.models import Ticket

    automation.register_entity(
        "ticket",
        Ticket,
        label="ticket",
        owner_field="assignee",
        stage_field="status",
        stage_choices=lambda: TicketStatus.choices,
    )
    automation.register_field(
        "ticket", "priority", "Priority", kind="choice", choices=lambda: Priority.choices
    )
    automation.register_recipient("ticket", "account_owner", "The account's owner", account_owner)
