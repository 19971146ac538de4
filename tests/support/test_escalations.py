"""The SLA watch: a warning at 75% and an escalation on breach, each exactly once."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.models import Activity, OutboundEmail
from support.choices import Priority, TicketStatus
from support.services import escalations
from support.services import tickets as svc
from tests.factories.crm import ContactFactory

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args):
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def ticket(policies, queue, agent):
    # Tuesday 09:00, high: first response in 60 business minutes, resolution in 8 hours.
    return svc.ticket_create(
        subject="Site down",
        contact=ContactFactory(),
        priority=Priority.HIGH,
        assignee=agent,
        now=berlin(2026, 12, 15, 9),
    )


def test_warns_at_75_percent_once(ticket, agent):
    assert escalations.sla_watch_run(now=berlin(2026, 12, 15, 9, 44)) == {
        "warned": 0,
        "escalated": 0,
    }
    assert escalations.sla_watch_run(now=berlin(2026, 12, 15, 9, 45)) == {
        "warned": 1,
        "escalated": 0,
    }
    assert escalations.sla_watch_run(now=berlin(2026, 12, 15, 9, 50)) == {
        "warned": 0,
        "escalated": 0,
    }
    warning = OutboundEmail.objects.get(idempotency_key=f"sla-warn:first_response:{ticket.pk}")
    assert warning.to_email == agent.email
    assert "15 business minutes left" in warning.body_text


def test_breach_escalates_once_raises_priority_and_tells_the_managers(ticket, support_manager):
    counts = escalations.sla_watch_run(now=berlin(2026, 12, 15, 10, 1))
    assert counts == {"warned": 1, "escalated": 1}
    for _ in range(3):
        assert escalations.sla_watch_run(now=berlin(2026, 12, 15, 10, 5))["escalated"] == 0
    ticket.refresh_from_db()
    assert ticket.priority == Priority.URGENT
    assert ticket.first_response_breached
    mails = OutboundEmail.objects.filter(idempotency_key__startswith="sla-escalate:")
    assert [m.to_email for m in mails] == [support_manager.email]
    entries = Activity.objects.for_object(ticket).filter(summary__startswith="SLA breached")
    assert entries.count() == 1
    assert "High → Urgent" in entries.get().summary


def test_met_and_paused_targets_do_not_fire(ticket, agent):
    svc.ticket_reply(ticket=ticket, user=agent, body="On it", now=berlin(2026, 12, 15, 9, 10))
    svc.ticket_change_status(
        ticket=ticket, status=TicketStatus.PENDING, user=agent, now=berlin(2026, 12, 15, 9, 20)
    )
    assert escalations.sla_watch_run(now=berlin(2026, 12, 16, 17)) == {"warned": 0, "escalated": 0}


def test_escalation_changes_priority_through_the_service_with_one_timeline_entry(
    ticket, policies, support_manager
):
    ticket.refresh_from_db()
    targets = (ticket.sla_policy_id, ticket.first_response_due_at, ticket.resolution_due_at)
    escalations.sla_watch_run(now=berlin(2026, 12, 15, 10, 1))
    ticket.refresh_from_db()
    # Raised, but on its own targets: the raised priority's, counted from the opening, would be
    # missed already and escalate again on the next run.
    assert ticket.priority == Priority.URGENT
    assert (ticket.sla_policy_id, ticket.first_response_due_at, ticket.resolution_due_at) == targets
    entries = Activity.objects.for_object(ticket)
    assert entries.filter(summary__startswith="SLA breached").count() == 1
    assert not entries.filter(summary__startswith="Priority:").exists()


def test_a_backlog_past_the_budget_is_left_for_the_next_run(policies, queue, agent, monkeypatch):
    """Given more breaches than one run's budget, the run stops taking tickets up and says it is
    unfinished; the next runs finish them, each escalated once."""
    tickets = [
        svc.ticket_create(
            subject=f"Down {n}",
            contact=ContactFactory(),
            priority=Priority.HIGH,
            assignee=agent,
            now=berlin(2026, 12, 15, 9),
        )
        for n in range(3)
    ]
    clock = iter(range(0, 1000, 10))  # each look at the clock 10 s after the last
    monkeypatch.setattr(escalations.time, "monotonic", lambda: next(clock))
    first = escalations.sla_watch_run(now=berlin(2026, 12, 15, 10, 1), budget_seconds=25)
    assert first == {"warned": 0, "escalated": 2, "unfinished": True}
    rest = escalations.sla_watch_run(now=berlin(2026, 12, 15, 10, 1))
    assert rest == {"warned": 3, "escalated": 1}
    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.first_response_breached and ticket.priority == Priority.URGENT
