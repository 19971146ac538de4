"""A real worker syncing a real mailbox is killed (SIGKILL) mid-sync; the sweep hands the
mailbox to the next worker, which resumes after the last committed batch: every message is
read and committed once. (Worker kit: tests/worker.py; IMAP server: tests/mailserver.py.)"""

import signal

import pytest
from django.conf import settings
from django.utils import timezone

from crm.choices import MailSyncStatus
from crm.models import Mailbox, MailboxFolder, MailMessage
from crm.tasks import mailbox_sync, work_sweep
from tests.crm.mailbox_kit import connected_mailbox
from tests.factories.crm import ContactFactory
from tests.mailserver import message_bytes
from tests.worker import (
    publishing_to,
    redis_url_for_tests,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MESSAGES = 1200
LEASE_SECONDS = 5


def test_a_killed_sync_resumes_where_it_stopped_and_reads_each_message_once(
    tmp_path, rep, mailserver
):
    mail_user = mailserver.add_user()
    ContactFactory(email="ann@acme.test", owner=rep)
    mailserver.append_many(
        mail_user,
        [
            message_bytes(
                sender="ann@acme.test",
                to=mail_user,
                subject=f"Note {n}",
                message_id=f"<n{n}-{mail_user}@acme.test>",
            )
            for n in range(MESSAGES)
        ],
    )
    mailbox = connected_mailbox(rep, mailserver, mail_user)
    redis_url = redis_url_for_tests()
    env = worker_env(
        var_dir=tmp_path / "var",
        REDIS_URL=redis_url,
        # The worker decrypts the stored password with the same key, and may reach 127.0.0.1.
        SECRET_KEY=settings.SECRET_KEY,
        MAIL_ALLOW_PRIVATE_HOSTS="true",
        WORK_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    log_path = tmp_path / "worker.log"

    def inbox_uid():
        folder = MailboxFolder.objects.filter(mailbox=mailbox, name="INBOX").first()
        return folder.last_uid if folder else 0

    with publishing_to(**worker_broker(tmp_path / "var", redis_url=redis_url)):
        with worker_started(env, log_path) as first:
            mailbox_sync.delay(mailbox.pk)
            wait_until(
                lambda: inbox_uid() >= 200,
                what="the first batch committed",
                log_path=log_path,
                worker=first,
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()
        stopped_at = inbox_uid()
        assert stopped_at < MESSAGES, "the worker finished before it was killed"
        assert Mailbox.objects.get(pk=mailbox.pk).sync_status == MailSyncStatus.RUNNING

        with worker_started(env, log_path) as second:
            # The killed worker's lease runs out; the sweep then wakes a worker for the mailbox.
            wait_until(
                lambda: Mailbox.objects.get(pk=mailbox.pk).lease_until < timezone.now(),
                what="the dead worker's lease to lapse",
                log_path=log_path,
                timeout=LEASE_SECONDS + 5,
            )
            work_sweep.delay()
            wait_until(
                lambda: Mailbox.objects.get(pk=mailbox.pk).sync_status == MailSyncStatus.WAITING,
                what="the resumed sync to finish",
                log_path=log_path,
                worker=second,
                # A thousand messages on a busy machine (CI beside other work) may take minutes;
                # the test is about each message read once, not about speed.
                timeout=300,
            )

    mailbox.refresh_from_db()
    assert inbox_uid() == MESSAGES
    assert MailMessage.objects.count() == MESSAGES
    # Each message was read and committed exactly once, across both workers.
    assert mailbox.fetched_total == MESSAGES
    assert MailboxFolder.objects.get(mailbox=mailbox, name="INBOX").fetched_total == MESSAGES
    assert mailbox.imported_total == MESSAGES
