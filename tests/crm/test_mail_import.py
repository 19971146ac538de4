import threading
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from crm.choices import ActivityKind, MailDirection, Role
from crm.mail.imports import DUPLICATE, IMPORTED, SKIPPED, mail_message_import
from crm.models import Activity, Mailbox, MailLink, MailMessage, MailThread
from crm.services.outbox import email_queue, outbox_message_id
from leads.choices import EnrollmentState, EnrollmentStopReason
from tests.crm.mail_messages import raw_mail
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.leads import EnrollmentFactory, LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named


@pytest.fixture
def mailbox(rep):
    return Mailbox.objects.create(user=rep, email_address="rep@example.com")


@pytest.fixture
def customer(rep):
    account = AccountFactory(name="Acme", owner=rep)
    return ContactFactory(email="ann@acme.test", account=account, owner=rep)


def email_lines(record):
    ct = ContentType.objects.get_for_model(record)
    return Activity.objects.filter(content_type=ct, object_id=record.pk, kind=ActivityKind.EMAIL)


def test_a_customer_email_is_stored_on_the_contact_and_its_account(mailbox, customer):
    raw = raw_mail(sender="Ann <ann@acme.test>", to="rep@example.com", subject="Hello")

    result = mail_message_import(mailbox=mailbox, raw=raw)

    assert result.status == IMPORTED
    mail = result.mail
    assert mail.direction == MailDirection.INBOUND
    assert mail.from_email == "ann@acme.test"
    assert mail.body_text == "Thanks, that looks good."
    assert set(result.linked) == {customer, customer.account}
    assert email_lines(customer).get().summary == "Email from Ann: Hello"
    assert email_lines(customer.account).count() == 1


def test_a_sent_email_is_outbound(mailbox, customer):
    raw = raw_mail(sender="rep@example.com", to="ann@acme.test")

    mail = mail_message_import(mailbox=mailbox, raw=raw).mail

    assert mail.direction == MailDirection.OUTBOUND
    assert email_lines(customer).get().actor == mailbox.user


def test_the_same_message_twice_is_stored_once_with_one_line_per_record(mailbox, customer, rep2):
    raw = raw_mail(sender="ann@acme.test", to="rep@example.com, rep2@example.com")
    other = Mailbox.objects.create(user=rep2, email_address="rep2@example.com")

    first = mail_message_import(mailbox=mailbox, raw=raw)
    again = mail_message_import(mailbox=mailbox, raw=raw)
    seen_elsewhere = mail_message_import(mailbox=other, raw=raw)

    assert (first.status, again.status, seen_elsewhere.status) == (IMPORTED, DUPLICATE, DUPLICATE)
    assert MailMessage.objects.count() == 1
    assert MailLink.objects.count() == 2
    assert email_lines(customer).count() == 1
    assert set(first.mail.seen_by.all()) == {mailbox.user, rep2}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_imports_of_one_message_store_it_once():
    rep = UserFactory(username="rep", roles=[Role.SALES_REP])
    rep2 = UserFactory(username="rep2", roles=[Role.SALES_REP])
    boxes = [
        Mailbox.objects.create(user=rep, email_address="rep@example.com"),
        Mailbox.objects.create(user=rep2, email_address="rep2@example.com"),
    ]
    contact = ContactFactory(email="ann@acme.test", account=AccountFactory(owner=rep))
    raw = raw_mail(sender="ann@acme.test", to="rep@example.com, rep2@example.com")
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run(box):
        try:
            barrier.wait(timeout=10)
            results.append(mail_message_import(mailbox=box, raw=raw).status)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(results) == [DUPLICATE, IMPORTED]
    assert MailMessage.objects.count() == 1
    assert MailLink.objects.count() == 2
    assert email_lines(contact).count() == 1


def test_a_reply_to_an_email_sent_from_a_deal_is_threaded_to_the_deal(mailbox, customer, rep):
    deal = OpportunityFactory(owner=rep, account=AccountFactory(owner=rep, name="Other"))
    sent = email_queue(
        to_email="ann@acme.test",
        subject="Proposal",
        body_text="Here it is.",
        related=deal,
        idempotency_key="proposal-1",
    )
    sent_id = outbox_message_id(sent)
    sent_copy = raw_mail(  # the copy in the seller's Sent folder
        sender="rep@example.com", to="ann@acme.test", subject="Proposal", message_id=sent_id
    )
    assert deal in mail_message_import(mailbox=mailbox, raw=sent_copy).linked
    raw = raw_mail(
        sender="ann@acme.test",
        to="rep@example.com",
        subject="Re: Proposal",
        message_id="<reply1@acme.test>",
        in_reply_to=sent_id,
        references=sent_id,
    )

    result = mail_message_import(mailbox=mailbox, raw=raw)

    assert deal in result.linked
    assert email_lines(deal).count() == 2
    assert result.mail.thread.root_message_id == sent_id
    later = raw_mail(
        sender="rep@example.com",
        to="ann@acme.test",
        subject="Re: Proposal",
        message_id="<reply2@example.com>",
        in_reply_to="<reply1@acme.test>",
        references=f"{sent_id} <reply1@acme.test>",
    )
    assert mail_message_import(mailbox=mailbox, raw=later).mail.thread == result.mail.thread
    assert MailThread.objects.count() == 1


def test_email_goes_on_the_contacts_open_deal_not_on_closed_ones(mailbox, customer, rep):
    open_deal = OpportunityFactory(owner=rep, account=customer.account, primary_contact=customer)
    lost = OpportunityFactory(
        owner=rep,
        account=customer.account,
        primary_contact=customer,
        stage=stage_named("Closed lost"),
    )

    result = mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="ann@acme.test", to="rep@example.com")
    )

    assert open_deal in result.linked
    assert lost not in result.linked


def test_an_excluded_domain_is_skipped(mailbox, settings):
    settings.MAIL_EXCLUDED_DOMAINS = ["acme.test"]
    ContactFactory(email="ann@acme.test")

    result = mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="ann@acme.test", to="rep@example.com")
    )

    assert (result.status, result.reason) == (SKIPPED, "excluded domain")
    assert not MailMessage.objects.exists()


def test_a_private_message_is_never_stored(mailbox, customer):
    raw = raw_mail(sender="ann@acme.test", to="rep@example.com")

    result = mail_message_import(mailbox=mailbox, raw=raw, private=True)

    assert (result.status, result.reason) == (SKIPPED, "private")
    assert not MailMessage.objects.exists()


def test_mail_with_strangers_or_colleagues_only_is_not_stored(mailbox, rep2):
    with_stranger = raw_mail(sender="bob@unknown.test", to="rep@example.com")
    internal = raw_mail(sender="rep2@example.com", to="rep@example.com", message_id="<i@x>")

    assert mail_message_import(mailbox=mailbox, raw=with_stranger).reason == "no known record"
    assert mail_message_import(mailbox=mailbox, raw=internal).reason == "internal"
    assert not MailMessage.objects.exists()


def test_an_oversized_message_is_skipped(mailbox, customer, settings):
    settings.MAIL_IMPORT_MAX_BYTES = 100

    result = mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="ann@acme.test", to="rep@example.com")
    )

    assert (result.status, result.reason) == (SKIPPED, "too large")


def test_an_html_only_email_is_stored_as_text_and_sanitised_html(mailbox, customer):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "ann@acme.test"
    message["To"] = "rep@example.com"
    message["Subject"] = "Rich"
    message["Message-ID"] = "<rich@acme.test>"
    message.set_content(
        "<p>Hello <b>there</b></p><script>alert(1)</script><p>Second&amp;line</p>",
        subtype="html",
    )

    mail = mail_message_import(mailbox=mailbox, raw=message.as_bytes()).mail

    assert mail.body_text == "Hello there\nSecond&line"
    assert "<script" not in mail.body_html
    assert "<b>there</b>" in mail.body_html


def test_a_lead_reply_marks_it_replied_and_stops_its_sequences(mailbox, rep):
    lead = LeadFactory(email="lena@prospect.test", owner=rep)
    enrollment = EnrollmentFactory(lead=lead)

    result = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(sender="lena@prospect.test", to="rep@example.com"),
    )

    assert lead in result.linked
    lead.refresh_from_db()
    enrollment.refresh_from_db()
    assert lead.replied_at == result.mail.sent_at
    assert enrollment.state == EnrollmentState.STOPPED
    assert enrollment.stop_reason == EnrollmentStopReason.REPLIED
    # again: nothing new
    mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="lena@prospect.test", to="rep@example.com")
    )
    assert Activity.objects.filter(summary="Lead replied").count() == 1


def test_a_reply_from_a_contact_stops_the_sequence_of_the_lead_it_came_from(mailbox, rep):
    contact = ContactFactory(email="carl@client.test", owner=rep)
    lead = LeadFactory(email="carl@client.test", owner=rep, converted_contact=contact)
    lead.created_at = timezone.now() - timedelta(days=3)
    enrollment = EnrollmentFactory(lead=lead)

    mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="carl@client.test", to="rep@example.com")
    )

    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.STOPPED


def test_our_own_email_to_a_lead_is_not_a_reply(mailbox, rep):
    lead = LeadFactory(email="lena@prospect.test", owner=rep)
    enrollment = EnrollmentFactory(lead=lead)

    mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="rep@example.com", to="lena@prospect.test")
    )

    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE


def test_broken_mail_is_stored_as_far_as_it_can_be_read(mailbox, customer):
    long_reference = "<" + "x" * 1200 + "@long.test>"
    raw = (
        "From: Ann <ann@acme.test>\r\n"
        "To: rep@example.com\r\n"
        "Subject: Odd\x00 one\r\n"
        "Message-ID: <odd@acme.test>\r\n"
        f"References: {long_reference} <ok@acme.test>\r\n"
        "Date: not a date\r\n"
        "Content-Type: text/plain; charset=no-such-charset\r\n\r\n"
        "Hello\x00 there\r\n"
    ).encode()

    mail = mail_message_import(mailbox=mailbox, raw=raw).mail

    assert mail.subject == "Odd one"
    assert mail.body_text == "Hello there"
    assert mail.references == ["<ok@acme.test>"]


def test_a_message_without_a_sender_is_skipped(mailbox):
    result = mail_message_import(mailbox=mailbox, raw=b"Subject: nobody\r\n\r\nhi\r\n")

    assert (result.status, result.reason) == (SKIPPED, "unreadable")


def test_a_reply_without_headers_joins_the_conversation_of_the_same_people_only(mailbox, customer):
    ContactFactory(email="bob@other.test")
    first = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(sender="rep@example.com", to="ann@acme.test", subject="Quote"),
    ).mail
    reply = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(
            sender="ann@acme.test", to="rep@example.com", subject="RE: Quote", message_id="<r@a>"
        ),
    ).mail
    stranger = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(
            sender="bob@other.test", to="rep@example.com", subject="Re: Quote", message_id="<b@o>"
        ),
    ).mail
    not_a_reply = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(
            sender="ann@acme.test", to="rep@example.com", subject="Quote", message_id="<n@a>"
        ),
    ).mail

    assert reply.thread == first.thread
    assert stranger.thread != first.thread
    assert not_a_reply.thread != first.thread
