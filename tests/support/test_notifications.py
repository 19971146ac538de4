"""Tickets notify under the bell: the agent a ticket is given to, and its assignee when an SLA
target is 75% used."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Notification
from support.models import Ticket
from support.services import tickets as svc
from support.services.escalations import sla_watch_run
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db


def test_a_ticket_given_to_an_agent_notifies_them_not_when_they_take_it(agent, agent2):
    ticket = TicketFactory()
    svc.ticket_assign(ticket=ticket, assignee=agent2, user=agent)
    svc.ticket_assign(ticket=TicketFactory(), assignee=agent, user=agent)
    notification = Notification.objects.get()
    assert notification.recipient == agent2 and notification.kind == "assigned"
    assert ticket.reference in notification.verb and notification.target == ticket


def test_an_sla_warning_notifies_the_assignee_once(agent):
    ticket = TicketFactory(assignee=agent)
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_warn_at=now - timedelta(minutes=1),
        first_response_due_at=now + timedelta(minutes=30),
    )
    sla_watch_run(now=now)
    sla_watch_run(now=now + timedelta(minutes=1))
    warning = Notification.objects.get(kind="sla_warning")
    assert warning.recipient == agent and "first response" in warning.verb
