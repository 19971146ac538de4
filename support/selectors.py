"""Reads of the support desk: one ``<entity>_list`` / ``<entity>_get`` pair per record the desk's
views fetch (over the models' ``visible_to`` / ``changeable_by``, see ``crm.selectors``), and the
ticket page's, list rows' and account panel's reads."""

from datetime import timedelta

from django.db.models import Avg, Case, Count, IntegerField, Q, Value, When
from django.http import Http404
from django.utils import timezone

from crm.selectors import record_get, scoped
from support import sla
from support.choices import ACTIVE_STATUSES, Priority, TicketStatus
from support.models import (
    Attachment,
    BusinessCalendar,
    CannedReply,
    CsatSurvey,
    Queue,
    QueueAgent,
    Ticket,
    TicketMerge,
    TicketMessage,
)
from support.services import clock

PANEL_TICKETS = 5
CSAT_WINDOW = timedelta(days=365)


def ticket_list(*, user, for_change: bool = False):
    return scoped(Ticket, user=user, for_change=for_change)


def ticket_get(*, user, pk, for_change: bool = False) -> Ticket:
    """The ticket with what its page shows: customer, queue, assignee, the SLA calendar with its
    hours and holidays, the ticket it was merged into, its survey and tags."""
    return record_get(
        ticket_list(user=user, for_change=for_change)
        .select_related(
            "account",
            "contact",
            "queue",
            "assignee",
            "sla_policy__calendar",
            "merged_into",
            "csat",
        )
        .prefetch_related("sla_policy__calendar__hours", "sla_policy__calendar__holidays", "tags"),
        pk,
    )


def ticket_message_list(*, user, for_change: bool = False):
    """Messages of the tickets ``user`` may see (or change)."""
    return scoped(TicketMessage, user=user, for_change=for_change)


def attachment_list(*, user, for_change: bool = False):
    """Files of the tickets ``user`` may see (or change)."""
    return scoped(Attachment, user=user, for_change=for_change)


def attachment_get(*, user, pk, for_change: bool = False) -> Attachment:
    return record_get(attachment_list(user=user, for_change=for_change), pk)


def queue_list(*, user, for_change: bool = False):
    return scoped(Queue, user=user, for_change=for_change)


def queue_get(*, user, pk, for_change: bool = False) -> Queue:
    return record_get(queue_list(user=user, for_change=for_change), pk)


def queue_membership_get(*, user, queue_pk) -> QueueAgent:
    """``user``'s own place in queue ``queue_pk`` (404 when they are not one of its agents)."""
    try:
        return QueueAgent.objects.select_related("queue").get(queue_id=queue_pk, user=user)
    except QueueAgent.DoesNotExist:
        raise Http404 from None


def canned_reply_list(*, user, for_change: bool = False):
    return scoped(CannedReply, user=user, for_change=for_change)


def canned_reply_get(*, user, pk, for_change: bool = False) -> CannedReply:
    return record_get(canned_reply_list(user=user, for_change=for_change), pk)


def canned_replies_offered(*, user):
    """The active canned replies, by title: what the reply box offers."""
    return canned_reply_list(user=user).filter(is_active=True).order_by("title")


def csat_survey_by_token(*, token) -> CsatSurvey | None:
    """The survey a customer's link names (no sign-in: the token is the key), with its ticket."""
    return CsatSurvey.objects.filter(token=token).select_related("ticket").first()


def business_calendar_list(*, user, for_change: bool = False):
    return scoped(BusinessCalendar, user=user, for_change=for_change)


def business_calendar_get(*, user, pk, for_change: bool = False) -> BusinessCalendar:
    return record_get(
        business_calendar_list(user=user, for_change=for_change).prefetch_related(
            "hours", "holidays"
        ),
        pk,
    )


def tickets_by_need(queryset):
    """Annotate what the queue views sort on: ``waiting_on_customer`` (0 while the desk must
    act, 1 while pending with the clock paused) and ``priority_rank`` (0 = urgent). The queues
    order by these around the SLA due: breached and soonest due first, open before pending,
    then the more urgent."""
    ranks = [When(priority=value, then=Value(rank)) for rank, value in enumerate(PRIORITY_ORDER)]
    return queryset.annotate(
        waiting_on_customer=Case(
            When(Q(status=TicketStatus.PENDING) | Q(sla_paused_at__isnull=False), then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        priority_rank=Case(*ranks, default=Value(len(ranks)), output_field=IntegerField()),
    )


#: Most urgent first.
PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)


def attach_countdowns(tickets, *, now=None) -> None:
    """Set ``countdown`` (business minutes to the next due, negative when overdue),
    ``countdown_seconds``, ``countdown_text`` and ``countdown_paused`` on each ticket of a page
    (at most a page of rows, never a whole table). A paused ticket's countdown is the time that
    was left when it was paused, frozen until it resumes. Each calendar's hours and holidays
    are read once for the page (two queries), and one schedule per calendar measures every
    row's countdown."""
    now = now or timezone.now()
    tickets = list(tickets)
    calendars = {t.sla_policy.calendar_id: t.sla_policy.calendar for t in tickets if t.sla_policy}
    schedules = clock.schedules_of(list(calendars.values()))
    for ticket in tickets:
        schedule = schedules.get(ticket.sla_policy.calendar_id) if ticket.sla_policy else None
        paused = ticket.sla_paused_at is not None and ticket.is_active
        due = clock.next_target_due(ticket) if paused else ticket.sla_due_at
        minutes = None
        if due and schedule is not None:
            reading = clock.clock_reading_at(ticket, now=now)
            minutes = sla.business_minutes_between(schedule, reading, due)
        ticket.countdown = minutes
        ticket.countdown_paused = paused
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
    visible = ticket_list(user=user).filter(**scope)
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


#: Merges a ticket's page offers to undo, newest first.
RECENT_MERGES = 5


def ticket_merge_get(*, user, pk) -> TicketMerge:
    """A merge of two tickets the user may both change (only they may see and undo it)."""
    return record_get(
        TicketMerge.objects.changeable_by(user).select_related(
            "kept", "merged", "merged_by", "undone_by"
        ),
        pk,
    )


def ticket_recent_merges(*, user, ticket: Ticket) -> list[TicketMerge]:
    """The ticket's merges (kept or merged) not undone, that the user may undo: one query."""
    return list(
        TicketMerge.objects.changeable_by(user)
        .of_ticket(ticket)
        .undoable()
        .select_related("kept", "merged", "merged_by")
        .order_by("-merged_at", "-id")[:RECENT_MERGES]
    )
