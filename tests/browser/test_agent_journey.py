import pytest

from crm.choices import Role
from crm.models import OutboundEmail
from support.choices import MessageKind, Priority, TicketStatus
from support.models import CsatSurvey, SLAPolicy, Ticket, TicketMessage
from support.services import tickets as ticket_services
from tests.factories import UserFactory
from tests.factories.crm import ContactFactory, TeamFactory
from tests.factories.support import BusinessCalendarFactory, QueueFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_agent_works_a_ticket_from_my_queue_to_solved(browser_page, live_server):
    agent = UserFactory(
        username="agent", roles=[Role.SUPPORT_AGENT], password="demo", first_name="Alex"
    )
    colleague = UserFactory(
        username="agent2", roles=[Role.SUPPORT_AGENT], first_name="Kim", last_name="Berg"
    )
    team = TeamFactory(name="Support", members=[agent, colleague])
    QueueFactory(name="General", team=team, is_default=True, agents=[agent, colleague])
    calendar = BusinessCalendarFactory(name="Office")
    for priority in Priority.values:
        SLAPolicy.objects.create(
            name=f"{priority} default",
            priority=priority,
            calendar=calendar,
            first_response_minutes=120,
            resolution_minutes=960,
        )
    contact = ContactFactory(first_name="Jana", last_name="Meyer", email="jana@example.com")
    ticket = ticket_services.ticket_create(
        subject="Export to CSV fails", contact=contact, assignee=agent
    )
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # My queue: the ticket with its SLA countdown in business time, refreshed every minute
    page.clock.install()
    page.goto(f"{live_server.url}/tickets/mine/")
    row = page.locator("#list-table tr", has_text="Export to CSV fails")
    assert row.locator("[data-remaining-seconds]").count() == 1
    assert "left" in row.inner_text() or "overdue" in row.inner_text()
    with page.expect_response(
        lambda r: "/tickets/mine/" in r.url and r.request.headers.get("hx-request") == "true"
    ) as refresh:
        page.clock.run_for(61_000)
    assert refresh.value.status == 200
    row = page.locator("#list-table tr", has_text="Export to CSV fails")
    row.locator("a", has_text="Export to CSV fails").click()
    page.wait_for_selector(f"h1:has-text('{ticket.reference}')")

    # A public reply to the customer
    page.fill("#id_reply-body", "Could you restart the export and try again?")
    page.click("button:text('Send reply')")
    page.wait_for_selector("#thread >> text=Could you restart the export and try again?")

    # An internal note only the desk sees
    page.click("button[data-bs-target='#note-pane']")
    page.fill("#note-pane textarea[name=body]", "Customer is on the old export service.")
    page.click("button:text('Add note')")
    page.wait_for_selector("#thread >> text=Customer is on the old export service.")

    # Reassign to a colleague
    page.select_option("select[name=assignee]", str(colleague.pk))
    page.click("button:text('Assign')")
    page.wait_for_selector("dd:has-text('Kim Berg')")

    # Solve
    page.select_option("#id_ticket_status", TicketStatus.SOLVED)
    page.click("button:text('Set status')")
    page.wait_for_selector("h1 .badge:text('Solved')")

    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.SOLVED and ticket.assignee == colleague
    assert ticket.first_responded_at is not None and ticket.sla_due_at is None
    kinds = list(
        TicketMessage.objects.filter(ticket=ticket).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == [MessageKind.REPLY, MessageKind.NOTE]
    reply = OutboundEmail.objects.get(idempotency_key__startswith="support-reply:")
    assert "restart the export" in reply.body_text
    assert "old export service" not in reply.body_text
    assert CsatSurvey.objects.filter(ticket=ticket).exists()
    assert Ticket.objects.count() == 1
