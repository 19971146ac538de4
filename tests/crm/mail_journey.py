"""What the mail journey tests share (``tests/crm/test_mail_journey.py`` through the test client,
``tests/browser/test_mail_journey.py`` in a browser): a deal with a customer, the seller's
template, the background work run in-process as beat and a worker would run it, and the
customer's reply as their mail program writes it."""

import email
import email.policy
from unittest import mock

from django.contrib.contenttypes.models import ContentType

from crm.models import Activity, MailLink
from crm.tasks import mailbox_sync as mailbox_sync_task
from crm.tasks import mailboxes_sync as mailboxes_sync_task
from crm.tasks import outbox_send_queued as outbox_send_queued_task
from tests.factories import ContactFactory
from tests.factories.compose import EmailTemplateFactory
from tests.factories.sales import OpportunityFactory
from tests.mailserver import message_bytes

CUSTOMER = "ada@buyer.example"


def deal_with_customer(seller):
    """An open deal of ``seller``'s whose main contact is Ada, the customer who will reply."""
    deal = OpportunityFactory(owner=seller, name="Fleet renewal")
    ada = ContactFactory(
        account=deal.account, owner=seller, first_name="Ada", last_name="Buyer", email=CUSTOMER
    )
    deal.primary_contact = ada
    deal.save(update_fields=["primary_contact"])
    return deal


def follow_up_template(seller):
    return EmailTemplateFactory(
        owner=seller,
        name="Renewal follow-up",
        subject="{{ deal.name }} for {{ account.name }}",
        body="Hi {{ contact.first_name }},\n\nhere is the offer for {{ deal.name }}.\n\n"
        "{{ user.first_name }}",
    )


def run_outbox() -> int:
    """The outbox task, as the worker woken after the commit (or beat) runs it."""
    return outbox_send_queued_task.apply().get()


def run_beat_sync() -> list[int]:
    """Beat's ``mailboxes-sync``, then a worker running each mailbox sync it woke."""
    woken = []
    with mock.patch.object(mailbox_sync_task, "delay", side_effect=woken.append):
        mailboxes_sync_task.apply().get()
    for pk in woken:
        mailbox_sync_task.apply(args=[pk]).get()
    return woken


def sent_by(mailserver, address: str) -> list[email.message.EmailMessage]:
    """The messages the test SMTP server accepted from ``address``."""
    found = []
    for raw in mailserver.sent:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if address in str(message["From"]):
            found.append(message)
    return found


def customer_reply(*, to: str, message_id: str, subject: str) -> bytes:
    """Ada's answer to the email ``message_id``, as it lands in the seller's inbox."""
    return message_bytes(
        sender=f"Ada Buyer <{CUSTOMER}>",
        to=to,
        subject=f"Re: {subject}",
        body="Thanks, the offer works for us. Let's sign next week.",
        message_id="<reply-to-offer@buyer.example>",
        in_reply_to=message_id,
    )


def reply_entries(deal):
    """The deal's timeline entries of imported email."""
    links = MailLink.objects.filter(
        content_type=ContentType.objects.get_for_model(deal), object_id=deal.pk
    )
    return Activity.objects.filter(pk__in=links.values("activity_id"))
