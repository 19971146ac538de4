"""Segment criteria from the support desk: open tickets (and their priority), how many, the last
CSAT answer and recent tickets, on accounts (the account's tickets) and contacts (the tickets
they raised). Registered from ``support/apps.py``."""

from crm.segments.registry import (
    Criterion,
    Group,
    Kind,
    count_q,
    days_ago,
    exists_q,
    latest_q,
    number_q,
    segment_criteria,
)
from support.choices import ACTIVE_STATUSES, Priority
from support.models import CsatSurvey, Ticket


def _open_tickets():
    return Ticket.objects.filter(status__in=ACTIVE_STATUSES)


def ticket_criteria(*, key: str, about: str) -> list[Criterion]:
    """Ticket criteria for a target whose tickets are those with ``<key> = target.pk``."""

    def has(related, operator=""):
        return exists_q(related, key, operator=operator)

    open_help = f"{about} Open: new, open, pending customer or on hold."
    return [
        Criterion(
            "open_ticket",
            "Has an open ticket",
            Group.SUPPORT,
            Kind.BOOLEAN,
            lambda value, operator: has(_open_tickets()),
            help_text=open_help,
        ),
        Criterion(
            "open_ticket_priority",
            "Open ticket with priority",
            Group.SUPPORT,
            Kind.MULTI_CHOICE,
            lambda value, operator: has(_open_tickets().filter(priority__in=value), operator),
            choices=Priority.choices,
            help_text=open_help,
        ),
        Criterion(
            "open_tickets",
            "Number of open tickets",
            Group.SUPPORT,
            Kind.NUMBER,
            lambda value, operator: count_q(_open_tickets(), key, operator, value),
            help_text=open_help,
        ),
        Criterion(
            "ticket_opened_within",
            "Opened a ticket",
            Group.SUPPORT,
            Kind.DAYS,
            lambda value, operator: has(
                Ticket.objects.filter(created_at__gte=days_ago(value)), operator
            ),
            unit="days",
            help_text=about,
        ),
        Criterion(
            "last_csat",
            "Last CSAT answer",
            Group.SUPPORT,
            Kind.NUMBER,
            lambda value, operator: latest_q(
                CsatSurvey.objects.filter(rating__isnull=False, answered_at__isnull=False),
                f"ticket__{key}",
                number_q("rating", operator, value),
                order_field="answered_at",
            ),
            unit="of 5",
            help_text=f"The rating (1–5) of the latest answered satisfaction survey. {about}",
        ),
    ]


def register_segment_criteria():
    for criterion in ticket_criteria(key="account_id", about="Tickets of the account."):
        segment_criteria.register("account", criterion)
    for criterion in ticket_criteria(key="contact_id", about="Tickets the contact raised."):
        segment_criteria.register("contact", criterion)


def register_ticket_target():
    """Tickets as a target of conditions (automation rules on tickets; the segment page lists
    only the kinds a saved segment holds)."""
    from crm.segments.criteria import account_firmographics, owner_choices
    from crm.segments.registry import Column
    from support.choices import TicketStatus

    segment_criteria.register_target(
        "ticket",
        Ticket,
        label="Tickets",
        select_related=("account",),
        order_by=("-created_at", "-id"),
        columns=(Column("Subject", lambda t: t.subject),),
    )
    field = Criterion.for_field
    for criterion in (
        field(
            "priority",
            "Priority",
            group=Group.SUPPORT,
            kind=Kind.MULTI_CHOICE,
            field="priority",
            choices=Priority.choices,
        ),
        field(
            "status",
            "Status",
            group=Group.SUPPORT,
            kind=Kind.MULTI_CHOICE,
            field="status",
            choices=TicketStatus.choices,
        ),
        field(
            "assignee",
            "Assignee",
            group=Group.OWNERSHIP,
            kind=Kind.MULTI_CHOICE,
            field="assignee_id",
            choices=owner_choices,
        ),
        *account_firmographics(),
        field(
            "created",
            "Created",
            group=Group.LIFECYCLE,
            kind=Kind.DAYS,
            field="created_at",
            unit="days",
        ),
    ):
        segment_criteria.register("ticket", criterion)
