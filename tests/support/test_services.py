"""Ticket services: SLA due times, pausing, replies through the outbox, status transitions,
CSAT once, assignment, bulk changes and merging."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import Activity, OutboundEmail
from support.choices import AssignmentMode, Channel, MessageKind, Priority, TicketStatus
from support.models import CsatSurvey, QueueAgent, Ticket, TicketMessage
from support.services import tickets as svc
from tests.factories.crm import ContactFactory

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args):
    return dt.datetime(*args, tzinfo=BERLIN)


def summaries(ticket):
    return list(Activity.objects.for_object(ticket).values_list("summary", flat=True))


def test_create_computes_due_times_in_business_hours_across_weekend_and_holiday(
    policies, queue, agent
):
    contact = ContactFactory(email="jane@example.com")
    # Friday 18 Dec 16:00; normal: first response 2 h, resolution 16 h of business time.
    ticket = svc.ticket_create(
        subject="Cannot log in",
        contact=contact,
        channel=Channel.EMAIL,
        priority=Priority.NORMAL,
        now=berlin(2026, 12, 18, 16),
    )
    assert ticket.reference == f"T-{ticket.pk:06d}"
    assert ticket.account == contact.account
    assert ticket.queue == queue
    assert ticket.sla_policy == policies[Priority.NORMAL]
    # 1 h Friday; weekend; Monday 21st is a holiday; 1 h on Tuesday → 10:00.
    assert ticket.first_response_due_at == berlin(2026, 12, 22, 10)
    # 16 h: 1 Fri + 8 Tue + 7 Wed → Wednesday 16:00.
    assert ticket.resolution_due_at == berlin(2026, 12, 23, 16)
    # Warn at 75% of 2 h = 90 min: 60 Fri + 30 Tue.
    assert ticket.first_response_warn_at == berlin(2026, 12, 22, 9, 30)
    assert ticket.sla_due_at == ticket.first_response_due_at
    assert ticket.assignee is not None
    assert any("opened via email" in s for s in summaries(ticket))


def test_reply_emails_contact_with_reference_and_stops_first_response_clock(policies, queue, agent):
    contact = ContactFactory(email="jane@example.com")
    ticket = svc.ticket_create(subject="Invoice", contact=contact, now=berlin(2026, 12, 18, 16))
    message = svc.ticket_reply(
        ticket=ticket, user=agent, body="We are on it.", now=berlin(2026, 12, 22, 11)
    )
    ticket.refresh_from_db()
    email = OutboundEmail.objects.get(idempotency_key=f"support-reply:{message.pk}")
    assert email.to_email == "jane@example.com"
    assert email.subject == f"[{ticket.reference}] Invoice"
    assert ticket.first_responded_at == berlin(2026, 12, 22, 11)
    assert ticket.first_response_breached  # due Tuesday 10:00
    assert ticket.status == TicketStatus.OPEN
    assert ticket.sla_due_at == ticket.resolution_due_at


def test_note_is_internal_and_sends_nothing(policies, queue, agent):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    svc.ticket_note(ticket=ticket, user=agent, body="Customer is a VIP")
    assert TicketMessage.objects.get(ticket=ticket).kind == MessageKind.NOTE
    assert not OutboundEmail.objects.exists()
    assert "Internal note" in summaries(ticket)
    with pytest.raises(ValidationError):
        svc.ticket_note(ticket=ticket, user=agent, body="   ")


def test_pending_pauses_the_clock_and_resume_moves_due_times(policies, queue, agent):
    ticket = svc.ticket_create(
        subject="Export broken",
        contact=ContactFactory(),
        priority=Priority.NORMAL,
        now=berlin(2026, 12, 15, 9),  # Tuesday
    )
    assert ticket.resolution_due_at == berlin(2026, 12, 16, 17)
    svc.ticket_reply(ticket=ticket, user=agent, body="Which file?", now=berlin(2026, 12, 15, 10))
    # Waiting on the customer from Tuesday 16:00 until Friday 10:00: 1 + 8 + 8 + 1 = 18 h.
    svc.ticket_change_status(
        ticket=ticket, status=TicketStatus.PENDING, user=agent, now=berlin(2026, 12, 15, 16)
    )
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is not None and ticket.sla_due_at is None
    svc.ticket_change_status(
        ticket=ticket, status=TicketStatus.OPEN, user=agent, now=berlin(2026, 12, 18, 10)
    )
    ticket.refresh_from_db()
    assert ticket.sla_paused_seconds == 18 * 3600
    # Wednesday 17:00 + 18 business hours: Thu 8 + Fri 8 + (weekend, Monday holiday) Tue 2.
    assert ticket.resolution_due_at == berlin(2026, 12, 22, 11)
    assert ticket.sla_due_at == ticket.resolution_due_at


def test_transitions_are_checked_and_solved_sends_csat_once(policies, queue, agent):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory(email="c@example.com"))
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.SOLVED, user=agent)
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.OPEN, user=agent)
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.SOLVED, user=agent)
    assert CsatSurvey.objects.filter(ticket=ticket).count() == 1
    assert OutboundEmail.objects.filter(idempotency_key=f"csat:{ticket.pk}").count() == 1
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.CLOSED, user=agent)
    with pytest.raises(ValidationError):
        svc.ticket_change_status(ticket=ticket, status=TicketStatus.OPEN, user=agent)
    with pytest.raises(ValidationError):
        svc.ticket_change_status(ticket=ticket, status="bogus", user=agent)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.resolved_at is not None
    assert "Status: Solved → Open" in summaries(ticket)


def test_round_robin_takes_turns_and_skips_agents_off_shift(policies, queue, agent, agent2):
    first = [svc.ticket_create(subject=f"t{i}", contact=ContactFactory()) for i in range(4)]
    assert [t.assignee for t in first] == [agent, agent2, agent, agent2]
    QueueAgent.objects.filter(user=agent2).update(on_shift=False)
    assert svc.ticket_create(subject="t", contact=ContactFactory()).assignee == agent
    assert svc.ticket_create(subject="t", contact=ContactFactory()).assignee == agent


def test_least_open_picks_the_agent_with_fewest_active_tickets(policies, queue, agent, agent2):
    queue.assignment_mode = AssignmentMode.LEAST_OPEN
    queue.save()
    svc.ticket_create(subject="a", contact=ContactFactory(), assignee=agent)
    svc.ticket_create(subject="b", contact=ContactFactory(), assignee=agent)
    assert svc.ticket_create(subject="c", contact=ContactFactory()).assignee == agent2
    assert svc.ticket_create(subject="d", contact=ContactFactory()).assignee == agent2
    assert svc.ticket_create(subject="e", contact=ContactFactory()).assignee == agent


def test_priority_change_applies_that_prioritys_targets(policies, queue, agent):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory(), now=berlin(2026, 12, 15, 9))
    svc.ticket_change_priority(ticket=ticket, priority=Priority.URGENT, user=agent)
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == berlin(2026, 12, 15, 9, 30)
    assert ticket.resolution_due_at == berlin(2026, 12, 15, 13)


def test_bulk_update_changes_what_it_may_and_reports_refusals(policies, queue, agent, agent2):
    a = svc.ticket_create(subject="a", contact=ContactFactory())
    b = svc.ticket_create(subject="b", contact=ContactFactory())
    svc.ticket_change_status(ticket=b, status=TicketStatus.CLOSED, user=agent)
    result = svc.ticket_bulk_update(
        user=agent, ticket_ids=[a.pk, b.pk], status=TicketStatus.PENDING
    )
    assert result["changed"] == 1 and b.reference in result["errors"][0]
    result = svc.ticket_bulk_update(user=agent, ticket_ids=[a.pk], assignee=agent2)
    a.refresh_from_db()
    assert a.assignee == agent2 and a.status == TicketStatus.PENDING


def test_merge_moves_messages_and_closes_the_duplicate(policies, queue, agent):
    contact = ContactFactory()
    target = svc.ticket_create(subject="Broken", contact=contact)
    source = svc.ticket_create(subject="Broken again", description="Still broken", contact=contact)
    svc.ticket_note(ticket=source, user=agent, body="dup note")
    svc.ticket_merge(source=source, target=target, user=agent)
    source.refresh_from_db()
    assert source.status == TicketStatus.CLOSED and source.merged_into == target
    bodies = list(target.messages.values_list("body", flat=True))
    assert "dup note" in bodies and any("Still broken" in b for b in bodies)
    assert f"Merged into {target.reference}" in summaries(source)
    with pytest.raises(ValidationError):
        svc.ticket_merge(source=source, target=target, user=agent)
    with pytest.raises(ValidationError):
        svc.ticket_merge(source=target, target=target, user=agent)


def test_attachments_are_checked_by_content(policies, queue, agent):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    png = SimpleUploadedFile("shot.exe", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    message = svc.ticket_note(ticket=ticket, user=agent, body="see file", files=[png])
    stored = message.attachments.get()
    assert stored.content_type == "image/png" and stored.filename == "shot.png"
    fake = SimpleUploadedFile("report.pdf", b"MZ\x90\x00 not a pdf")
    with pytest.raises(ValidationError):
        svc.ticket_note(ticket=ticket, user=agent, body="bad", files=[fake])
    assert ticket.messages.count() == 1


def test_assign_refuses_users_who_cannot_work_tickets(policies, queue, agent, rep):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    with pytest.raises(ValidationError):
        svc.ticket_assign(ticket=ticket, assignee=rep, user=agent)
    svc.ticket_assign(ticket=ticket, assignee=None, user=agent)
    assert Ticket.objects.get(pk=ticket.pk).assignee is None
