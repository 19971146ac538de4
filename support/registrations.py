"""What the support desk adds to shared pages (registered in ``apps.py``)."""

from support.selectors import support_summary


def describe_ticket(ticket) -> str:
    parts = [ticket.get_status_display()]
    if ticket.account_id:
        parts.append(ticket.account.name)
    return " · ".join(parts)


def account_panel(request, account):
    return support_summary(user=request.user, account=account)


def contact_panel(request, contact):
    return support_summary(user=request.user, contact=contact)


#: Ticket fields a History page can put back, each through its own service.
TICKET_RESTORABLE = ("priority", "assignee", "status")


def ticket_restore(*, obj, user, field, value):
    """Put a ticket's field back through the service that changes it (a status along the
    allowed transitions only)."""
    from support.services import tickets

    if field == "priority":
        return tickets.ticket_change_priority(ticket=obj, priority=value, user=user)
    if field == "assignee":
        return tickets.ticket_assign(ticket=obj, assignee=value, user=user)
    return tickets.ticket_change_status(ticket=obj, status=value, user=user)
