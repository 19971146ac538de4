"""Reading imported email: the line on a record's timeline opens the conversation; who may
read it; and emails following their records through merges and conversions."""

import html

import pytest
from django.urls import reverse

from crm.mail.imports import mail_message_import
from crm.models import Activity, Mailbox, MailLink, MailMessage
from crm.registry import inbound_mail_handlers
from crm.services.customer_merges import contact_merge
from leads.services.leads import lead_convert
from tests.crm.mail_messages import raw_mail
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory


@pytest.fixture
def mailbox(rep):
    return Mailbox.objects.create(user=rep, email_address=rep.email)


@pytest.fixture
def customer(rep):
    return ContactFactory(
        email="ann@acme.test", account=AccountFactory(name="Acme", owner=rep), owner=rep
    )


def _conversation(mailbox):
    first = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(
            sender="Ann <ann@acme.test>",
            to=mailbox.email_address,
            subject="Start date",
            body="Can we start in May?",
            message_id="<q1@acme.test>",
            html="<p>Can we start in <b>May</b>?</p><script>alert(1)</script>",
        ),
    ).mail
    reply = mail_message_import(
        mailbox=mailbox,
        raw=raw_mail(
            sender=mailbox.email_address,
            to="ann@acme.test",
            subject="Re: Start date",
            body="May works.",
            message_id="<r1@example.com>",
            in_reply_to="<q1@acme.test>",
            references="<q1@acme.test>",
        ),
    ).mail
    return first, reply


def test_the_timeline_line_opens_the_conversation(
    mailbox, customer, rep_client, django_assert_max_num_queries
):
    first, reply = _conversation(mailbox)

    contact_page = rep_client.get(customer.get_absolute_url()).content.decode()
    assert reverse("mail_message_detail", args=[first.pk]) in contact_page
    with django_assert_max_num_queries(20):
        page = rep_client.get(reverse("mail_message_detail", args=[first.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "May works." in text  # the reply, in the same conversation
    assert customer.get_absolute_url() in text and "Acme" in text
    # The HTML body is shown only inside a sandboxed frame, sanitised, and never as markup.
    assert "<script>alert(1)</script>" not in text
    srcdoc = html.unescape(text.split('srcdoc="')[1].split('"')[0])
    assert "<b>May</b>" in srcdoc and "<script" not in srcdoc


def test_a_long_conversation_page_does_not_grow_its_queries(
    mailbox, customer, rep_client, django_assert_max_num_queries
):
    first, _ = _conversation(mailbox)
    for n in range(10):
        mail_message_import(
            mailbox=mailbox,
            raw=raw_mail(
                sender="ann@acme.test",
                to=mailbox.email_address,
                message_id=f"<more{n}@acme.test>",
                references="<q1@acme.test>",
                in_reply_to="<q1@acme.test>",
            ),
        )

    with django_assert_max_num_queries(20):
        page = rep_client.get(reverse("mail_message_detail", args=[first.pk]))
    assert page.content.decode().count('class="card mb-3') == 12


def test_a_user_who_may_see_no_linked_record_gets_404(mailbox, rep, client):
    from crm.choices import Role
    from tests.factories.crm import UserFactory

    lead = LeadFactory(email="lena@prospect.test", owner=rep)
    mail = mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="lena@prospect.test", to=rep.email)
    ).mail
    assert list(mail.links.values_list("object_id", flat=True)) == [lead.pk]
    other = UserFactory(username="other", roles=[Role.SALES_REP])
    nobody = UserFactory(username="norole")

    for user, status in ((other, 404), (nobody, 404), (rep, 200)):
        client.force_login(user)
        assert client.get(reverse("mail_message_detail", args=[mail.pk])).status_code == status


def test_a_contact_merge_moves_its_emails_once(mailbox, customer, rep):
    twin = ContactFactory(email="ann.private@home.test", account=customer.account, owner=rep)
    both = raw_mail(
        sender="ann@acme.test", to=f"{rep.email}, ann.private@home.test", message_id="<both@x>"
    )
    only_twin = raw_mail(sender="ann.private@home.test", to=rep.email, message_id="<twin@x>")
    mail_message_import(mailbox=mailbox, raw=both)
    mail_message_import(mailbox=mailbox, raw=only_twin)

    contact_merge(keep=customer, merge=twin, user=rep)

    ids = MailLink.objects.filter(object_id=customer.pk, content_type__model="contact")
    assert sorted(ids.values_list("message__message_id", flat=True)) == ["<both@x>", "<twin@x>"]
    assert not MailLink.objects.filter(object_id=twin.pk, content_type__model="contact").exists()


def test_a_converted_lead_takes_its_emails_to_the_contact(mailbox, rep):
    lead = LeadFactory(email="lena@prospect.test", owner=rep)
    mail_message_import(mailbox=mailbox, raw=raw_mail(sender="lena@prospect.test", to=rep.email))

    contact = lead_convert(lead=lead, user=rep).contact

    link = MailLink.objects.get(content_type__model="contact", object_id=contact.pk)
    assert link.activity.object_id == contact.pk
    assert (
        Activity.objects.for_object(contact).filter(summary__startswith="Email from").count() == 1
    )


def test_inbound_handlers_see_each_stored_message_once(mailbox, customer):
    seen = []

    def handler(*, message, mailbox):
        seen.append((message["Message-ID"], mailbox))

    def broken(*, message, mailbox):
        raise RuntimeError("a bug in a handler")

    inbound_mail_handlers.register(broken)
    inbound_mail_handlers.register(handler)
    try:
        raw = raw_mail(sender="ann@acme.test", to=mailbox.email_address, message_id="<h@x>")
        mail_message_import(mailbox=mailbox, raw=raw)
        mail_message_import(mailbox=mailbox, raw=raw)
        mail_message_import(
            mailbox=mailbox, raw=raw_mail(sender="ann@acme.test", to="x@y.test"), private=True
        )
    finally:
        inbound_mail_handlers._funcs.remove(broken)
        inbound_mail_handlers._funcs.remove(handler)

    assert seen == [("<h@x>", mailbox)]
    assert MailMessage.objects.count() == 1  # a failing handler leaves the import standing


def test_a_trashed_contact_takes_its_email_links_and_brings_them_back(mailbox, customer, rep):
    from crm.services.trash import trash_delete, trash_restore

    mail = mail_message_import(
        mailbox=mailbox, raw=raw_mail(sender="ann@acme.test", to=rep.email)
    ).mail
    link = mail.links.get(content_type__model="contact")

    entry = trash_delete(obj=customer, user=rep)
    assert not MailLink.objects.filter(pk=link.pk).exists()
    trash_restore(entry=entry, user=rep)

    restored = MailLink.objects.get(pk=link.pk)
    assert restored.activity_id == link.activity_id
    assert restored.activity.object_id == customer.pk


def test_inbound_handlers_also_see_mail_among_colleagues_but_not_excluded_domains(
    mailbox, rep2, settings
):
    settings.MAIL_EXCLUDED_DOMAINS = ["private.test"]
    seen = []

    def handler(*, message, mailbox):
        seen.append(message["Message-ID"])

    inbound_mail_handlers.register(handler)
    try:
        for sender, message_id in ((rep2.email, "<colleague@x>"), ("a@private.test", "<ex@x>")):
            raw = raw_mail(sender=sender, to=mailbox.email_address, message_id=message_id)
            mail_message_import(mailbox=mailbox, raw=raw)
    finally:
        inbound_mail_handlers._funcs.remove(handler)

    assert seen == ["<colleague@x>"]
    assert not MailMessage.objects.exists()


def test_a_timeline_links_its_email_entries_to_their_messages_in_its_one_query(
    mailbox, customer, django_assert_num_queries
):
    """Given a contact whose timeline has a note and stored emails, its entries are one query,
    each Email entry with the address of its message."""
    from crm.choices import ActivityKind
    from crm.views.records import timeline_entries
    from tests.factories.crm import ActivityFactory

    ActivityFactory(subject=customer, kind=ActivityKind.NOTE, summary="Called back")
    first, reply = _conversation(mailbox)
    with django_assert_num_queries(1):
        entries = timeline_entries(customer)
    assert "Called back" in [entry.summary for entry in entries]
    urls = {entry.mail_url for entry in entries if entry.kind == ActivityKind.EMAIL}
    assert urls == {
        reverse("mail_message_detail", args=[first.pk]),
        reverse("mail_message_detail", args=[reply.pk]),
    }
