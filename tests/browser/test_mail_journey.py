"""A seller connects their own mailbox in the browser (the local dovecot for IMAP, its SMTP
server for sending), sends a templated email from a deal, and the customer's reply, read by one
sync, appears on the deal's timeline once. ``tests/crm/test_mail_journey.py`` is the same walk
through the test client, for machines without chromium."""

import pytest

from crm.choices import Role
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
from tests.factories import UserFactory
from tests.mailserver import HOST, SENT_FOLDER

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_seller_connects_a_mailbox_sends_from_a_deal_and_sees_the_reply_once(
    browser_page, live_server, mailserver
):
    page = browser_page
    seller = UserFactory(username="rep", first_name="Rita", roles=[Role.SALES_REP], password="demo")
    deal = deal_with_customer(seller)
    follow_up_template(seller)
    mail_user = mailserver.add_user()
    password = mailserver.passwords[mail_user]

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # The seller fills in their mailbox, tests the connection, then connects it
    page.goto(f"{live_server.url}/settings/mailbox/")
    page.fill("input[name=email_address]", mail_user)
    page.fill("input[name=imap_host]", HOST)
    page.fill("input[name=imap_port]", str(mailserver.imap_port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=imap_username]", mail_user)
    page.fill("input[name=imap_password]", password)
    page.fill("input[name=smtp_host]", HOST)
    page.fill("input[name=smtp_port]", str(mailserver.smtp_port))
    page.select_option("select[name=smtp_security]", "none")
    page.click("button:text('Test connection')")
    page.wait_for_selector("#mailbox-test h2:has-text('Connection works')")
    assert f"sent mail is in “{SENT_FOLDER}”" in page.inner_text("#mailbox-test")
    # Passwords are never shown again: type it once more to connect
    page.fill("input[name=imap_password]", password)
    page.click("#mailbox-form button:text('Connect')")
    page.wait_for_selector("#mailbox-status")
    assert mail_user in page.inner_text("#mailbox-status")
    mailbox = Mailbox.objects.get(user=seller)

    # They open the deal, click "Send email", pick the template and send
    page.goto(f"{live_server.url}{deal.get_absolute_url()}")
    page.click("#compose-email")
    page.wait_for_selector("h1:has-text('Send email')")
    assert page.input_value("input[name=to_email]") == CUSTOMER
    page.select_option("select[name=template]", label="Renewal follow-up")
    subject = f"Fleet renewal for {deal.account.name}"
    page.wait_for_function(
        "subject => document.querySelector('input[name=subject]').value === subject", arg=subject
    )
    assert page.input_value("textarea[name=body]").startswith("Hi Ada,")
    page.click("#compose-form button:text('Send')")
    page.wait_for_url(f"{live_server.url}{deal.get_absolute_url()}")

    # The outbox runs: the message reaches the seller's SMTP server from their address
    assert run_outbox() == 1
    composed = ComposedEmail.objects.select_related("outbox").get()
    [message] = sent_by(mailserver, mail_user)
    assert message["Message-ID"] == outbox_message_id(composed.outbox)
    assert message["Subject"] == subject
    assert "Hi Ada," in message.get_body(("plain",)).get_content()

    # Ada's reply lands in the seller's inbox; one sync, as beat runs it
    mailserver.append(
        mail_user,
        customer_reply(to=mail_user, message_id=message["Message-ID"], subject=subject),
    )
    assert run_beat_sync() == [mailbox.pk]

    # The reply is on the deal's timeline, once
    page.goto(f"{live_server.url}{deal.get_absolute_url()}")
    page.wait_for_selector(f".timeline-entry:has-text('Re: {subject}')")
    assert page.locator(f".timeline-entry:has-text('Re: {subject}')").count() == 1

    # A second sync finds nothing new: still once
    assert run_beat_sync() == [mailbox.pk]
    page.reload()
    page.wait_for_selector(f".timeline-entry:has-text('Re: {subject}')")
    assert page.locator(f".timeline-entry:has-text('Re: {subject}')").count() == 1
    assert reply_entries(deal).count() == 1
