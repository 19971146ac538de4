"""The retention rule for closed tickets' bodies (RETENTION_CLOSED_TICKET_BODIES_MONTHS): a
ticket closed long ago keeps its subject, dates and figures and loses its description, message
bodies, attachments (files included), timeline and email bodies and the description's values
in its history; recent and open tickets keep theirs; a rerun does nothing; off by default."""

import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.utils import timezone

from crm.choices import ActivityKind, OutboxStatus
from crm.models import Activity, AuditEvent, OutboundEmail
from crm.retention import retention_rules_run
from crm.services.timeline import activity_log
from support.choices import TicketStatus
from support.models import Attachment, Ticket, TicketMessage
from support.retention import ACTION, REMOVED, RULE
from support.services.tickets import ticket_change_status
from tests.factories.crm import OutboundEmailFactory
from tests.factories.support import (
    AttachmentFactory,
    CsatSurveyFactory,
    TicketFactory,
    TicketMessageFactory,
)

pytestmark = pytest.mark.django_db

TicketEvent = apps.get_model("support", "TicketEvent")
SECRET = "My card number is 4111 1111 1111 1111"


@pytest.fixture
def rule_on(settings, tmp_path):
    settings.RETENTION_CLOSED_TICKET_BODIES_MONTHS = 6
    settings.MEDIA_ROOT = tmp_path
    return settings


def closed_ticket(agent, *, days_ago: int) -> Ticket:
    """A ticket with a described problem, an edited description (history), a customer's
    reply, an agent's note, an attachment, a timeline body and a sent email; closed
    ``days_ago`` days ago."""
    ticket = TicketFactory(description="Printer smokes. " + SECRET)
    ticket.description = "Printer smokes badly. " + SECRET
    ticket.save(update_fields=["description"])
    TicketMessageFactory(ticket=ticket, body="Still smoking. " + SECRET)
    TicketMessageFactory(ticket=ticket, body="Internal: replace it", author_user=agent)
    AttachmentFactory(ticket=ticket)
    CsatSurveyFactory(ticket=ticket, rating=2, comment="Slow. " + SECRET)
    activity_log(subject=ticket, kind=ActivityKind.EMAIL, summary="Reply sent", body=SECRET)
    OutboundEmailFactory(
        body_text="You wrote: " + SECRET,
        content_type=ContentType.objects.get_for_model(Ticket),
        object_id=ticket.pk,
        status=OutboxStatus.SENT,
    )
    ticket_change_status(ticket=ticket, status=TicketStatus.CLOSED, user=agent)
    ticket.refresh_from_db()
    assert ticket.closed_at is not None
    Ticket.objects.filter(pk=ticket.pk).update(closed_at=timezone.now() - timedelta(days=days_ago))
    return ticket


def run(**kwargs):
    [outcome] = retention_rules_run(names=[RULE], **kwargs)
    return outcome


def test_old_closed_tickets_lose_their_bodies_and_keep_the_rest(rule_on, agent):
    old = closed_ticket(agent, days_ago=400)
    recent = closed_ticket(agent, days_ago=30)
    still_open = TicketFactory(description=SECRET, created_at=timezone.now() - timedelta(days=900))
    TicketMessageFactory(ticket=still_open, body=SECRET)
    [file_name] = Attachment.objects.filter(ticket=old).values_list("file", flat=True)
    storage = Attachment._meta.get_field("file").storage
    assert storage.exists(file_name)

    outcome = run()

    assert outcome.counts == {"tickets": 1, "messages": 2, "attachments": 1}
    old.refresh_from_db()
    assert old.description == "" and old.bodies_purged_at is not None
    assert old.subject.startswith("Printer on fire") and old.status == TicketStatus.CLOSED
    assert old.reference and old.created_at and old.closed_at
    assert list(old.messages.values_list("body", flat=True)) == ["", ""]
    assert not old.attachments.exists()
    ticket_type = ContentType.objects.get_for_model(Ticket)
    about = {"content_type": ticket_type, "object_id": old.pk}
    assert not Activity.objects.filter(**about, body__contains="4111").exists()
    assert Activity.objects.filter(**about, summary="Reply sent").exists()
    assert OutboundEmail.objects.get(**about).body_text == ""
    assert (old.csat.rating, old.csat.comment) == (2, "")
    # History: no row of the old ticket keeps the description; the changes say it was removed.
    events = TicketEvent.objects.filter(pgh_obj_id=old.pk)
    assert not events.filter(description__contains="4111").exists()
    assert "4111" not in str(list(events.values_list("pgh_changes", flat=True)))
    edited = events.filter(pgh_changes__has_key="description").order_by("pgh_id")
    assert edited[0].pgh_changes["description"] == [REMOVED, REMOVED]
    assert edited.last().pgh_changes["description"] == [REMOVED, ""]
    # The others keep theirs.
    recent.refresh_from_db()
    assert SECRET in recent.description and recent.attachments.exists()
    assert TicketMessage.objects.filter(ticket=still_open, body=SECRET).exists()
    assert TicketEvent.objects.filter(pgh_obj_id=recent.pk, description__contains="4111").exists()
    line = AuditEvent.objects.get(action=ACTION)
    assert line.detail["tickets"] == 1 and line.detail["months"] == 6


def test_the_files_go_once_the_batch_is_committed(
    rule_on, agent, django_capture_on_commit_callbacks
):
    old = closed_ticket(agent, days_ago=400)
    [file_name] = Attachment.objects.filter(ticket=old).values_list("file", flat=True)
    storage = Attachment._meta.get_field("file").storage
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run()
    assert storage.exists(file_name) and len(callbacks) == 1
    callbacks[0]()
    assert not storage.exists(file_name)


def test_a_second_run_blanks_nothing_more(rule_on, agent):
    closed_ticket(agent, days_ago=400)
    closed_ticket(agent, days_ago=300)
    assert run(batch=1).counts["tickets"] == 2
    assert run().counts == {"tickets": 0, "messages": 0, "attachments": 0}
    lines = AuditEvent.objects.filter(action=ACTION).order_by("id")
    assert [line.detail["tickets"] for line in lines] == [2, 0]


def test_the_rule_is_off_by_default_and_the_dry_run_only_counts(settings, agent, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert settings.RETENTION_CLOSED_TICKET_BODIES_MONTHS == 0
    old = closed_ticket(agent, days_ago=400)
    assert not run().is_on
    out = io.StringIO()
    call_command("run_retention_rules", "--dry-run", stdout=out)
    assert f"{RULE}: off" in out.getvalue()
    settings.RETENTION_CLOSED_TICKET_BODIES_MONTHS = 6
    out = io.StringIO()
    call_command("run_retention_rules", "--dry-run", "--rule", RULE, stdout=out)
    assert "would act on tickets 1, messages 2, attachments 1" in out.getvalue()
    old.refresh_from_db()
    assert SECRET in old.description and not AuditEvent.objects.filter(action=ACTION).exists()


def test_closing_a_ticket_stamps_when(agent):
    ticket = TicketFactory()
    ticket_change_status(ticket=ticket, status=TicketStatus.SOLVED, user=agent)
    ticket.refresh_from_db()
    assert ticket.closed_at is None
    ticket_change_status(ticket=ticket, status=TicketStatus.CLOSED, user=agent)
    ticket.refresh_from_db()
    assert ticket.closed_at is not None
