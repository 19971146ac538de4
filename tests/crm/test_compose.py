"""Writing email from a record: templates with merge fields, attachments, the user's own SMTP
server, send later and cancel, consent, and open and click tracking."""

import email
import email.policy
import re
import socket
from datetime import timedelta
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.choices import ActivityKind, MailSecurity, OutboxStatus, TemplateSharing
from crm.models import Activity, ComposedEmail, EmailTemplate, Mailbox, OutboundEmail
from crm.services import compose as service
from crm.services.consents import consent_record
from crm.services.outbox import outbox_message_id, outbox_send_queued
from crm.tasks import outbox_send_queued as outbox_send_queued_task
from crm.tasks import work_sweep as work_sweep_task
from tests.factories import ContactFactory
from tests.factories.compose import EmailTemplateFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory

pytestmark = [
    pytest.mark.django_db,
    # The local server stands in for a provider reached over TLS; plain AUTH is fine here.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


# --- a real SMTP server: the user's own ------------------------------------------------------


class _Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"seller@own.example",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def own_smtp():
    """A local SMTP server that asks for a password, acting as the seller's mail provider."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,
        ready_timeout=10,
    )
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


def _mailbox(user, port):
    return Mailbox.objects.create(
        user=user,
        email_address="seller@own.example",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=MailSecurity.NONE,
        smtp_username="seller@own.example",
        smtp_password="s3cret",
    )


def _deal(owner, **contact):
    deal = OpportunityFactory(owner=owner, name="Fleet renewal")
    buyer = ContactFactory(
        account=deal.account,
        owner=owner,
        first_name=contact.pop("first_name", "Ada"),
        email=contact.pop("email", "ada@buyer.example"),
        **contact,
    )
    deal.primary_contact = buyer
    deal.save(update_fields=["primary_contact"])
    return deal


def _post(client, kind, record, **data):
    values = {"to_email": "ada@buyer.example", "subject": "Hello", "body": "Hi", **data}
    return client.post(reverse("compose", args=[kind, record.pk]), values)


# --- templates and merge fields --------------------------------------------------------------


def test_compose_from_a_deal_with_a_template_fills_the_merge_fields(rep_client, rep):
    # Given a deal with a main contact, a signature and a template with merge fields
    rep.first_name, rep.last_name, rep.email_signature = "Rita", "Rep", "Rita Rep\nSales"
    rep.save()
    deal = _deal(rep)
    template = EmailTemplateFactory(
        owner=rep,
        subject="{{ deal.name }} for {{ account.name }}",
        body="Hi {{ contact.first_name }},\n\nsee {{ deal.stage }}.\n\n{{ user.signature }}\n"
        '{{ lead.company|default:"-" }}',
    )

    # When the seller opens the page and picks the template
    page = rep_client.get(reverse("compose", args=["deal", deal.pk]))
    picked = rep_client.get(
        reverse("compose_template", args=["deal", deal.pk]), {"template": template.pk}
    )

    # Then the To is the deal's contact, the template is offered, and its fields are filled
    assert page.status_code == 200
    assert 'value="ada@buyer.example"' in page.content.decode()
    assert template.name in page.content.decode()
    text = picked.content.decode()
    assert f"Fleet renewal for {deal.account.name}" in text
    assert "Hi Ada," in text
    assert "see Qualification." in text
    assert "Rita Rep\nSales" in text
    assert "{{" not in text


def test_the_sent_email_carries_the_merged_text_and_is_on_the_timeline(rep_client, rep):
    # Given a deal
    rep.first_name, rep.last_name, rep.email = "Rita", "Rep", "rita@crm.example"
    rep.save()
    deal = _deal(rep)

    # When the seller writes with merge fields and an attachment, and the outbox runs
    response = _post(
        rep_client,
        "deal",
        deal,
        subject="About {{ deal.name }}",
        body="Hi {{ contact.first_name }}, see https://example.com/offer.",
        attachments=[SimpleUploadedFile("offer.pdf", PDF, content_type="application/pdf")],
    )
    sent = outbox_send_queued()

    # Then it went from the CRM's address in the seller's name, answered to the seller
    assert response.status_code == 302
    assert sent == 1
    message = mail.outbox[0]
    assert message.subject == "About Fleet renewal"
    assert "Hi Ada, see https://example.com/offer." in message.body
    assert message.from_email == "Rita Rep <crm@localhost>"
    assert message.reply_to == ["rita@crm.example"]
    assert message.attachments[0][0] == "offer.pdf"
    assert message.attachments[0][1] == PDF
    # with the outbox's own Message-ID, so the customer's reply threads to the deal
    composed = ComposedEmail.objects.get()
    assert message.extra_headers["Message-ID"] == outbox_message_id(composed.outbox)
    assert composed.outbox.related == deal
    # And the deal's timeline has an Email entry showing it sent
    entry = Activity.objects.for_object(deal).get(kind=ActivityKind.EMAIL)
    assert entry.actor == rep
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert 'data-status="sent"' in page
    assert 'id="compose-email"' in page


def test_sent_through_the_users_own_smtp_server_with_their_address(rep_client, rep, own_smtp):
    # Given a seller whose mailbox is connected (a local server asking for their password)
    rep.first_name, rep.last_name = "Rita", "Rep"
    rep.save()
    _mailbox(rep, own_smtp.port)
    deal = _deal(rep)

    # When they send with an attachment and a copy
    _post(
        rep_client,
        "deal",
        deal,
        cc="boss@buyer.example",
        subject="Your offer",
        body="Attached.",
        attachments=[SimpleUploadedFile("offer.pdf", PDF, content_type="application/pdf")],
    )
    assert outbox_send_queued() == 1

    # Then their own server took it, from their address, with the file and both recipients
    assert not mail.outbox
    [(sender, recipients, message)] = own_smtp.messages
    assert sender == "seller@own.example"
    assert sorted(recipients) == ["ada@buyer.example", "boss@buyer.example"]
    assert message["From"] == "Rita Rep <seller@own.example>"
    assert message["Subject"] == "Your offer"
    composed = ComposedEmail.objects.get()
    assert message["Message-ID"] == outbox_message_id(composed.outbox)
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "offer.pdf"
    assert attachment.get_content() == PDF


def test_a_failing_own_server_retries_and_shows_the_reason_on_the_record(rep_client, rep):
    # Given a seller whose mailbox points at a server that is down
    _mailbox(rep, _free_port())
    deal = _deal(rep)

    # When the outbox tries to send
    _post(rep_client, "deal", deal)
    assert outbox_send_queued() == 0

    # Then the message waits for a retry and the record says why
    row = OutboundEmail.objects.get()
    assert row.status == OutboxStatus.QUEUED and row.next_attempt_at > timezone.now()
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert "Retrying:" in page


def test_a_refused_password_fails_at_once_with_the_servers_reason(rep_client, rep, own_smtp):
    # Given a seller whose mailbox password no longer works on their server
    mailbox = _mailbox(rep, own_smtp.port)
    mailbox.smtp_password = "old-password"
    mailbox.save()
    deal = _deal(rep)

    # When the outbox sends
    _post(rep_client, "deal", deal)
    assert outbox_send_queued() == 0

    # Then nothing left, the email failed (no retry of a refused password) and the record says why
    assert not own_smtp.messages
    row = OutboundEmail.objects.get()
    assert row.status == OutboxStatus.FAILED
    assert "535" in row.last_error
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert 'data-status="failed"' in page
    assert "535" in page


def test_an_oauth_mailbox_without_its_provider_set_up_is_refused_clearly(rep_client, rep):
    mailbox = _mailbox(rep, 2525)
    mailbox.auth_method = "google"
    mailbox.save()
    deal = _deal(rep)

    response = _post(rep_client, "deal", deal)

    assert response.status_code == 400
    assert "OAuth2" in response.content.decode()
    assert not OutboundEmail.objects.exists()


# --- send later ------------------------------------------------------------------------------


def test_send_later_waits_for_its_time_then_goes(rep_client, rep):
    # Given an email scheduled for in two hours
    deal = _deal(rep)
    at = timezone.localtime() + timedelta(hours=2)
    response = _post(rep_client, "deal", deal, send_at=at.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 302
    composed = ComposedEmail.objects.select_related("outbox").get()

    # When the outbox task and the sweep run now, nothing leaves and the record shows it scheduled
    assert outbox_send_queued_task.apply().get() == 0
    assert work_sweep_task.apply().successful()
    assert not mail.outbox
    composed.outbox.refresh_from_db()
    assert composed.outbox.status == OutboxStatus.QUEUED
    assert composed.status == "scheduled"
    assert 'data-status="scheduled"' in rep_client.get(deal.get_absolute_url()).content.decode()

    # When the task runs after its time, it is sent
    later = timezone.now() + timedelta(hours=3)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert outbox_send_queued_task.apply().get() == 1
    assert len(mail.outbox) == 1
    composed.outbox.refresh_from_db()
    assert composed.status == "sent"


def test_a_scheduled_email_is_cancelled_from_the_record(rep_client, rep, rep2, client):
    # Given a scheduled email
    deal = _deal(rep)
    at = timezone.localtime() + timedelta(hours=2)
    _post(rep_client, "deal", deal, send_at=at.strftime("%Y-%m-%dT%H:%M"))
    composed = ComposedEmail.objects.get()
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    cancel_url = reverse("composed_email_cancel", args=[composed.pk])
    assert cancel_url in page

    # When another rep tries to cancel it, it is not theirs to see
    client.force_login(rep2)
    assert client.post(cancel_url).status_code == 404

    # When its sender cancels it
    client.force_login(rep)
    response = client.post(cancel_url)

    # Then it never leaves, even after its time
    assert response.status_code == 302
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(days=1)):
        assert outbox_send_queued() == 0
    assert not mail.outbox
    composed.refresh_from_db()
    assert composed.status == "cancelled"
    assert composed.outbox.status == OutboxStatus.CANCELLED
    # And a sent email cannot be cancelled
    _post(rep_client, "deal", deal)
    outbox_send_queued()
    sent = ComposedEmail.objects.exclude(pk=composed.pk).get()
    assert service.composed_email_cancel(composed=sent) is False


# --- consent ---------------------------------------------------------------------------------


def test_a_contact_who_said_no_to_email_is_refused(rep_client, rep):
    # Given a contact who withdrew their email consent
    deal = _deal(rep, email="no@buyer.example")
    contact = deal.primary_contact
    consent_record(record=contact, consent="email_consent", given=False)

    # When the seller writes to them, or copies them
    direct = _post(rep_client, "deal", deal, to_email="no@buyer.example")
    copied = _post(rep_client, "deal", deal, to_email="yes@buyer.example", cc="no@buyer.example")

    # Then the form says why and nothing is queued
    assert direct.status_code == 400
    assert "no@buyer.example said no to email" in direct.content.decode()
    assert copied.status_code == 400
    assert not OutboundEmail.objects.exists()


def test_an_unsubscribed_lead_is_refused(rep_client, rep):
    lead = LeadFactory(owner=rep, email="gone@lead.example", unsubscribed_at=timezone.now())

    response = _post(rep_client, "lead", lead, to_email="gone@lead.example")

    assert response.status_code == 400
    assert "said no to email" in response.content.decode()
    assert not OutboundEmail.objects.exists()


def test_a_lead_can_be_written_to_from_its_page(rep_client, rep):
    lead = LeadFactory(owner=rep, first_name="Lia", email="lia@lead.example")
    page = rep_client.get(lead.get_absolute_url()).content.decode()
    assert reverse("compose", args=["lead", lead.pk]) in page

    response = _post(
        rep_client, "lead", lead, to_email="lia@lead.example", body="Hi {{ lead.first_name }}"
    )

    assert response.status_code == 302
    assert ComposedEmail.objects.get().body == "Hi Lia"


# --- tracking --------------------------------------------------------------------------------


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]+)"', html)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_opens_and_clicks_are_counted_when_the_contact_consented(rep_client, rep):
    # Given a contact who gave their email consent
    deal = _deal(rep, email_consent=True, email_consent_at=timezone.now())
    _post(rep_client, "deal", deal, body="Our offer: https://example.com/offer?a=1&b=2")
    composed = ComposedEmail.objects.get()
    assert composed.tracked
    html = composed.outbox.body_html
    click, pixel = _links(html)
    assert "/mail/c/" in click and "/mail/o/" in pixel
    assert "example.com/offer" not in composed.outbox.body_text.split("Our offer: ")[1][:30]

    # When the recipient opens the email and clicks the link
    visitor = Client()
    opened = visitor.get(_path(pixel))
    clicked = visitor.get(_path(click.replace("&amp;", "&")))

    # Then both are counted, and the click goes to the address that was in the email
    assert opened.status_code == 200 and opened["Content-Type"] == "image/gif"
    assert clicked.status_code == 302
    assert clicked["Location"] == "https://example.com/offer?a=1&b=2"
    composed.refresh_from_db()
    assert composed.open_count == 1 and composed.click_count == 1
    assert composed.first_opened_at and composed.first_clicked_at
    outbox_send_queued()
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert 'data-status="clicked"' in page


def test_nothing_is_tracked_without_consent(rep_client, rep):
    # Given a contact who never gave email consent (but did not say no)
    deal = _deal(rep)
    _post(rep_client, "deal", deal, body="See https://example.com/offer")
    composed = ComposedEmail.objects.get()

    # Then the email has no pixel and its link is the plain address
    assert not composed.tracked
    assert _links(composed.outbox.body_html) == ["https://example.com/offer"]
    assert "https://example.com/offer" in composed.outbox.body_text
    # And even a valid token for it counts nothing
    Client().get(reverse("mail_open", args=[service.open_token(composed.pk)]))
    composed.refresh_from_db()
    assert composed.open_count == 0 and composed.first_opened_at is None


def test_tracking_is_off_with_the_setting(rep_client, rep, settings):
    settings.MAIL_TRACKING = False
    deal = _deal(rep, email_consent=True, email_consent_at=timezone.now())
    _post(rep_client, "deal", deal)
    assert not ComposedEmail.objects.get().tracked


def test_the_click_redirect_refuses_tampered_tokens(rep, rep_client):
    deal = _deal(rep, email_consent=True, email_consent_at=timezone.now())
    _post(rep_client, "deal", deal, body="https://example.com/")
    composed = ComposedEmail.objects.get()
    good = service.click_token(composed.pk, "https://example.com/")
    # the same payload pointing elsewhere, signed by nobody
    forged = good.replace(good.split(":")[0], good.split(":")[0][::-1])
    open_token = service.open_token(composed.pk)  # an open token is no click token

    client = Client()
    for token in (forged, open_token, "https%3A%2F%2Fevil.example", good[:-2]):
        response = client.get(reverse("mail_click", args=[token]))
        assert response.status_code == 400
        assert not response.has_header("Location")
    assert client.get(reverse("mail_open", args=["nonsense"])).status_code == 404
    composed.refresh_from_db()
    assert composed.click_count == 0


# --- who may write from what -----------------------------------------------------------------


def test_another_reps_deal_cannot_be_written_from(client, rep, rep2):
    deal = _deal(rep)
    client.force_login(rep2)

    assert client.get(reverse("compose", args=["deal", deal.pk])).status_code == 404
    assert _post(client, "deal", deal).status_code == 404
    assert client.get(reverse("compose", args=["ticket", deal.pk])).status_code == 404
    assert not OutboundEmail.objects.exists()


# --- template pages --------------------------------------------------------------------------


def test_a_template_with_an_unknown_field_is_a_form_error(rep_client):
    response = rep_client.post(
        reverse("email_template_create"),
        {
            "name": "Intro",
            "subject": "Hi {{ contact.nickname }}",
            "body": "{% load static %}{{ contact.first_name }}",
            "sharing": "private",
        },
    )

    assert response.status_code == 400
    text = response.content.decode()
    assert "Unknown merge field “contact.nickname”" in text
    assert "Only merge fields" in text
    assert not EmailTemplate.objects.exists()


def test_a_template_is_saved_edited_and_archived(rep_client, rep):
    response = rep_client.post(
        reverse("email_template_create"),
        {
            "name": "Intro",
            "subject": "Hi {{ contact.first_name }}",
            "body": 'Hello {{ contact.first_name|default:"there" }}',
            "sharing": "team",
        },
    )
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert template.owner == rep and template.sharing == TemplateSharing.TEAM

    rep_client.post(
        reverse("email_template_edit", args=[template.pk]),
        {"name": "Intro 2", "subject": "Hi", "body": "Hello", "sharing": "private"},
    )
    rep_client.post(reverse("email_template_archive", args=[template.pk]))
    template.refresh_from_db()
    assert template.name == "Intro 2" and template.archived_at is not None
    row_link = f'href="{reverse("email_template_edit", args=[template.pk])}"'
    listing = rep_client.get(reverse("email_template_list")).content.decode()
    assert row_link not in listing
    archived = rep_client.get(reverse("email_template_list") + "?state=archived")
    assert row_link in archived.content.decode()


def test_reps_cannot_share_with_everyone_managers_can(client, rep, manager):
    data = {"name": "All", "subject": "s", "body": "b", "sharing": "all"}
    client.force_login(rep)
    assert client.post(reverse("email_template_create"), data).status_code == 400
    client.force_login(manager)
    assert client.post(reverse("email_template_create"), data).status_code == 302


def test_templates_offered_follow_sharing(rep, rep2, manager, admin):
    mine = EmailTemplateFactory(owner=rep)
    teams = EmailTemplateFactory(owner=rep2, sharing=TemplateSharing.TEAM)
    private = EmailTemplateFactory(owner=rep2)
    everyone = EmailTemplateFactory(owner=admin, sharing=TemplateSharing.ALL)
    EmailTemplateFactory(owner=rep, archived_at=timezone.now())

    offered = set(EmailTemplate.objects.visible_to(rep).active())

    assert offered == {mine, teams, everyone}
    assert private not in offered
    assert private in EmailTemplate.objects.visible_to(manager)


def test_template_list_query_count_does_not_grow(rep_client, rep, django_assert_max_num_queries):
    for _ in range(3):
        EmailTemplateFactory(owner=rep)
    with django_assert_max_num_queries(12) as few:
        assert rep_client.get(reverse("email_template_list")).status_code == 200
    for _ in range(20):
        EmailTemplateFactory(owner=rep)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert rep_client.get(reverse("email_template_list")).status_code == 200


def test_signature_is_saved(rep_client, rep):
    rep_client.post(reverse("email_signature"), {"signature": "Rita\nSales"})
    rep.refresh_from_db()
    assert rep.email_signature == "Rita\nSales"


def test_merge_render_escapes_nothing_and_defaults_empty_values():
    values = {"contact": {"first_name": ""}, "user": {"first_name": "<b>"}}
    text = '{{ contact.first_name|default:"there" }} {{user.first_name}}'
    assert service.merge_render(text, values) == "there <b>"
    assert service.merge_errors("{{ contact.first_name }} {{ foo }}") == [
        "“{{ foo }}” is not a merge field."
    ]
    assert service.merge_errors("{{ contact.first_name") != []
    html = service.body_html("<b>hi</b> https://e.example/x.\n\nbye")
    assert html == (
        '<p>&lt;b&gt;hi&lt;/b&gt; <a href="https://e.example/x">https://e.example/x</a>.</p>'
        "<p>bye</p>"
    )


def test_a_disallowed_attachment_is_a_form_error(rep_client, rep):
    deal = _deal(rep)
    response = _post(
        rep_client,
        "deal",
        deal,
        attachments=[SimpleUploadedFile("run.exe", b"MZ\x00\x00\x90", content_type="text/plain")],
    )
    assert response.status_code == 400
    assert "not an allowed file type" in response.content.decode()
    assert not OutboundEmail.objects.exists()


def test_an_account_offers_its_contacts_and_no_template_keeps_the_text(rep_client, rep):
    # Given an account with two contacts, one without an address
    deal = _deal(rep)
    ContactFactory(account=deal.account, owner=rep, email="second@buyer.example")
    ContactFactory(account=deal.account, owner=rep, email="")

    # When the seller writes from the account
    page = rep_client.get(reverse("compose", args=["account", deal.account.pk])).content.decode()
    unchanged = rep_client.get(
        reverse("compose_template", args=["account", deal.account.pk]), {"template": ""}
    )

    # Then both addresses are offered, and choosing no template swaps nothing
    options = re.findall(r'<option value="([^"]+@[^"]+)"', page)
    assert sorted(options) == ["ada@buyer.example", "second@buyer.example"]
    assert unchanged.status_code == 204


def test_a_scheduled_email_is_not_sent_to_someone_who_said_no_meanwhile(rep_client, rep):
    # Given an email scheduled to a contact
    deal = _deal(rep)
    at = timezone.localtime() + timedelta(hours=2)
    _post(rep_client, "deal", deal, send_at=at.strftime("%Y-%m-%dT%H:%M"))

    # When the contact withdraws their email consent before it leaves
    consent_record(record=deal.primary_contact, consent="email_consent", given=False)
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=3)):
        assert outbox_send_queued() == 0

    # Then it is not sent, and the record says why
    assert not mail.outbox
    row = OutboundEmail.objects.get()
    assert row.status == OutboxStatus.FAILED
    assert "said no to email" in row.last_error
    assert 'data-status="failed"' in rep_client.get(deal.get_absolute_url()).content.decode()


def test_the_sent_copy_synced_back_from_the_mailbox_adds_no_second_line(rep_client, rep):
    from django.contrib.contenttypes.models import ContentType

    from crm.mail.imports import mail_message_import
    from tests.crm.mail_messages import raw_mail

    # Given an email written from a deal and sent
    rep.email = "rita@crm.example"
    rep.save(update_fields=["email"])
    deal = _deal(rep)
    _post(rep_client, "deal", deal, subject="Offer", body="Hi")
    outbox_send_queued()
    composed = ComposedEmail.objects.get()
    mailbox = Mailbox.objects.create(user=rep, email_address="rita@crm.example")

    # When its copy in the seller's Sent folder is synced
    sent_copy = raw_mail(
        sender="rita@crm.example",
        to="ada@buyer.example",
        subject="Offer",
        message_id=outbox_message_id(composed.outbox),
    )
    result = mail_message_import(mailbox=mailbox, raw=sent_copy)

    # Then the deal keeps its one Email line, now opening the conversation
    assert deal in result.linked
    lines = Activity.objects.for_object(deal).filter(kind=ActivityKind.EMAIL)
    assert list(lines) == [composed.activity]
    deal_type = ContentType.objects.get_for_model(deal)
    link = result.mail.links.get(content_type=deal_type, object_id=deal.pk)
    assert link.activity == composed.activity
