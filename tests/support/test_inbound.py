"""Inbound email from real message files: new tickets, attachments by content, threading by the
reference in the subject, the webhook and the IMAP task."""

from pathlib import Path

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from crm.models import Activity, Contact, OutboundEmail
from crm.services.outbox import outbox_message_id, outbox_send_queued
from support.choices import Channel, TicketStatus
from support.models import Ticket, TicketMessage
from support.services import inbound
from support.services import tickets as svc
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"


def eml(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_plain_email_opens_a_ticket_for_a_new_contact(policies, queue):
    result = inbound.inbound_email_process(raw=eml("plain.eml"))
    ticket = result.ticket
    assert result.created
    assert ticket.channel == Channel.EMAIL
    assert ticket.subject == "Export to CSV fails"
    assert "Können Sie helfen?" in ticket.description
    contact = Contact.objects.get()
    assert contact.email == "jana.meyer@example.com"
    assert (contact.first_name, contact.last_name) == ("Jana", "Meyer")
    assert ticket.contact == contact and ticket.assignee is not None
    ack = OutboundEmail.objects.get(idempotency_key=f"support-ack:{ticket.pk}")
    assert ticket.reference in ack.subject


def test_the_same_message_twice_makes_one_ticket(policies, queue):
    inbound.inbound_email_process(raw=eml("plain.eml"))
    again = inbound.inbound_email_process(raw=eml("plain.eml"))
    assert again.duplicate and Ticket.objects.count() == 1


def test_multipart_keeps_the_png_and_refuses_the_fake_pdf(policies, queue):
    account = AccountFactory(domain="berg.example")
    result = inbound.inbound_email_process(raw=eml("multipart_attachment.eml"))
    ticket = result.ticket
    assert ticket.account == account  # matched by the sender's domain
    assert ticket.description.startswith("Hi, the error is in the attached screenshot.")
    assert [(a.filename, a.content_type) for a in ticket.attachments.all()] == [
        ("error.png", "image/png")
    ]
    assert len(result.rejected_files) == 1 and "invoice" in result.rejected_files[0]


def test_reply_with_reference_threads_onto_the_ticket_and_reopens_it(policies, queue, agent):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(reference="T-000123")
    svc.ticket_reply(ticket=ticket, user=agent, body="Try again?", status=TicketStatus.PENDING)
    result = inbound.inbound_email_process(raw=eml("reply.eml"))
    assert not result.created and result.ticket.pk == ticket.pk
    message = TicketMessage.objects.get(email_message_id="<reply-1@mail.example.com>")
    assert message.ticket_id == ticket.pk and message.from_customer
    assert "It works now" in message.body
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.sla_paused_at is None
    assert Ticket.objects.count() == 1


def answer_to(message_id: str, sender: bytes = b"jana.meyer@example.com") -> bytes:
    """A customer's real mail-client reply (no reference in the subject) to ``message_id``."""
    raw = eml("reply_without_reference.eml").replace(b"<OUR-REPLY-ID>", message_id.encode())
    return raw.replace(b"jana.meyer@example.com", sender)


def test_reply_without_the_reference_threads_by_in_reply_to_our_sent_reply(policies, queue, agent):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    reply = svc.ticket_reply(
        ticket=ticket, user=agent, body="Could you restart the export?", status="pending"
    )
    mail.outbox.clear()
    outbox_send_queued()
    sent = next(m for m in mail.outbox if "restart the export" in m.body)
    # The Message-ID the customer's client saw is the one stored on our reply.
    assert (
        sent.message()["Message-ID"]
        == reply.email_message_id
        == outbox_message_id(OutboundEmail.objects.get(idempotency_key=f"support-reply:{reply.pk}"))
    )
    result = inbound.inbound_email_process(raw=answer_to(sent.message()["Message-ID"]))
    assert not result.created and result.ticket.pk == ticket.pk
    answer = TicketMessage.objects.get(
        email_message_id="<9f3c1e2a-5b7d-4c0e-8a61-3d2f7e9b0c14@example.com>"
    )
    assert answer.ticket_id == ticket.pk and answer.from_customer
    assert answer.body.startswith("Hallo,\n\nleider klappt der Export immer noch nicht")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert Ticket.objects.count() == 1


def test_reply_to_the_acknowledgement_threads_by_its_message_id(policies, queue):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    ack = OutboundEmail.objects.get(idempotency_key=f"support-ack:{ticket.pk}")
    result = inbound.inbound_email_process(raw=answer_to(outbox_message_id(ack)))
    assert not result.created and result.ticket.pk == ticket.pk


def test_a_reference_naming_no_ticket_still_threads_by_in_reply_to(policies, queue, agent):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    reply = svc.ticket_reply(ticket=ticket, user=agent, body="Restart it?")
    raw = answer_to(reply.email_message_id).replace(
        b"Subject: Re: Export to CSV fails", b"Subject: Re: [T-999999] Export to CSV fails"
    )
    result = inbound.inbound_email_process(raw=raw)
    assert not result.created and result.ticket.pk == ticket.pk


def test_in_reply_to_from_a_stranger_or_a_forged_id_opens_a_new_ticket(policies, queue, agent):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    reply = svc.ticket_reply(ticket=ticket, user=agent, body="Restart it?")
    stranger = inbound.inbound_email_process(
        raw=answer_to(reply.email_message_id, sender=b"mallory@evil.example")
    )
    assert stranger.created and stranger.ticket.pk != ticket.pk
    ack = OutboundEmail.objects.get(idempotency_key=f"support-ack:{ticket.pk}")
    forged = f"<outbox.{ack.pk}.0000000000000000@127.0.0.1>"
    raw = (
        answer_to(forged)
        .replace(b"<9f3c1e2a", b"<forged-9f3c1e2a")
        .replace(b"<plain-1@mail.example.com> ", b"")
    )
    assert inbound.inbound_email_process(raw=raw).created


def test_reference_from_a_stranger_opens_a_new_ticket(policies, queue):
    ticket = inbound.inbound_email_process(raw=eml("plain.eml")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(reference="T-000123")
    raw = eml("reply.eml").replace(b"jana.meyer@example.com", b"mallory@evil.example")
    result = inbound.inbound_email_process(raw=raw)
    assert result.created and result.ticket.pk != ticket.pk


def test_message_without_sender_is_refused(policies, queue):
    with pytest.raises(inbound.InboundError):
        inbound.inbound_email_process(raw=b"Subject: hi\r\n\r\nno from header")


@override_settings(SUPPORT_INBOUND_TOKEN="s3cret")
def test_webhook_needs_the_token_and_answers_400_for_garbage(client, policies, queue):
    url = reverse("support:inbound_email")
    raw = eml("plain.eml")
    assert client.post(url, raw, content_type="message/rfc822").status_code == 403
    wrong = client.post(url, raw, content_type="message/rfc822", HTTP_X_SUPPORT_TOKEN="nope")
    assert wrong.status_code == 403
    bad = client.post(url, b"garbage", content_type="message/rfc822", HTTP_X_SUPPORT_TOKEN="s3cret")
    assert bad.status_code == 400 and "sender" in bad.json()["error"]
    ok = client.post(url, raw, content_type="message/rfc822", HTTP_X_SUPPORT_TOKEN="s3cret")
    assert ok.status_code == 201
    assert ok.json()["ticket"] == Ticket.objects.get().reference
    again = client.post(url, raw, content_type="message/rfc822", HTTP_AUTHORIZATION="Bearer s3cret")
    assert again.status_code == 200 and again.json()["duplicate"]


def test_webhook_is_closed_when_no_token_is_configured(client):
    response = client.post(
        reverse("support:inbound_email"), eml("plain.eml"), content_type="message/rfc822"
    )
    assert response.status_code == 403


class FakeIMAP:
    """Enough of imaplib.IMAP4_SSL: a mailbox of messages by UID with a \\Seen flag."""

    instances = []

    def __init__(self, host, port):
        self.host, self.messages, self.seen, self.logged_in = host, dict(MAILBOX), set(SEEN), False
        FakeIMAP.instances.append(self)

    def login(self, user, password):
        self.logged_in = (user, password) == ("desk", "pw")
        return "OK", [b"Logged in"]

    def select(self, folder):
        assert folder == "Support"
        return "OK", [str(len(self.messages)).encode()]

    def uid(self, command, *args):
        if command == "SEARCH":
            unseen = [uid for uid in sorted(self.messages) if uid not in self.seen]
            return "OK", [b" ".join(unseen)]
        if command == "FETCH":
            uid = args[0]
            return "OK", [(uid + b" (UID " + uid + b" BODY[] {1}", self.messages[uid]), b")"]
        if command == "STORE":
            self.seen.add(args[0])
            SEEN.add(args[0])
            return "OK", []
        raise AssertionError(command)

    def logout(self):
        return "BYE", []


MAILBOX: dict[bytes, bytes] = {}
SEEN: set[bytes] = set()


@override_settings(
    SUPPORT_IMAP_HOST="imap.example",
    SUPPORT_IMAP_USER="desk",
    SUPPORT_IMAP_PASSWORD="pw",
    SUPPORT_IMAP_FOLDER="Support",
)
def test_imap_task_reads_unseen_mail_once(monkeypatch, policies, queue):
    from support.tasks import imap_fetch

    MAILBOX.clear()
    SEEN.clear()
    MAILBOX.update({b"1": eml("plain.eml"), b"2": eml("multipart_attachment.eml"), b"3": b"junk"})
    monkeypatch.setattr(inbound.imaplib, "IMAP4_SSL", FakeIMAP)
    assert imap_fetch() == {"processed": 2, "duplicates": 0, "failed": 1}
    assert Ticket.objects.count() == 2
    assert {b"1", b"2", b"3"} == SEEN
    # A rerun finds nothing unseen; a message left unflagged by a crash is not doubled.
    assert imap_fetch() == {"processed": 0, "duplicates": 0, "failed": 0}
    SEEN.discard(b"1")
    assert imap_fetch() == {"processed": 0, "duplicates": 1, "failed": 0}
    assert Ticket.objects.count() == 2


def test_imap_task_does_nothing_unconfigured(monkeypatch):
    from support.tasks import imap_fetch

    monkeypatch.setattr(inbound.imaplib, "IMAP4_SSL", None)
    assert imap_fetch() == {"processed": 0, "duplicates": 0, "failed": 0}


def test_a_new_sender_becomes_a_contact_of_the_matching_account_through_the_customers_service(
    policies, queue
):
    account = AccountFactory(domain="example.com")
    contact = inbound.contact_for_email(email_address=" Jana.Meyer@Example.com ", name="Jana Meyer")
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Jana",
        "Meyer",
        "jana.meyer@example.com",
    )
    assert contact.account == account and contact.owner == account.owner
    assert [a.summary for a in Activity.objects.for_object(contact)] == [
        "Contact created from a support request"
    ]
    assert inbound.contact_for_email(email_address="jana.meyer@example.com") == contact
