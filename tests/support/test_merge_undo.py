"""Undoing a ticket merge puts both tickets and their conversation back exactly."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from crm.history import Source
from crm.models import Activity, AuditEvent
from support.choices import SupportAuditAction, TicketStatus
from support.models import Ticket, TicketMerge
from support.services import tickets as svc
from support.services.merges import ticket_merge_undo
from tests.factories.crm import ContactFactory, TeamFactory, UserFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def _fields(ticket) -> dict:
    ticket = Ticket.objects.get(pk=ticket.pk)
    return {
        f.attname: getattr(ticket, f.attname)
        for f in Ticket._meta.concrete_fields
        if f.name != "updated_at"
    }


def _links(ticket) -> dict:
    return {
        "messages": set(ticket.messages.values_list("pk", flat=True)),
        "attachments": set(ticket.attachments.values_list("pk", flat=True)),
        "activities": set(
            Activity.objects.for_object(ticket)
            .exclude(summary__contains="undone")
            .values_list("pk", flat=True)
        ),
    }


def _png(name="shot.png"):
    return SimpleUploadedFile(name, b"\x89PNG\r\n\x1a\n" + b"0" * 100)


@pytest.fixture
def pair(policies, queue, agent):
    contact = ContactFactory()
    kept = svc.ticket_create(subject="Broken", contact=contact)
    merged = svc.ticket_create(subject="Broken again", description="Still broken", contact=contact)
    svc.ticket_note(ticket=kept, user=agent, body="on the kept one")
    svc.ticket_note(ticket=merged, user=agent, body="dup note", files=[_png()])
    svc.ticket_change_status(ticket=merged, status=TicketStatus.OPEN, user=agent)
    return kept, merged


def test_undo_puts_both_tickets_and_their_messages_back_exactly(pair, agent):
    kept, merged = pair
    before = {t.pk: (_fields(t), _links(t)) for t in (kept, merged)}

    svc.ticket_merge(source=merged, target=kept, user=agent)
    record = TicketMerge.objects.get(kept=kept, merged=merged)
    assert {"status", "merged_into"} <= set(record.merged_after)
    assert len(record.moved["messages"]) == 1 and len(record.moved["attachments"]) == 1
    svc.ticket_note(ticket=kept, user=agent, body="written after the merge")

    ticket_merge_undo(record=record, user=agent)

    assert _fields(merged) == before[merged.pk][0]
    assert _links(merged) == before[merged.pk][1]
    assert _fields(kept) == before[kept.pk][0]
    links = _links(kept)
    later = set(kept.messages.filter(body="written after the merge").values_list("pk", flat=True))
    assert links["messages"] - later == before[kept.pk][1]["messages"]
    assert links["attachments"] == before[kept.pk][1]["attachments"]
    merged.refresh_from_db()
    assert merged.status == TicketStatus.OPEN and merged.merged_into is None


def test_undo_is_recorded_and_refused_the_second_time(pair, agent):
    kept, merged = pair
    svc.ticket_merge(source=merged, target=kept, user=agent)
    record = TicketMerge.objects.get()

    ticket_merge_undo(record=record, user=agent)

    event = merged.history_events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["source"] == Source.RESTORE
    assert "status" in event.pgh_changes
    line = AuditEvent.objects.get(action=SupportAuditAction.TICKET_MERGE_UNDONE)
    assert line.actor == agent and line.detail["merge"] == record.pk
    assert Activity.objects.for_object(kept).filter(summary__startswith="Merge undone")
    assert Activity.objects.for_object(merged).filter(summary__startswith="Merge into")
    with pytest.raises(ValidationError, match="already undone"):
        ticket_merge_undo(record=record, user=agent)


def test_undo_is_refused_when_the_merged_ticket_changed_since(pair, agent):
    kept, merged = pair
    svc.ticket_merge(source=merged, target=kept, user=agent)
    Ticket.objects.filter(pk=merged.pk).update(merged_into=None)
    with pytest.raises(ValidationError, match="merged into"):
        ticket_merge_undo(record=TicketMerge.objects.get(), user=agent)
    assert Ticket.objects.get(pk=merged.pk).status == TicketStatus.CLOSED


def test_merges_in_a_chain_are_undone_latest_first(pair, agent):
    kept, merged = pair
    final = svc.ticket_create(subject="Broken for good", contact=kept.contact)
    before = {t.pk: (_fields(t), _links(t)) for t in (kept, merged, final)}
    svc.ticket_merge(source=merged, target=kept, user=agent)
    svc.ticket_merge(source=kept, target=final, user=agent)
    first, second = TicketMerge.objects.order_by("merged_at")

    with pytest.raises(ValidationError, match="no longer there"):
        ticket_merge_undo(record=first, user=agent)
    ticket_merge_undo(record=second, user=agent)
    ticket_merge_undo(record=first, user=agent)

    for ticket in (kept, merged, final):
        assert (_fields(ticket), _links(ticket)) == before[ticket.pk]


def test_only_who_may_change_both_tickets_undoes(pair, agent, rep):
    kept, merged = pair
    svc.ticket_merge(source=merged, target=kept, user=agent)
    record = TicketMerge.objects.get()
    other_manager = UserFactory(username="other_manager", roles=["Manager"])
    TeamFactory(name="Elsewhere", managers=[other_manager])
    for user in (rep, other_manager):
        with pytest.raises(Ticket.DoesNotExist):
            ticket_merge_undo(record=record, user=user)
    assert TicketMerge.objects.get().undone_at is None


def test_undo_pages(pair, agent, agent_client, rep):
    kept, merged = pair
    svc.ticket_merge(source=merged, target=kept, user=agent)
    url = reverse("support:ticket_merge_undo", args=[TicketMerge.objects.get().pk])
    rep_client = Client()
    rep_client.force_login(rep)
    assert_hidden(rep_client, get=[url], post=[(url, {})])
    for ticket in (kept, merged):
        assert url in agent_client.get(ticket.get_absolute_url()).content.decode()

    response = agent_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Status" in page and "Closed" in page and "Open" in page
    response = agent_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == merged.get_absolute_url()
    assert "Merge undone" in response.content.decode()
    assert url not in response.content.decode()
    response = agent_client.post(url)
    assert response.status_code == 200
    assert "already undone" in response.context["error"]
