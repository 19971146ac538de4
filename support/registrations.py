"""What the support desk adds to shared pages (registered in ``apps.py``)."""

from datetime import timedelta

from support.selectors import support_summary, support_summary_exists

#: "Due soon" on the home page: the SLA target falls within the next hour.
SOON = timedelta(hours=1)


def describe_ticket(ticket) -> str:
    parts = [ticket.get_status_display()]
    if ticket.account_id:
        parts.append(ticket.account.name)
    return " · ".join(parts)


def describe_article(article) -> str:
    parts = [article.get_status_display(), article.get_visibility_display()]
    if article.category_id:
        parts.append(article.category.name)
    return " · ".join(parts)


def account_panel(request, account):
    return support_summary(user=request.user, account=account)


def contact_panel(request, contact):
    return support_summary(user=request.user, contact=contact)


def account_panel_probe(request):
    return support_summary_exists(user=request.user, field="account")


def contact_panel_probe(request):
    return support_summary_exists(user=request.user, field="contact")


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


#: The tickets of an agent's queue the home page lists.
HOME_FOLLOWING = 6


def my_queue_widget(request):
    """An agent's queue at a glance (home page): how many tickets wait on them, how many are past
    or near their SLA target, and the next ones to answer; tickets waiting on the customer last."""
    from django.db.models import Count, Q
    from django.utils import timezone

    from crm.permissions import may_work_tickets
    from support.choices import TicketStatus
    from support.selectors import QUEUE_ORDER, ticket_list, tickets_by_need

    user = request.user
    if not may_work_tickets(user):
        return None
    now = timezone.now()
    mine = ticket_list(user=user).active().filter(assignee=user)
    running = Q(sla_paused_at__isnull=True) & ~Q(status=TicketStatus.PENDING)
    totals = mine.order_by().aggregate(
        total=Count("id"),
        breached=Count("id", filter=running & Q(sla_due_at__lt=now)),
        due_soon=Count("id", filter=running & Q(sla_due_at__gte=now, sla_due_at__lt=now + SOON)),
        pending=Count("id", filter=Q(status=TicketStatus.PENDING)),
    )
    # The first of "My queue", in its order (and read from its index).
    following = list(
        tickets_by_need(mine.select_related("account")).order_by(*QUEUE_ORDER)[:HOME_FOLLOWING]
    )
    return {"totals": totals, "following": following, "now": now}
