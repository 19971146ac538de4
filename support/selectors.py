"""Reads of the support desk, each scoped by ``Ticket.objects.visible_to(user)``."""

from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from support import sla
from support.choices import ACTIVE_STATUSES
from support.models import Attachment, Ticket, TicketMessage
from support.services import clock

PANEL_TICKETS = 5
CSAT_WINDOW = timedelta(days=365)


#: What a list row shows (``support.tables``) and its countdown needs: a page of rows builds
#: fewer model fields (a ticket has thirty columns, most of them clock bookkeeping).
LIST_FIELDS = (
    "reference",
    "subject",
    "status",
    "priority",
    "sla_due_at",
    "first_response_breached",
    "resolution_breached",
    "created_at",
    "updated_at",
    "account__name",
    "queue__name",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
    "sla_policy__calendar__time_zone",
)


def ticket_list(*, user):
    """Visible tickets with what list rows show (queue, assignee, account, the policy's calendar
    for the countdown); ``attach_countdowns`` reads the calendars' hours once per page."""
    return (
        Ticket.objects.visible_to(user)
        .select_related("account", "queue", "assignee", "sla_policy__calendar")
        .only(*LIST_FIELDS)
    )


def attach_countdowns(tickets, *, now=None) -> None:
    """Set ``countdown`` (business minutes to the next due, negative when overdue),
    ``countdown_seconds`` and ``countdown_text`` on each ticket of a page (at most a page of
    rows, never a whole table). Each calendar's hours and holidays are read once for the page
    (two queries), and one schedule per calendar measures every row's countdown."""
    now = now or timezone.now()
    tickets = list(tickets)
    calendars = {t.sla_policy.calendar_id: t.sla_policy.calendar for t in tickets if t.sla_policy}
    schedules = clock.schedules_of(list(calendars.values()))
    for ticket in tickets:
        schedule = schedules.get(ticket.sla_policy.calendar_id) if ticket.sla_policy else None
        minutes = None
        if ticket.sla_due_at and schedule is not None:
            minutes = sla.business_minutes_between(schedule, now, ticket.sla_due_at)
        ticket.countdown = minutes
        ticket.countdown_seconds = round(minutes * 60) if minutes is not None else None
        ticket.countdown_text = sla.format_business_minutes(minutes) if minutes is not None else ""


def ticket_thread(*, ticket) -> list:
    """The conversation, oldest first: the request itself, replies and notes as one list."""
    messages = list(
        TicketMessage.objects.filter(ticket=ticket)
        .select_related("author_user", "author_contact")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return messages


def ticket_loose_attachments(*, ticket):
    return list(Attachment.objects.filter(ticket=ticket, message__isnull=True).order_by("id"))


def support_summary(*, user, **scope) -> dict | None:
    """Open, breaching and recent CSAT for the tickets of one account or contact, with the few
    most urgent open ones; None when the user sees none of them (the panel hides)."""
    now = timezone.now()
    visible = Ticket.objects.visible_to(user).filter(**scope)
    active = Q(status__in=ACTIVE_STATUSES)
    figures = visible.aggregate(
        total=Count("id"),
        open=Count("id", filter=active),
        breaching=Count(
            "id",
            filter=active
            & (
                Q(sla_due_at__lt=now)
                | Q(first_response_breached=True)
                | Q(resolution_breached=True)
            ),
        ),
        csat_average=Avg("csat__rating", filter=Q(csat__answered_at__gte=now - CSAT_WINDOW)),
        csat_answers=Count("csat__rating", filter=Q(csat__answered_at__gte=now - CSAT_WINDOW)),
    )
    if not figures["total"]:
        return None
    tickets = list(
        visible.filter(active)
        .select_related("assignee")
        .order_by("sla_due_at", "id")[:PANEL_TICKETS]
    )
    for ticket in tickets:
        ticket.overdue = bool(ticket.sla_due_at and ticket.sla_due_at < now)
    return {**figures, "tickets": tickets, "scope": scope}
