"""The mailbox journey through the test client: a seller connects their own mailbox (the local
dovecot for IMAP, its SMTP server for sending), sends a templated email from a deal, and the
customer's reply, read by one sync, is on the deal's timeline once. The browser test
``tests/browser/test_mail_journey.py`` walks the same way by clicking."""

import pytest
from django.urls import reverse

from crm.choices import MailSecurity, OutboxStatus
from crm.models import ComposedEmail, Mailbox
from crm.services.outbox import outbox_message_id
from tests.crm.mail_journey import (
    CUSTOMER,
    customer_reply,
    deal_with_customer,
    follow_up_template,
    reply_entries,
    run_beat_sync,
    run_outbox,
    sent_by,
)
from tests.mailserver import HOST, SENT_FOLDER

pytestmark = pytest.mark.django_db


def _mailbox_form(mailserver, mail_user, action):
    return {
        "email_address": mail_user,
        "imap_host": HOST,
        "imap_port": mailserver.imap_port,
        "imap_security": MailSecurity.NONE,
        "imap_username": mail_user,
        "imap_password": mailserver.passwords[mail_user],
        "smtp_host": HOST,
        "smtp_port": mailserver.smtp_port,
        "smtp_security": MailSecurity.NONE,
        "smtp_username": "",
        "smtp_password": "",
        "folders": "",
        "private_label": "Private",
        "action": action,
    }


def test_a_reply_to_an_email_sent_from_a_deal_is_on_the_deal_once(client, rep, mailserver):
    rep.first_name = "Rita"
    rep.save()
    mail_user = mailserver.add_user()
    client.force_login(rep)

    # The seller tests the connection, then connects the mailbox
    tested = client.post(reverse("mailbox_settings"), _mailbox_form(mailserver, mail_user, "test"))
    assert "Connection works" in tested.content.decode()
    assert f"sent mail is in “{SENT_FOLDER}”" in tested.content.decode()
    saved = client.post(reverse("mailbox_settings"), _mailbox_form(mailserver, mail_user, "save"))
    assert saved.status_code == 302
    assert Mailbox.objects.get(user=rep).email_address == mail_user

    # They open a deal, pick a template (its merge fields are filled) and send
    deal = deal_with_customer(rep)
    template = follow_up_template(rep)
    page = client.get(deal.get_absolute_url()).content.decode()
    compose_url = reverse("compose", args=["deal", deal.pk])
    assert f'href="{compose_url}"' in page
    picked = client.get(
        reverse("compose_template", args=["deal", deal.pk]), {"template": template.pk}
    ).content.decode()
    subject = f"Fleet renewal for {deal.account.name}"
    assert subject in picked and "Hi Ada," in picked and "{{" not in picked
    sent = client.post(
        compose_url,
        {
            "to_email": CUSTOMER,
            "template": template.pk,
            "subject": subject,
            "body": "Hi Ada,\n\nhere is the offer for Fleet renewal.\n\nRita",
        },
    )
    assert sent.status_code == 302

    # The outbox runs: the message reaches the seller's SMTP server from their own address
    assert run_outbox() == 1
    composed = ComposedEmail.objects.select_related("outbox").get()
    assert composed.outbox.status == OutboxStatus.SENT
    [message] = sent_by(mailserver, mail_user)
    assert message["Message-ID"] == outbox_message_id(composed.outbox)
    assert message["To"] == CUSTOMER
    assert message["Subject"] == subject

    # Ada answers; her reply lands in the seller's inbox
    mailserver.append(
        mail_user,
        customer_reply(to=mail_user, message_id=message["Message-ID"], subject=subject),
    )

    # One sync, as beat runs it: the reply is on the deal's timeline once
    mailbox = Mailbox.objects.get(user=rep)
    assert run_beat_sync() == [mailbox.pk]
    assert reply_entries(deal).count() == 1
    page = client.get(deal.get_absolute_url()).content.decode()
    assert page.count(f"Re: {subject}") == 1
    assert "the offer works for us" in page

    # A second sync finds nothing new: still once
    assert run_beat_sync() == [mailbox.pk]
    assert reply_entries(deal).count() == 1
    page = client.get(deal.get_absolute_url()).content.decode()
    assert page.count(f"Re: {subject}") == 1
