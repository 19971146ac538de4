"""Tickets as files (registered in ``support.apps``).

A row creates a ticket through ``ticket_create`` (SLA, reference number and assignment as for a
ticket opened on the desk). On an existing ticket an import changes its priority, status (along
the allowed transitions) and assignee, each through its service, so the SLA clock, the timeline
and the CSAT survey follow as on the ticket's page; other columns are set when a ticket is
opened and reported when a file changes them.
"""

from django.core.exceptions import ValidationError

from crm import registry
from crm.models import Contact
from crm.permissions import may_work_tickets
from crm.tabular import columns as c
from crm.tabular.kinds import RecordKind
from crm.tabular.records import account_column, created_column
from support.choices import Category, Priority, TicketStatus
from support.models import Queue, Ticket
from support.selectors import ticket_list
from support.services import tickets

#: What an import may change on an existing ticket, in the order it is changed.
CHANGEABLE = ("priority", "assignee", "status")


def _contacts(user):
    return Contact.objects.visible_to(user)


def _queues(user):
    return Queue.objects.all()


def _agents(user):
    return tickets.agents_for_assignment()


def _create(*, user, data):
    status = data.pop("status", "") or TicketStatus.NEW
    data = {k: v for k, v in data.items() if v not in (None, "")}
    ticket = tickets.ticket_create(user=user, **data)
    if status != ticket.status:
        ticket = tickets.ticket_change_status(ticket=ticket, status=status, user=user)
    return ticket


def _update(*, record, user, data):
    fixed = sorted(set(data) - set(CHANGEABLE))
    if fixed:
        raise ValidationError(
            f"{', '.join(fixed)} of an existing ticket cannot be changed by import; "
            "change it on the ticket's page"
        )
    ticket = record
    if "priority" in data:
        ticket = tickets.ticket_change_priority(ticket=ticket, priority=data["priority"], user=user)
    if "assignee" in data:
        ticket = tickets.ticket_assign(ticket=ticket, assignee=data["assignee"], user=user)
    if "status" in data:
        ticket = tickets.ticket_change_status(ticket=ticket, status=data["status"], user=user)
    return ticket


TICKETS = RecordKind(
    name="tickets",
    label="Tickets",
    model=Ticket,
    columns=(
        c.record_id(),
        c.readonly("reference", "Reference"),
        c.text("subject", "Subject", max_length=200, required=True),
        c.text("description", "Description", max_length=20000),
        account_column(),
        c.record(
            "contact",
            "Contact",
            queryset=_contacts,
            key="email",
            noun="contact with the email",
            describe=lambda contact: contact.email,
        ),
        c.choice("priority", "Priority", Priority),
        c.choice("status", "Status", TicketStatus),
        c.choice("category", "Category", Category),
        c.record("queue", "Queue", queryset=_queues, key="name", noun="queue"),
        c.user("assignee", "Assignee", queryset=_agents),
        c.readonly("channel", "Channel"),
        created_column(),
    ),
    keys=("id", "reference"),
    selector=ticket_list,
    create=_create,
    update=_update,
    may_import=may_work_tickets,
    list_url="support:ticket_list",
)


def register() -> None:
    registry.tabular.register(TICKETS)
