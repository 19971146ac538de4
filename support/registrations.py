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
