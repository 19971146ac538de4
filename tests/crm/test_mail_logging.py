"""The logging address: mail a user BCCs or forwards to it lands on the right records as theirs,
and nobody else can log through it."""

from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import MailDirection
from crm.mail.imports import IMPORTED, SKIPPED
from crm.mail.logging_address import (
    logging_address_of,
    mail_logged_import,
    mail_logging_address_get,
)
from crm.models import Activity, MailMessage
from tests.crm.mail_messages import raw_mail
from tests.factories.crm import AccountFactory, ContactFactory


@pytest.fixture(autouse=True)
def logging_address_on(settings):
    settings.MAIL_LOGGING_ADDRESS = "crm-log@example.com"
    settings.MAIL_LOGGING_INBOUND_TOKEN = "hook-secret"


@pytest.fixture
def address(rep):
    return logging_address_of(mail_logging_address_get(user=rep))


@pytest.fixture
def customer(rep):
    return ContactFactory(
        email="ann@acme.test", account=AccountFactory(name="Acme", owner=rep), owner=rep
    )


def test_a_bcc_of_a_users_email_to_a_customer_is_imported_as_theirs(rep, address, customer):
    raw = raw_mail(
        sender=f"Rep <{rep.email}>",
        to="Ann <ann@acme.test>",
        subject="Our offer",
        message_id="<offer@example.com>",
        headers={"Delivered-To": address},
    )

    [result] = mail_logged_import(raw=raw)

    assert result.status == IMPORTED
    assert result.mail.direction == MailDirection.OUTBOUND
    assert result.mail.message_id == "<offer@example.com>"
    assert set(result.linked) == {customer, customer.account}
    assert list(result.mail.seen_by.all()) == [rep]


def _forward_with_attachment(*, sender, to, original: bytes) -> bytes:
    from email import policy
    from email.parser import BytesParser

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Fwd: Question about the contract"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = "<fwd-outer@example.com>"
    message.set_content("See below.")
    message.add_attachment(BytesParser(policy=policy.default).parsebytes(original))
    return message.as_bytes()


def test_a_forward_with_the_original_attached_imports_the_original(rep, address, customer):
    original = raw_mail(
        sender="Ann <ann@acme.test>",
        to=rep.email,
        subject="Question about the contract",
        body="Can we start in May?",
        message_id="<question@acme.test>",
    )

    [result] = mail_logged_import(
        raw=_forward_with_attachment(sender=rep.email, to=address, original=original)
    )

    assert result.status == IMPORTED
    mail = result.mail
    assert (mail.message_id, mail.from_email, mail.direction) == (
        "<question@acme.test>",
        "ann@acme.test",
        MailDirection.INBOUND,
    )
    assert mail.body_text == "Can we start in May?"
    assert customer in result.linked


GMAIL = """Please log this.

---------- Forwarded message ---------
From: Ann Example <ann@acme.test>
Date: Tue, Mar 3, 2026 at 10:15 AM
Subject: Question about the contract
To: Rep <{rep}>


Can we start in May?
"""

OUTLOOK = """FYI

________________________________
From: Ann Example <ann@acme.test>
Sent: Tuesday, March 3, 2026 10:15 AM
To: Rep <{rep}>
Subject: Question about the contract

Can we start in May?
"""

OUTLOOK_CLASSIC = """
-----Original Message-----
From: Ann Example [mailto:ann@acme.test]
Sent: Tuesday, 3 March 2026 10:15
To: Rep
Subject: Question about the contract

Can we start in May?
"""

APPLE = """

Begin forwarded message:

From: Ann Example <ann@acme.test>
Subject: Question about the contract
Date: 3 March 2026 at 10:15:00 CET
To: Rep <{rep}>

Can we start in May?
"""


@pytest.mark.parametrize("text", [GMAIL, OUTLOOK, OUTLOOK_CLASSIC, APPLE])
def test_an_inline_forward_of_the_common_clients_imports_the_original(rep, address, customer, text):
    raw = raw_mail(
        sender=rep.email,
        to=address,
        subject="Fwd: Question about the contract",
        body=text.format(rep=rep.email),
        message_id="<outer@example.com>",
    )

    [result] = mail_logged_import(raw=raw)

    assert result.status == IMPORTED, result.reason
    mail = result.mail
    assert mail.from_email == "ann@acme.test"
    assert mail.from_name == "Ann Example"
    assert mail.subject == "Question about the contract"
    assert mail.body_text == "Can we start in May?"
    assert mail.direction == MailDirection.INBOUND
    assert mail.sent_at.date().isoformat() == "2026-03-03"
    assert customer in result.linked
    # forwarded again: the same original, stored once
    [again] = mail_logged_import(raw=raw)
    assert again.mail == mail
    assert MailMessage.objects.count() == 1


def test_a_sender_who_is_not_the_addresss_user_is_refused(rep, address, customer):
    raw = raw_mail(sender="mallory@evil.test", to="ann@acme.test", headers={"Cc": address})

    [result] = mail_logged_import(raw=raw)

    assert (result.status, result.reason) == (SKIPPED, "sender is not the address's user")
    assert not MailMessage.objects.exists()


def test_another_users_address_cannot_log_to_this_users_token(rep, rep2, address, customer):
    raw = raw_mail(sender=rep2.email, to="ann@acme.test", headers={"Delivered-To": address})

    [result] = mail_logged_import(raw=raw)

    assert result.reason == "sender is not the address's user"


def test_an_unknown_or_replaced_token_is_refused(rep, address, customer, rep_client):
    response = rep_client.post(reverse("mail_logging_address_regenerate"))
    assert response.status_code == 302
    raw = raw_mail(sender=rep.email, to="ann@acme.test", headers={"Delivered-To": address})

    [result] = mail_logged_import(raw=raw)

    assert (result.status, result.reason) == (SKIPPED, "unknown logging address")
    new = logging_address_of(mail_logging_address_get(user=rep))
    assert new != address
    raw = raw_mail(sender=rep.email, to="ann@acme.test", headers={"X-Original-To": new})
    assert mail_logged_import(raw=raw)[0].status == IMPORTED


def test_the_address_is_shown_on_the_users_settings_page(rep, address, rep_client):
    page = rep_client.get(reverse("user_settings"))

    assert page.status_code == 200
    assert address in page.content.decode()


def test_the_settings_page_says_when_no_logging_address_is_set_up(rep_client, settings):
    settings.MAIL_LOGGING_ADDRESS = ""

    page = rep_client.get(reverse("user_settings"))

    assert "No logging address is set up" in page.content.decode()


def test_the_webhook_needs_its_token_and_imports_the_message(client, rep, address, customer):
    raw = raw_mail(sender=rep.email, to="ann@acme.test", headers={"Delivered-To": address})
    url = reverse("mail_logging_inbound")

    refused = client.post(url, raw, content_type="message/rfc822", HTTP_X_MAIL_TOKEN="wrong")
    taken = client.post(url, raw, content_type="message/rfc822", HTTP_X_MAIL_TOKEN="hook-secret")
    again = client.post(url, raw, content_type="message/rfc822", HTTP_X_MAIL_TOKEN="hook-secret")

    assert refused.status_code == 403
    assert taken.status_code == 201
    assert taken.json()["results"][0]["status"] == "imported"
    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "duplicate"
    assert Activity.objects.for_object(customer).filter(kind="email").count() == 1


def test_the_sweep_wakes_a_poll_that_is_overdue_and_operators_see_a_failing_one(db, settings):
    from datetime import timedelta

    from crm.mail.logging_address import mail_logging_problems, mail_logging_sweep
    from crm.models import MailLoggingCheckpoint

    assert mail_logging_sweep() == 0  # no logging mailbox configured
    settings.MAIL_LOGGING_IMAP_URL = "imaps://log:pw@imap.example.com/INBOX"
    row = MailLoggingCheckpoint.objects.create(
        folder="INBOX", last_polled_at=timezone.now(), last_error="LOGIN failed"
    )
    assert mail_logging_sweep() == 0  # polled just now

    MailLoggingCheckpoint.objects.filter(pk=row.pk).update(
        last_polled_at=timezone.now() - timedelta(hours=1)
    )
    assert mail_logging_sweep() == 1
    [problem] = mail_logging_problems(10)
    assert problem.detail == "LOGIN failed"


def test_the_webhook_takes_a_message_larger_than_a_form_post(client, rep, address, customer):
    raw = raw_mail(
        sender=rep.email,
        to="ann@acme.test",
        body="x" * (3 * 1024 * 1024),
        headers={"Delivered-To": address},
    )

    response = client.post(
        reverse("mail_logging_inbound"),
        raw,
        content_type="message/rfc822",
        HTTP_X_MAIL_TOKEN="hook-secret",
    )

    assert response.status_code == 201
