"""The logging address's system mailbox, read over IMAP from a real local server (dovecot,
``tests/mailserver.py``): each message once, resuming after the last one imported."""

import pytest
from django.utils import timezone

from crm.mail.logging_address import (
    logging_address_of,
    mail_logging_address_get,
    mail_logging_poll,
)
from crm.models import MailLoggingCheckpoint, MailMessage
from tests.crm.mail_messages import raw_mail
from tests.factories.crm import AccountFactory, ContactFactory

pytest.importorskip("tests.mailserver", reason="the local IMAP server of the mailbox tests")
pytestmark = pytest.mark.django_db


@pytest.fixture
def system_mailbox(mailserver, settings):
    box = mailserver.add_user()
    password = mailserver.passwords[box]
    settings.MAIL_LOGGING_ADDRESS = "crm-log@example.com"
    settings.MAIL_LOGGING_IMAP_URL = f"imap://{box.replace('@', '%40')}:{password}@{mailserver.host}:{mailserver.imap_port}/INBOX"
    return box


def test_the_poll_imports_each_logged_message_once_and_resumes(mailserver, system_mailbox, rep):
    address = logging_address_of(mail_logging_address_get(user=rep))
    contact = ContactFactory(email="ann@acme.test", account=AccountFactory(owner=rep))
    first = raw_mail(
        sender=rep.email, to="ann@acme.test", message_id="<a@x>", headers={"Delivered-To": address}
    )
    spoofed = raw_mail(
        sender="mallory@evil.test",
        to="ann@acme.test",
        message_id="<b@x>",
        headers={"Delivered-To": address},
    )
    mailserver.append(system_mailbox, first)
    mailserver.append(system_mailbox, spoofed)

    counts = mail_logging_poll()

    assert counts == {"imported": 1, "skipped": 1, "failed": 0}
    assert list(MailMessage.objects.values_list("message_id", flat=True)) == ["<a@x>"]
    assert MailMessage.objects.get().links.filter(object_id=contact.pk).exists()
    checkpoint = MailLoggingCheckpoint.objects.get(folder="INBOX")
    assert checkpoint.last_error == "" and checkpoint.lease_owner == ""
    assert checkpoint.last_polled_at <= timezone.now()

    assert mail_logging_poll() == {"imported": 0, "skipped": 0, "failed": 0}
    later = raw_mail(
        sender=rep.email, to="ann@acme.test", message_id="<c@x>", headers={"Delivered-To": address}
    )
    mailserver.append(system_mailbox, later)
    assert mail_logging_poll() == {"imported": 1, "skipped": 0, "failed": 0}
    assert MailMessage.objects.count() == 2


def test_a_checkpoint_lost_with_the_folder_reimports_without_doubles(
    mailserver, system_mailbox, rep
):
    address = logging_address_of(mail_logging_address_get(user=rep))
    ContactFactory(email="ann@acme.test")
    mailserver.append(
        system_mailbox,
        raw_mail(sender=rep.email, to="ann@acme.test", headers={"Delivered-To": address}),
    )
    mail_logging_poll()
    MailLoggingCheckpoint.objects.update(uid_validity=1, last_uid=0)  # the folder was recreated

    assert mail_logging_poll()["imported"] == 1  # read again, stored once
    assert MailMessage.objects.count() == 1


def test_a_wrong_password_is_shown_to_operators(mailserver, system_mailbox, settings):
    from crm.mail.logging_address import mail_logging_problems

    settings.MAIL_LOGGING_IMAP_URL = settings.MAIL_LOGGING_IMAP_URL.replace(":pw-", ":wrong-")

    assert mail_logging_poll() == {"imported": 0, "skipped": 0, "failed": 0}

    [problem] = mail_logging_problems(10)
    assert "INBOX" in problem.title and problem.detail


def test_nothing_happens_without_a_logging_mailbox(settings):
    settings.MAIL_LOGGING_IMAP_URL = ""

    assert mail_logging_poll() == {"imported": 0, "skipped": 0, "failed": 0}
    assert not MailLoggingCheckpoint.objects.exists()
