"""The ``data`` of the support stage's events (``ticket.*``)."""

from crm.webhooks import record_url
from crm.webhooks.payloads import account_ref, user_ref

TICKET_FIELDS = (
    "id",
    "reference",
    "subject",
    "status",
    "priority",
    "channel",
    "category",
    "account",
    "contact",
    "assignee",
    "queue",
    "created_at",
    "resolved_at",
    "url",
)


def ticket_data(ticket) -> dict:
    contact = ticket.contact
    return {
        "id": ticket.pk,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "category": ticket.category,
        "account": account_ref(ticket.account),
        "contact": {"id": contact.pk, "email": contact.email, "url": record_url(contact)}
        if contact
        else None,
        "assignee": user_ref(ticket.assignee),
        "queue": {"id": ticket.queue_id, "name": ticket.queue.name} if ticket.queue_id else None,
        "created_at": ticket.created_at,
        "resolved_at": ticket.resolved_at,
        "url": record_url(ticket),
    }


def register_events() -> None:
    from crm.registry import webhook_events

    webhook_events.register(
        "ticket.created",
        label="Ticket opened",
        description="A ticket was opened: by an agent, the public support form or an email.",
        payload="support.webhooks.ticket_data",
        fields=TICKET_FIELDS,
    )
    webhook_events.register(
        "ticket.solved",
        label="Ticket solved",
        description="A ticket was marked solved (again after a reopening, too).",
        payload="support.webhooks.ticket_data",
        fields=TICKET_FIELDS,
    )
