"""The work queues put what needs action first, and a paused ticket's SLA countdown stays at
the time that was left when it was paused, on every page that shows it."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from support.choices import Priority, TicketStatus
from support.models import BusinessHours, SLAPolicy, Ticket
from support.services import tickets as svc
from tests.factories.crm import ContactFactory
from tests.factories.support import BusinessCalendarFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_the_clock(db):
    """Desk-wide policies on a calendar that works every minute: business time is wall time,
    so the tests read the real clock. First response in two hours."""
    calendar = BusinessCalendarFactory(weekdays=False, time_zone="UTC")
    for weekday in range(7):
        BusinessHours.objects.create(
            calendar=calendar, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    return [
        SLAPolicy.objects.create(
            name=f"{priority} all day",
            priority=priority,
            calendar=calendar,
            first_response_minutes=120,
            resolution_minutes=960,
        )
        for priority in Priority.values
    ]


def _ticket(subject, agent, *, priority=Priority.NORMAL, due=None, now=None):
    ticket = svc.ticket_create(
        subject=subject, contact=ContactFactory(), assignee=agent, priority=priority, now=now
    )
    if due is not None:
        Ticket.objects.filter(pk=ticket.pk).update(sla_due_at=due)
    return ticket


def test_my_queue_puts_what_needs_action_first(agent_client, agent, round_the_clock, queue):
    now = timezone.now()
    pending = _ticket("Pending urgent", agent, priority=Priority.URGENT)
    svc.ticket_change_status(ticket=pending, status=TicketStatus.PENDING, user=agent)
    _ticket("Later urgent", agent, priority=Priority.URGENT, due=now + dt.timedelta(days=1))
    _ticket("Soon normal", agent, priority=Priority.NORMAL, due=now + dt.timedelta(hours=2))
    _ticket("Soon urgent", agent, priority=Priority.URGENT, due=now + dt.timedelta(hours=2))
    _ticket("Breached low", agent, priority=Priority.LOW, due=now - dt.timedelta(hours=1))

    response = agent_client.get(reverse("support:my_queue"))

    assert [t.subject for t in response.context["object_list"]] == [
        "Breached low",
        "Soon urgent",
        "Soon normal",
        "Later urgent",
        "Pending urgent",
    ]


@pytest.mark.parametrize(
    "url, index",
    [
        ("support:my_queue", "ticket_myqueue_need_idx"),
        ("support:unassigned", "ticket_unassigned_need_idx"),
        ("support:breaching", "ticket_active_need_idx"),
    ],
)
def test_the_queues_read_their_order_from_an_index(
    agent_client, agent, round_the_clock, queue, url, index
):
    """A desk with thousands of active tickets: each queue page reads its rows in the queue's
    order from an index, with no sort of all of them (the indexes hold the same expressions as
    the order: ``support.models.waiting_on_customer`` and ``priority_rank``)."""
    past = timezone.now() - dt.timedelta(hours=1)
    for n in range(3):
        _ticket(f"Ticket {n}", agent if n else None, due=past)
    with CaptureQueriesContext(connection) as page:
        agent_client.get(reverse(url))
    (listed,) = [q["sql"] for q in page if "ORDER BY" in q["sql"] and "LIMIT 51" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE support_ticket")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {listed}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # (With a few rows, my queue may as well filter the desk-wide index by its assignee.)
    assert index in plan or (url == "support:my_queue" and "_need_idx" in plan), plan
    assert "Sort Key" not in plan, plan


def test_the_unassigned_queue_puts_pending_last(agent_client, agent, round_the_clock):
    pending = _ticket("Pending", None)
    svc.ticket_change_status(ticket=pending, status=TicketStatus.PENDING, user=agent)
    _ticket("Open", None)

    response = agent_client.get(reverse("support:unassigned"))

    assert [t.subject for t in response.context["object_list"]] == ["Open", "Pending"]


def test_a_paused_ticket_shows_the_time_left_when_it_was_paused(
    agent_client, agent, round_the_clock, queue
):
    # Given a ticket due in two hours, paused after 30 minutes and waiting for another 30,
    now = timezone.now()
    ticket = _ticket("Waiting on them", agent, now=now - dt.timedelta(minutes=60))
    svc.ticket_change_status(
        ticket=ticket,
        status=TicketStatus.PENDING,
        user=agent,
        now=now - dt.timedelta(minutes=30),
    )

    # then every page shows the 90 minutes frozen at the pause, not 60 running down.
    for url in (
        reverse("support:ticket_list"),
        reverse("support:my_queue"),
        reverse("support:pending"),
        reverse("support:ticket_detail", args=[ticket.pk]),
    ):
        html = agent_client.get(url).content.decode()
        assert "1h 30m" in html, url
        assert "1h 00m" not in html and "59m" not in html, url
        assert "paused" in html, url

    # and once it resumes, the clock runs on from the 90 minutes it had left.
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.OPEN, user=agent)
    html = agent_client.get(reverse("support:my_queue")).content.decode()
    assert "1h 29m left" in html or "1h 30m left" in html
