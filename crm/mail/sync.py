"""The periodic sync of connected mailboxes: new mail in their folders, imported once.

Each mailbox is a unit of durable work (``crm.work``): a worker leases the mailbox row, reads its
folders and gives the row back. Per folder a checkpoint (``MailboxFolder``: the folder's
UIDVALIDITY and the highest UID imported) moves forward after each batch of ``BATCH`` messages,
in the same transaction as the batch's imports, and the lease is renewed in that transaction. So
a worker killed mid-batch leaves neither the batch's messages nor a checkpoint past them: the
sweep wakes another worker once the lease runs out, and it resumes after the last batch that
committed. Nothing is imported twice (the import also ignores a Message-ID it already holds, the
second guard, for a folder whose UIDVALIDITY changed and is read again).

Messages are fetched with ``BODY.PEEK[]`` from a folder opened read-only (EXAMINE): the sync never
marks mail read. A mailbox's first sync of a folder reads the last ``MAIL_SYNC_DAYS`` days. A
message carrying the mailbox's private label (an IMAP keyword or a Gmail label of that name) or
living in a folder of that name is handed to the import as private, which stores nothing of it.

A refused sign-in puts the mailbox in "needs attention" (the user is notified and the sync stops
until they change the settings); a network error is retried with a growing delay.
"""

import imaplib
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from crm.choices import MailSyncStatus
from crm.mail.connect import (
    MailAuthError,
    MailConnectError,
    imap_close,
    imap_folders,
    imap_open,
    imap_quote,
    sent_folder,
)
from crm.models import Mailbox, MailboxFolder
from crm.work import (
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    lease_free,
    lease_release,
    lease_renew,
    lease_take,
    worker_name,
)

logger = logging.getLogger(__name__)

#: UIDs fetched, imported and checkpointed together.
BATCH = 200
#: A run stops after this long and asks for the next at once (inside the task's time limit).
TIME_BUDGET_SECONDS = 10 * 60
#: Longest wait between retries after network errors.
MAX_BACKOFF_SECONDS = 60 * 60

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class LeaseLost(Exception):
    """The sweep gave our mailbox to another worker (ours stalled): stop without writing."""


@dataclass
class SyncOutcome:
    """What one run did: messages read and stored, per mailbox and folder."""

    status: str
    fetched: int = 0
    imported: int = 0
    error: str = ""
    folders: dict[str, int] = field(default_factory=dict)
    more: bool = False


# --- scheduling (beat, the sweep, the operators' page) ------------------------------------------


def _syncable():
    return Mailbox.objects.exclude(sync_status=MailSyncStatus.ATTENTION).exclude(imap_host="")


def mailboxes_sync_due(*, now: datetime | None = None) -> int:
    """Wake a worker for every mailbox due a sync (beat, every ``MAIL_SYNC_SECONDS``): not
    leased, not waiting out a network error's backoff, not needing the user's attention."""
    from crm.tasks import mailbox_sync as task

    now = now or timezone.now()
    ids = list(
        _syncable()
        .filter(lease_free(now))
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
        .order_by("id")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        enqueue_quietly(task, pk)
    return len(ids)


def mailbox_sync_pending() -> int:
    """Mailboxes syncing or due again after a network error (the queue depth metric)."""
    return Mailbox.objects.filter(
        sync_status__in=[MailSyncStatus.RUNNING, MailSyncStatus.RETRYING]
    ).count()


def mailbox_sync_sweep() -> int:
    """The sweep: a sync whose worker stopped renewing its lease (killed) is woken again."""
    from crm.tasks import mailbox_sync as task

    ids = list(
        _syncable()
        .filter(sync_status=MailSyncStatus.RUNNING, lease_until__lt=timezone.now())
        .order_by("id")
        .values_list("pk", flat=True)[:100]
    )
    for pk in ids:
        enqueue_quietly(task, pk)
    if ids:
        logger.info("Mailbox sync sweep: woke %s interrupted sync(s) %s", len(ids), ids)
    return len(ids)


def mailbox_sync_problems(limit: int) -> list[Problem]:
    """Mailboxes needing their user's attention, and syncs whose worker stopped."""
    rows = jobs_in_trouble(
        Mailbox.objects.select_related("user"),
        field="sync_status",
        running=MailSyncStatus.RUNNING,
        failed=MailSyncStatus.ATTENTION,
        order_by="-updated_at",
        limit=limit,
    )
    return [
        Problem(
            pk=row.pk,
            title=f"Mailbox {row.email_address} of {row.user}",
            state=row.trouble,
            detail=row.sync_error,
            since=row.last_sync_at,
            url=reverse("admin:crm_mailbox_change", args=[row.pk]),
            retryable=row.stalled,
        )
        for row in rows
    ]


def mailbox_sync_retry(pk: int) -> bool:
    """Wake the sync of one mailbox whose worker stopped (a refused sign-in waits for its
    user, who alone can fix the password)."""
    from crm.tasks import mailbox_sync as task

    if not _syncable().filter(pk=pk).exists():
        return False
    return enqueue_quietly(task, pk)


# --- one run ------------------------------------------------------------------------------------


def mailbox_sync(
    *,
    mailbox_id: int,
    batch_size: int = BATCH,
    time_budget: float = TIME_BUDGET_SECONDS,
) -> SyncOutcome | None:
    """Sync one mailbox, if no other worker holds it; None when it is held, gone, or waiting
    for its user. Resumes from each folder's checkpoint."""
    owner = worker_name()
    leased = Mailbox.objects.filter(pk=mailbox_id).exclude(sync_status=MailSyncStatus.ATTENTION)
    if not lease_take(leased, owner=owner, sync_status=MailSyncStatus.RUNNING):
        return None
    mailbox = Mailbox.objects.select_related("user").get(pk=mailbox_id)
    outcome = SyncOutcome(status=MailSyncStatus.WAITING)
    started = time.monotonic()
    try:
        imap = imap_open(mailbox)
    except MailAuthError as error:
        return _needs_attention(mailbox, owner=owner, message=str(error))
    except MailConnectError as error:
        return _retry_later(mailbox, owner=owner, message=str(error))
    folder_errors = []
    try:
        for folder in _folders(mailbox, imap):
            try:
                more = _folder_sync(
                    mailbox,
                    folder,
                    imap,
                    owner=owner,
                    outcome=outcome,
                    batch_size=batch_size,
                    deadline=started + time_budget,
                )
            except _FolderUnavailable as error:
                folder_errors.append(str(error))
                continue
            if more:
                outcome.more = True
                break
    except LeaseLost:
        imap_close(imap)
        logger.warning("Mailbox %s: lease lost to another worker; this run stops", mailbox_id)
        return None
    except (OSError, imaplib.IMAP4.abort) as error:
        imap_close(imap)
        return _retry_later(
            mailbox,
            owner=owner,
            message=f"The connection to {mailbox.imap_host} broke during the sync ({error}).",
            outcome=outcome,
        )
    except MailAuthError as error:  # an OAuth2 token refresh refused midway
        imap_close(imap)
        return _needs_attention(mailbox, owner=owner, message=str(error))
    except Exception:
        # A fault of ours or of the database: retried with the network errors' backoff
        # rather than every lease period, and logged for the operators.
        logger.exception("Mailbox %s: the sync failed", mailbox_id)
        imap_close(imap)
        return _retry_later(
            mailbox,
            owner=owner,
            message="The sync stopped on an unexpected error; it is tried again later.",
            outcome=outcome,
        )
    imap_close(imap)
    outcome.error = " ".join(folder_errors)
    now = timezone.now()
    lease_release(
        Mailbox.objects.filter(pk=mailbox_id),
        owner=owner,
        sync_status=MailSyncStatus.WAITING,
        sync_error=outcome.error,
        sync_attempts=0,
        next_sync_at=None,
        last_sync_at=now,
        last_sync_fetched=outcome.fetched,
        last_sync_imported=outcome.imported,
    )
    if outcome.more:
        from crm.tasks import mailbox_sync as task

        # More than one run's worth (a first sync of a large mailbox): carry on at once.
        transaction.on_commit(lambda: enqueue_quietly(task, mailbox_id))
    return outcome


class _FolderUnavailable(Exception):
    pass


def _folders(mailbox: Mailbox, imap) -> list[MailboxFolder]:
    """The folders to read; a mailbox without any yet gets the inbox and its sent folder."""
    folders = list(mailbox.folders.all())
    if folders:
        return folders
    names = ["INBOX"]
    sent = sent_folder(imap_folders(imap))
    if sent:
        names.append(sent)
    for name in names:
        MailboxFolder.objects.get_or_create(mailbox=mailbox, name=name)
    return list(mailbox.folders.all())


def imap_date(day: date) -> str:
    """A date as IMAP SEARCH wants it (English month names, whatever the locale)."""
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _response_number(imap, name: str) -> int | None:
    _, data = imap.response(name)
    try:
        return int(data[-1]) if data and data[-1] else None
    except (TypeError, ValueError):
        return None


def _folder_sync(
    mailbox: Mailbox,
    folder: MailboxFolder,
    imap,
    *,
    owner: str,
    outcome: SyncOutcome,
    batch_size: int,
    deadline: float,
) -> bool:
    """Import the folder's new messages, a batch per transaction; True when the time budget
    ran out before the folder was done."""
    typ, data = imap.select(imap_quote(folder.name), readonly=True)
    if typ != "OK":
        detail = data[0].decode(errors="replace") if data and data[0] else ""
        raise _FolderUnavailable(f"The folder {folder.name} could not be opened ({detail}).")
    uidvalidity = _response_number(imap, "UIDVALIDITY")
    uidnext = _response_number(imap, "UIDNEXT")
    if folder.uidvalidity != uidvalidity or folder.since is None:
        # First read of the folder, or the server renumbered it: read the window again (the
        # import's Message-ID check keeps what was already imported from coming twice).
        folder.uidvalidity = uidvalidity
        folder.last_uid = 0
        folder.since = timezone.localdate() - timedelta(days=settings.MAIL_SYNC_DAYS)
        MailboxFolder.objects.filter(pk=folder.pk).update(
            uidvalidity=folder.uidvalidity, last_uid=0, since=folder.since
        )
    typ, data = imap.uid(
        "SEARCH", "UID", f"{folder.last_uid + 1}:*", "SINCE", imap_date(folder.since)
    )
    if typ != "OK":
        raise _FolderUnavailable(f"The folder {folder.name} could not be searched.")
    # "n:*" also names the folder's last message when its UID is below n: filter.
    uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > folder.last_uid)
    private_folder = _same_label(folder.name.replace(".", "/").rsplit("/", 1)[-1], mailbox)
    gmail = b"X-GM-EXT-1" in b" ".join(c.encode() for c in imap.capabilities)
    items = "(UID FLAGS BODY.PEEK[]" + (" X-GM-LABELS)" if gmail else ")")
    for start in range(0, len(uids), batch_size):
        if time.monotonic() > deadline:
            return True
        batch = uids[start : start + batch_size]
        typ, data = imap.uid("FETCH", ",".join(str(u) for u in batch), items)
        if typ != "OK":
            raise imaplib.IMAP4.abort(f"FETCH failed in {folder.name}")
        messages = _fetched(data)
        _batch_import(
            mailbox,
            folder,
            messages,
            last_uid=batch[-1],
            owner=owner,
            outcome=outcome,
            private_folder=private_folder,
        )
    if uidnext and uidnext - 1 > folder.last_uid:
        # Nothing up to UIDNEXT-1 is left to read (past the window, or expunged).
        folder.last_uid = uidnext - 1
        MailboxFolder.objects.filter(pk=folder.pk).update(last_uid=folder.last_uid)
    MailboxFolder.objects.filter(pk=folder.pk).update(last_synced_at=timezone.now())
    return False


@dataclass
class _Fetched:
    uid: int
    raw: bytes
    keywords: list[str]


_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_LABELS = re.compile(rb"X-GM-LABELS \(((?:[^()\"]|\"(?:[^\"\\]|\\.)*\")*)\)")
_ATOM = re.compile(rb'"((?:[^"\\]|\\.)*)"|([^\s"]+)')


def _fetched(data: list) -> list[_Fetched]:
    """The messages of a UID FETCH answer: (UID, body, flags and Gmail labels)."""
    messages = []
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        meta = item[0]
        following = data[index + 1] if index + 1 < len(data) else b""
        if isinstance(following, bytes):
            meta += following  # items the server sent after the body literal
        uid = _UID.search(meta)
        if uid is None:
            continue
        keywords = []
        flags = _FLAGS.search(meta)
        if flags:
            keywords += [f.decode(errors="replace") for f in flags.group(1).split()]
        labels = _LABELS.search(meta)
        if labels:
            for quoted, bare in _ATOM.findall(labels.group(1)):
                text = quoted.replace(b'\\"', b'"').replace(b"\\\\", b"\\") if quoted else bare
                keywords.append(text.decode(errors="replace"))
        messages.append(_Fetched(uid=int(uid.group(1)), raw=item[1], keywords=keywords))
    return messages


def _label_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _same_label(text: str, mailbox: Mailbox) -> bool:
    label = _label_key(mailbox.private_label or "")
    return bool(label) and _label_key(text) == label


def _batch_import(mailbox, folder, messages, *, last_uid, owner, outcome, private_folder) -> None:
    from crm.mail.imports import OurAddresses, mail_message_import

    ours = OurAddresses.load()  # the company's addresses, read once per batch
    with transaction.atomic():
        # Renewing takes the mailbox row's lock until this batch commits: the sweep cannot hand
        # the mailbox to another worker halfway through a batch.
        if not lease_renew(Mailbox.objects.filter(pk=mailbox.pk), owner=owner):
            raise LeaseLost()
        imported = 0
        for message in messages:
            private = private_folder or any(_same_label(k, mailbox) for k in message.keywords)
            try:
                with transaction.atomic():
                    result = mail_message_import(
                        mailbox=mailbox, raw=message.raw, private=private, ours=ours
                    )
            except Exception:
                # One message the import cannot take must not hold back the mailbox.
                logger.exception(
                    "Mailbox %s: message UID %s of %s was not imported",
                    mailbox.pk,
                    message.uid,
                    folder.name,
                )
                continue
            imported += int(_stored(result))
        folder.last_uid = max(last_uid, folder.last_uid)
        MailboxFolder.objects.filter(pk=folder.pk).update(
            last_uid=folder.last_uid, fetched_total=F("fetched_total") + len(messages)
        )
        Mailbox.objects.filter(pk=mailbox.pk).update(
            fetched_total=F("fetched_total") + len(messages),
            imported_total=F("imported_total") + imported,
        )
    outcome.fetched += len(messages)
    outcome.imported += imported
    outcome.folders[folder.name] = outcome.folders.get(folder.name, 0) + len(messages)


def _stored(result) -> bool:
    """Whether the import stored the message as new (not a duplicate, not private)."""
    from crm.mail.imports import IMPORTED

    return result.status == IMPORTED


# --- failures -----------------------------------------------------------------------------------


def _needs_attention(mailbox: Mailbox, *, owner: str, message: str) -> SyncOutcome:
    from crm.services.notifications import notify

    now = timezone.now()
    with transaction.atomic():
        released = lease_release(
            Mailbox.objects.filter(pk=mailbox.pk),
            owner=owner,
            sync_status=MailSyncStatus.ATTENTION,
            sync_error=message,
            last_sync_at=now,
            next_sync_at=None,
        )
        if released:
            notify(
                recipient=mailbox.user_id,
                kind="mailbox",
                verb=f"Your mailbox {mailbox.email_address} needs attention: {message}",
                dedupe_key=f"mailbox:{mailbox.pk}:attention:{now.isoformat()}",
                url=reverse("mailbox_settings"),
            )
    logger.warning("Mailbox %s needs attention: %s", mailbox.pk, message)
    return SyncOutcome(status=MailSyncStatus.ATTENTION, error=message)


def backoff_seconds(attempts: int) -> float:
    """A minute after the first failure, doubling up to an hour, with +/-20% jitter."""
    base = min(60 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return base * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not a secret


def _retry_later(
    mailbox: Mailbox, *, owner: str, message: str, outcome: SyncOutcome | None = None
) -> SyncOutcome:
    attempts = mailbox.sync_attempts + 1
    now = timezone.now()
    lease_release(
        Mailbox.objects.filter(pk=mailbox.pk),
        owner=owner,
        sync_status=MailSyncStatus.RETRYING,
        sync_error=message,
        sync_attempts=attempts,
        next_sync_at=now + timedelta(seconds=backoff_seconds(attempts)),
        last_sync_at=now,
    )
    logger.warning("Mailbox %s sync failed (attempt %s): %s", mailbox.pk, attempts, message)
    outcome = outcome or SyncOutcome(status=MailSyncStatus.RETRYING)
    outcome.status, outcome.error = MailSyncStatus.RETRYING, message
    return outcome
