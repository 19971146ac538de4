"""The periodic sync of a connected mailbox, against a real IMAP server (dovecot)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import MailDirection, MailSyncStatus
from crm.mail import imports
from crm.mail.sync import (
    imap_date,
    mailbox_sync,
    mailbox_sync_problems,
    mailbox_sync_retry,
    mailbox_sync_sweep,
    mailboxes_sync_due,
)
from crm.models import Mailbox, MailboxFolder, MailMessage, Notification
from crm.work import lease_take
from tests.crm.mailbox_kit import connected_mailbox
from tests.factories.crm import AccountFactory, ContactFactory
from tests.mailserver import SENT_FOLDER, message_bytes


@pytest.fixture
def mail_user(mailserver):
    return mailserver.add_user()


@pytest.fixture
def mailbox(rep, mailserver, mail_user):
    return connected_mailbox(rep, mailserver, mail_user)


@pytest.fixture
def customer(rep):
    return ContactFactory(
        email="ann@acme.test", account=AccountFactory(name="Acme", owner=rep), owner=rep
    )


def from_ann(n: int, mail_user: str, **kwargs) -> bytes:
    return message_bytes(
        sender="Ann <ann@acme.test>",
        to=mail_user,
        subject=f"Question {n}",
        message_id=f"<q{n}-{mail_user}@acme.test>",
        **kwargs,
    )


def sync(mailbox, **kwargs):
    return mailbox_sync(mailbox_id=mailbox.pk, **kwargs)


def test_new_mail_is_imported_once_across_two_runs_and_never_marked_read(
    mailbox, mailserver, mail_user, customer
):
    uids = mailserver.append_many(mail_user, [from_ann(n, mail_user) for n in range(3)])
    mailserver.append(mail_user, message_bytes(sender="x@stranger.test", to=mail_user))

    first = sync(mailbox)

    assert (first.status, first.fetched, first.imported) == (MailSyncStatus.WAITING, 4, 3)
    assert MailMessage.objects.count() == 3
    mailserver.append(mail_user, from_ann(9, mail_user))
    second = sync(mailbox)
    assert (second.fetched, second.imported) == (1, 1)
    third = sync(mailbox)
    assert (third.fetched, third.imported) == (0, 0)
    assert MailMessage.objects.count() == 4
    assert "\\Seen" not in mailserver.flags(mail_user, uids[0])
    mailbox.refresh_from_db()
    assert mailbox.sync_status == MailSyncStatus.WAITING
    assert (mailbox.fetched_total, mailbox.imported_total) == (5, 4)
    assert (mailbox.last_sync_fetched, mailbox.last_sync_imported) == (0, 0)
    assert mailbox.last_sync_at is not None
    assert mailbox.lease_owner == ""


def test_the_inbox_and_the_sent_folder_found_by_special_use_are_read(
    mailbox, mailserver, mail_user, customer
):
    mailserver.append(
        mail_user,
        message_bytes(sender=mail_user, to="ann@acme.test", message_id="<out1@example.org>"),
        folder=SENT_FOLDER,
    )
    mailserver.append(mail_user, message_bytes(sender=mail_user, to="b@x.test"), folder="Archive")

    outcome = sync(mailbox)

    assert list(mailbox.folders.values_list("name", flat=True)) == ["INBOX", SENT_FOLDER]
    assert outcome.folders == {SENT_FOLDER: 1}
    assert MailMessage.objects.get().direction == MailDirection.OUTBOUND


def test_first_sync_looks_back_mail_sync_days(mailbox, mailserver, mail_user, customer, settings):
    settings.MAIL_SYNC_DAYS = 30
    old = timezone.now() - timedelta(days=40)
    mailserver.append(mail_user, from_ann(1, mail_user, date=old), when=old)
    mailserver.append(mail_user, from_ann(2, mail_user))

    outcome = sync(mailbox)

    assert (outcome.fetched, outcome.imported) == (1, 1)
    assert MailMessage.objects.get().subject == "Question 2"
    folder = mailbox.folders.get(name="INBOX")
    assert folder.since == timezone.localdate() - timedelta(days=30)
    assert folder.last_uid == 2


class Killed(BaseException):
    """The worker dies here (a SIGKILL, as far as the sync can tell: nothing runs after)."""


def test_an_interrupted_sync_resumes_after_its_last_batch(
    mailbox, mailserver, mail_user, customer, monkeypatch
):
    mailserver.append_many(mail_user, [from_ann(n, mail_user) for n in range(5)])
    real_import = imports.mail_message_import
    calls = []
    killed = []

    def dying_import(**kwargs):
        calls.append(kwargs["raw"])
        if len(calls) == 3 and not killed:  # the first message of the second batch
            killed.append(True)
            raise Killed()
        return real_import(**kwargs)

    monkeypatch.setattr(imports, "mail_message_import", dying_import)
    with pytest.raises(Killed):
        sync(mailbox, batch_size=2)

    # The first batch committed with its checkpoint; the second left nothing.
    assert MailMessage.objects.count() == 2
    assert mailbox.folders.get(name="INBOX").last_uid == 2
    mailbox.refresh_from_db()
    assert mailbox.sync_status == MailSyncStatus.RUNNING
    monkeypatch.setattr("crm.mail.sync.worker_name", lambda: "another-host:2:abcdef")
    assert sync(mailbox) is None  # the dead worker's lease still holds
    assert mailbox_sync_sweep() == 0

    Mailbox.objects.filter(pk=mailbox.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert mailbox_sync_sweep() == 1
    calls.clear()
    outcome = sync(mailbox, batch_size=2)

    assert (outcome.fetched, outcome.imported) == (3, 3)
    assert len(calls) == 3  # messages 3 to 5 only: none read twice
    assert MailMessage.objects.count() == 5
    assert mailbox.folders.get(name="INBOX").last_uid == 5


def test_a_mailbox_leased_by_another_worker_is_left_alone(mailbox):
    assert lease_take(Mailbox.objects.filter(pk=mailbox.pk), owner="elsewhere:1:abc")

    assert sync(mailbox) is None
    assert mailboxes_sync_due() == 0


def test_private_label_keyword_and_folder_are_never_stored(
    mailbox, mailserver, mail_user, customer
):
    mailserver.append(mail_user, from_ann(1, mail_user), flags=("$Private",))
    mailserver.append(mail_user, from_ann(2, mail_user), flags=("private", "\\Flagged"))
    mailserver.append(mail_user, from_ann(3, mail_user), folder="Private")
    mailserver.append(mail_user, from_ann(4, mail_user), flags=("$Label1",))
    MailboxFolder.objects.create(mailbox=mailbox, name="INBOX")
    MailboxFolder.objects.create(mailbox=mailbox, name="Private")

    outcome = sync(mailbox)

    assert (outcome.fetched, outcome.imported) == (4, 1)
    assert list(MailMessage.objects.values_list("subject", flat=True)) == ["Question 4"]


def test_a_label_of_the_users_choosing(mailbox, mailserver, mail_user, customer):
    Mailbox.objects.filter(pk=mailbox.pk).update(private_label="Do not file")
    mailserver.append(mail_user, from_ann(1, mail_user), flags=("Do_not_file",))
    mailserver.append(mail_user, from_ann(2, mail_user), flags=("$Private",))

    sync(mailbox)

    assert list(MailMessage.objects.values_list("subject", flat=True)) == ["Question 2"]


def test_a_changed_uidvalidity_reads_the_folder_again_without_storing_twice(
    mailbox, mailserver, mail_user, customer
):
    mailserver.append_many(mail_user, [from_ann(n, mail_user) for n in range(3)])
    sync(mailbox)
    MailboxFolder.objects.filter(mailbox=mailbox, name="INBOX").update(uidvalidity=1)

    outcome = sync(mailbox)

    assert (outcome.fetched, outcome.imported) == (3, 0)
    assert MailMessage.objects.count() == 3


def test_a_refused_sign_in_needs_attention_and_notifies_once(mailbox, rep):
    Mailbox.objects.filter(pk=mailbox.pk).update(imap_password="wrong")
    mailbox.refresh_from_db()

    outcome = sync(mailbox)

    assert outcome.status == MailSyncStatus.ATTENTION
    mailbox.refresh_from_db()
    assert mailbox.sync_status == MailSyncStatus.ATTENTION
    assert "refused the sign-in" in mailbox.sync_error
    note = Notification.objects.get(recipient=rep, kind="mailbox")
    assert "needs attention" in note.verb
    assert sync(mailbox) is None  # waits for its user
    assert mailboxes_sync_due() == 0
    assert Notification.objects.filter(recipient=rep).count() == 1


def test_an_unreachable_server_is_retried_later_with_a_growing_delay(mailbox):
    from tests.mailserver import free_port

    Mailbox.objects.filter(pk=mailbox.pk).update(imap_port=free_port())
    mailbox.refresh_from_db()

    outcome = sync(mailbox)

    assert outcome.status == MailSyncStatus.RETRYING
    mailbox.refresh_from_db()
    assert mailbox.sync_attempts == 1
    assert "refused" in mailbox.sync_error
    first_delay = mailbox.next_sync_at - timezone.now()
    assert timedelta(seconds=40) < first_delay < timedelta(seconds=80)
    assert mailboxes_sync_due() == 0
    Mailbox.objects.filter(pk=mailbox.pk).update(next_sync_at=timezone.now())
    sync(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.sync_attempts == 2
    assert mailbox.next_sync_at - timezone.now() > timedelta(seconds=90)


def test_beat_wakes_due_mailboxes_only(mailbox, rep2, mailserver):
    other = connected_mailbox(rep2, mailserver, mailserver.add_user())
    Mailbox.objects.filter(pk=other.pk).update(next_sync_at=timezone.now() + timedelta(hours=1))

    assert mailboxes_sync_due() == 1


def test_imap_dates_are_in_english_whatever_the_locale():
    from datetime import date

    assert imap_date(date(2026, 3, 7)) == "07-Mar-2026"


def test_operators_see_mailboxes_in_trouble_on_the_background_work_page(client, admin, mailbox):
    Mailbox.objects.filter(pk=mailbox.pk).update(
        sync_status=MailSyncStatus.ATTENTION, sync_error="The IMAP server refused the sign-in."
    )
    client.force_login(admin)

    page = client.get(reverse("work_problems")).content.decode()

    assert f"Mailbox {mailbox.email_address}" in page
    assert "Needs attention" in page and "refused the sign-in" in page
    assert mailbox_sync_retry(mailbox.pk) is False  # only its user can fix the password
    Mailbox.objects.filter(pk=mailbox.pk).update(
        sync_status=MailSyncStatus.RUNNING, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert mailbox_sync_problems(10)[0].state == "Syncing (its worker stopped)"
    assert mailbox_sync_retry(mailbox.pk) is True


def test_gmail_labels_are_read_beside_the_flags():
    # The shape of Gmail's answer to UID FETCH (UID FLAGS BODY.PEEK[] X-GM-LABELS).
    from crm.mail.sync import _fetched

    data = [
        (b'1 (X-GM-LABELS ("\\\\Inbox" "Private") UID 7 FLAGS (\\Seen) BODY[] {5}', b"hello"),
        b")",
        (b"2 (UID 8 FLAGS () BODY[] {3}", b"bye"),
        b' X-GM-LABELS ("Do not file" Work))',
    ]

    first, second = _fetched(data)

    assert (first.uid, first.raw, first.keywords) == (7, b"hello", ["\\Seen", "\\Inbox", "Private"])
    assert (second.uid, second.keywords) == (8, ["Do not file", "Work"])


def test_an_unexpected_error_releases_the_mailbox_for_a_later_retry(
    mailbox, mailserver, mail_user, monkeypatch
):
    mailserver.append(mail_user, from_ann(1, mail_user))

    def broken(data):
        raise ValueError("a fault of ours")

    monkeypatch.setattr("crm.mail.sync._fetched", broken)

    outcome = sync(mailbox)

    assert outcome.status == MailSyncStatus.RETRYING
    mailbox.refresh_from_db()
    assert (mailbox.sync_status, mailbox.lease_owner) == (MailSyncStatus.RETRYING, "")
    assert "unexpected error" in mailbox.sync_error
