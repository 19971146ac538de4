"""How the mail parts work together: a calendar app's answer read by the mailbox sync updates
the meeting, a mailbox connected with OAuth2 sends with XOAUTH2, the mailbox page shows the
logging address, and the logging mailbox checks its server's certificate like a user's."""

from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import quote

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import ActivityKind, AttendeeResponse, MailAuth, MailSecurity, OutboxStatus
from crm.mail.logging_address import logging_address_of, mail_logging_address_get, mail_logging_poll
from crm.mail.sync import mailbox_sync
from crm.models import Activity, ComposedEmail, Mailbox, MailLoggingCheckpoint, MailMessage
from crm.services import meetings
from crm.services.meetings import Invitee
from crm.services.outbox import outbox_message_id, outbox_send_queued
from tests.crm.mail_journey import CUSTOMER, deal_with_customer, sent_by
from tests.crm.mail_messages import raw_mail
from tests.crm.mailbox_kit import connected_mailbox
from tests.crm.test_mailbox_oauth import endpoint  # noqa: F401  (Google's token endpoint)
from tests.factories.crm import AccountFactory, ContactFactory
from tests.mailserver import HOST, SENT_FOLDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_user(mailserver):
    return mailserver.add_user()


# --- calendar answers read from the mailbox ---------------------------------------------------


def _calendar_reply(meeting, *, sender: str, to: str, partstat: str) -> bytes:
    """What a calendar app mails the organizer when its user answers an invitation."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Another calendar app//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    event = icalendar.Event()
    event.add("uid", meeting.uid)
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", timezone.now())
    attendee = icalendar.vCalAddress(f"mailto:{sender}")
    attendee.params["partstat"] = icalendar.vText(partstat)
    event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    message = EmailMessage()
    message["From"] = f"Jana Novak <{sender}>"
    message["To"] = to
    message["Subject"] = f"Accepted: {meeting.title}"
    message["Message-ID"] = f"<answer.{meeting.pk}.{partstat.lower()}@acme.test>"
    message.set_content("Jana Novak has accepted this invitation.")
    message.add_alternative(
        calendar.to_ical(), maintype="text", subtype="calendar", params={"method": "REPLY"}
    )
    return message.as_bytes()


def test_an_answer_from_a_calendar_app_is_read_by_the_sync(rep, mailserver, mail_user):
    # Given a meeting the seller organised with Jana, and the seller's connected mailbox
    jana = ContactFactory(
        email="jana@acme.test", account=AccountFactory(name="Acme", owner=rep), owner=rep
    )
    start = timezone.now() + timedelta(days=2)
    meeting = meetings.meeting_schedule(
        organizer=rep,
        created_by=rep,
        subject=jana,
        title="Product demo",
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        invitees=[Invitee(jana.email, jana.full_name, jana)],
    )
    mailbox = connected_mailbox(rep, mailserver, mail_user)

    # When Jana accepts in her calendar app, which mails the answer to the seller's inbox,
    # and the mailbox is synced (twice: the second run finds nothing new)
    mailserver.append(
        mail_user, _calendar_reply(meeting, sender=jana.email, to=mail_user, partstat="ACCEPTED")
    )
    first = mailbox_sync(mailbox_id=mailbox.pk)
    second = mailbox_sync(mailbox_id=mailbox.pk)

    # Then her answer is on the meeting, once
    attendee = meeting.attendees.get()
    assert attendee.response == AttendeeResponse.ACCEPTED
    assert (first.fetched, second.fetched) == (1, 0)

    # And a later "decline" from her calendar app changes it
    mailserver.append(
        mail_user, _calendar_reply(meeting, sender=jana.email, to=mail_user, partstat="DECLINED")
    )
    mailbox_sync(mailbox_id=mailbox.pk)
    attendee.refresh_from_db()
    assert attendee.response == AttendeeResponse.DECLINED


# --- sending through a mailbox connected with OAuth2 -------------------------------------------


@pytest.fixture
def google(settings):
    settings.MAIL_OAUTH_GOOGLE_CLIENT_ID = "cid"
    settings.MAIL_OAUTH_GOOGLE_CLIENT_SECRET = "csecret"


def _oauth_mailbox(user, mailserver, mail_user, **tokens):
    """A Google mailbox pointed at the local servers (their SMTP accepts XOAUTH2 tokens)."""
    values = {
        "oauth_access_token": "fresh-token",
        "oauth_refresh_token": "refresh",
        "oauth_expires_at": timezone.now() + timedelta(minutes=30),
        **tokens,
    }
    return Mailbox.objects.create(
        user=user,
        email_address=mail_user,
        auth_method=MailAuth.GOOGLE,
        imap_host=HOST,
        imap_port=mailserver.imap_port,
        imap_security=MailSecurity.NONE,
        smtp_host=HOST,
        smtp_port=mailserver.smtp_port,
        smtp_security=MailSecurity.NONE,
        **values,
    )


def _compose(client, deal):
    response = client.post(
        reverse("compose", args=["deal", deal.pk]),
        {"to_email": CUSTOMER, "subject": "The offer", "body": "Hi Ada, here it is."},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return ComposedEmail.objects.select_related("outbox").get()


def test_a_mailbox_connected_with_google_sends_with_xoauth2(
    rep_client, rep, mailserver, mail_user, google
):
    # Given a seller who connected their mailbox with Google
    mailserver.add_token(mail_user, "fresh-token")
    _oauth_mailbox(rep, mailserver, mail_user)
    deal = deal_with_customer(rep)

    # When they write from a deal and the outbox runs
    composed = _compose(rep_client, deal)
    assert outbox_send_queued() == 1

    # Then the server took it, signed in with the access token, from the seller's address
    composed.outbox.refresh_from_db()
    assert composed.outbox.status == OutboxStatus.SENT
    [message] = sent_by(mailserver, mail_user)
    assert message["Message-ID"] == outbox_message_id(composed.outbox)
    assert message["To"] == CUSTOMER


def test_an_access_token_about_to_run_out_is_renewed_before_sending(
    rep_client, rep, mailserver, mail_user, request
):
    # Given a Google mailbox whose access token ran out; the provider knows its refresh token
    provider = request.getfixturevalue("endpoint")
    provider.refresh_tokens = {"the-refresh-token"}
    _oauth_mailbox(
        rep,
        mailserver,
        mail_user,
        oauth_access_token="expired",
        oauth_refresh_token="the-refresh-token",
        oauth_expires_at=timezone.now() - timedelta(minutes=1),
    )
    deal = deal_with_customer(rep)

    # When the seller writes from a deal and the outbox runs
    composed = _compose(rep_client, deal)
    assert outbox_send_queued() == 1

    # Then the token was renewed at the provider first (and kept), and the email went out
    assert provider.requests[-1]["grant_type"] == "refresh_token"
    mailbox = Mailbox.objects.get(user=rep)
    assert mailbox.oauth_access_token != "expired"
    assert mailbox.oauth_expires_at > timezone.now() + timedelta(minutes=50)
    [message] = sent_by(mailserver, mail_user)
    composed.outbox.refresh_from_db()
    assert message["Message-ID"] == outbox_message_id(composed.outbox)


def test_a_token_the_server_refuses_fails_the_email_with_its_reason(
    rep_client, rep, mailserver, mail_user, google
):
    _oauth_mailbox(rep, mailserver, mail_user, oauth_access_token="not-known-to-the-server")
    deal = deal_with_customer(rep)

    composed = _compose(rep_client, deal)
    assert outbox_send_queued() == 0

    composed.outbox.refresh_from_db()
    assert composed.outbox.status == OutboxStatus.FAILED
    assert "535" in composed.outbox.last_error
    assert not sent_by(mailserver, mail_user)


def test_a_sign_in_that_cannot_be_renewed_fails_at_once_saying_so(
    rep_client, rep, mailserver, mail_user, google
):
    # An access token that ran out, and no refresh token to renew it: no server is asked
    _oauth_mailbox(
        rep,
        mailserver,
        mail_user,
        oauth_access_token="",
        oauth_refresh_token="",
        oauth_expires_at=timezone.now() - timedelta(minutes=1),
    )
    deal = deal_with_customer(rep)

    composed = _compose(rep_client, deal)
    assert outbox_send_queued() == 0

    composed.outbox.refresh_from_db()
    assert composed.outbox.status == OutboxStatus.FAILED
    assert "connect again" in composed.outbox.last_error
    assert mail_user in composed.outbox.last_error


def test_an_oauth_mailbox_whose_provider_is_no_longer_set_up_cannot_be_written_from(
    rep_client, rep, mailserver, mail_user
):
    _oauth_mailbox(rep, mailserver, mail_user)
    deal = deal_with_customer(rep)

    response = rep_client.post(
        reverse("compose", args=["deal", deal.pk]),
        {"to_email": CUSTOMER, "subject": "The offer", "body": "Hi"},
    )

    assert response.status_code == 400
    assert "no longer set up" in response.content.decode()


# --- the logging address on the mailbox page ---------------------------------------------------


def test_the_mailbox_page_shows_the_logging_address_and_makes_a_new_one(rep_client, settings):
    settings.MAIL_LOGGING_ADDRESS = "log@crm.example"

    page = rep_client.get(reverse("mailbox_settings")).content.decode()
    assert 'id="mail-logging-address"' in page
    old = page.split('id="mail-logging-address">')[1].split("<")[0]
    assert old.startswith("log+") and old.endswith("@crm.example")

    response = rep_client.post(
        reverse("mail_logging_address_regenerate"), {"next": reverse("mailbox_settings")}
    )

    assert response["Location"] == reverse("mailbox_settings") + "#mail-logging"
    page = rep_client.get(reverse("mailbox_settings")).content.decode()
    new = page.split('id="mail-logging-address">')[1].split("<")[0]
    assert new != old and new.startswith("log+")


# --- the logging mailbox over TLS --------------------------------------------------------------


def test_the_logging_mailbox_over_imaps_trusts_only_known_certificates(mailserver, settings, rep):
    # Given a logging mailbox on a server whose certificate is the test server's own
    box = mailserver.add_user()
    settings.MAIL_LOGGING_ADDRESS = "crm-log@example.com"
    settings.MAIL_LOGGING_IMAP_URL = (
        f"imaps://{quote(box)}:{mailserver.passwords[box]}@{HOST}:{mailserver.imaps_port}/INBOX"
    )
    settings.MAIL_TLS_CA_FILE = ""
    address = logging_address_of(mail_logging_address_get(user=rep))
    ContactFactory(email="ann@acme.test", account=AccountFactory(owner=rep), owner=rep)
    mailserver.append(
        box,
        raw_mail(
            sender=rep.email,
            to="ann@acme.test",
            message_id="<logged-over-tls@crm.example>",
            headers={"Delivered-To": address},
        ),
    )

    # When it is polled without trusting that certificate, nothing is read and operators see why
    assert mail_logging_poll() == {"imported": 0, "skipped": 0, "failed": 0}
    assert "CERTIFICATE_VERIFY_FAILED" in MailLoggingCheckpoint.objects.get().last_error

    # When the administrator trusts the server's CA, the logged email is imported
    settings.MAIL_TLS_CA_FILE = mailserver.ca_file
    assert mail_logging_poll() == {"imported": 1, "skipped": 0, "failed": 0}
    assert MailMessage.objects.filter(message_id="<logged-over-tls@crm.example>").exists()
    assert MailLoggingCheckpoint.objects.get().last_error == ""


# --- the Sent copy of an email written from a record --------------------------------------------


def test_the_sent_copy_of_an_email_written_from_a_deal_is_shown_once(
    rep_client, rep, mailserver, mail_user
):
    # Given a seller whose provider keeps a copy of what they send in their Sent folder
    mailbox = connected_mailbox(rep, mailserver, mail_user)
    deal = deal_with_customer(rep)
    composed = _compose(rep_client, deal)
    assert outbox_send_queued() == 1
    [message] = sent_by(mailserver, mail_user)
    mailserver.append(mail_user, message.as_bytes(), folder=SENT_FOLDER, flags=("\\Seen",))

    # When the mailbox is synced
    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    # Then the copy is stored, linked to the deal, its contact and account, but the deal's
    # timeline still has the one entry written when it was sent, now opening the stored email
    assert outcome.imported == 1
    stored = MailMessage.objects.get(message_id=message["Message-ID"])
    deal_entries = Activity.objects.for_object(deal).filter(kind=ActivityKind.EMAIL)
    assert list(deal_entries) == [composed.activity]
    assert stored.links.get(object_id=deal.pk, content_type__model="opportunity").activity_id == (
        composed.activity_id
    )
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert page.count(reverse("mail_message_detail", args=[stored.pk])) == 1
    assert 'data-status="sent"' in page
    contact_entries = Activity.objects.for_object(deal.primary_contact).filter(
        kind=ActivityKind.EMAIL
    )
    assert contact_entries.count() == 1
