"""A user's connected mailbox: connect, change, test and disconnect it.

The mailbox belongs to its user alone (the pages only ever load ``request.user``'s); its
passwords and OAuth2 tokens are stored encrypted and never shown again. Saving a mailbox that
needed attention (a refused sign-in) puts it back into the sync, which is woken at once.
"""

import imaplib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from crm.choices import MailAuth, MailSyncStatus
from crm.mail.connect import (
    MailConnectError,
    imap_close,
    imap_folders,
    imap_open,
    sent_folder,
    smtp_check,
)
from crm.models import Mailbox, MailboxFolder
from crm.work import enqueue_quietly

#: What the settings form writes; passwords separately (blank keeps the stored one).
SETTINGS_FIELDS = (
    "email_address",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "private_label",
)
SECRET_FIELDS = ("imap_password", "smtp_password")


@dataclass(frozen=True)
class MailTestStep:
    name: str
    ok: bool
    message: str


@dataclass
class MailTestResult:
    """The outcome of "Test connection": one line per step, and what the IMAP side found."""

    steps: list[MailTestStep] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    sent_folder: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


def mailbox_of(*, user) -> Mailbox | None:
    """The user's own mailbox, if connected (the only one any page of theirs may show)."""
    return Mailbox.objects.filter(user=user).prefetch_related("folders").first()


def mailbox_test(*, mailbox: Mailbox) -> MailTestResult:
    """Sign in over IMAP and open the inbox; connect over SMTP, EHLO and sign in. Sends and
    changes nothing; ``mailbox`` may be unsaved (the form's values, tested before saving)."""
    result = MailTestResult()
    try:
        imap = imap_open(mailbox)
    except MailConnectError as error:
        result.steps.append(MailTestStep("IMAP", False, str(error)))
    else:
        try:
            typ, data = imap.select("INBOX", readonly=True)
            if typ != "OK":
                raise imaplib.IMAP4.error(data[0].decode(errors="replace") if data else "")
            count = int(data[0]) if data and data[0] else 0
            folders = imap_folders(imap)
            result.folders = [name for name, attrs in folders if "\\noselect" not in attrs]
            result.sent_folder = sent_folder(folders)
            result.steps.append(
                MailTestStep(
                    "IMAP",
                    True,
                    f"Signed in; the inbox holds {count} message{'s' if count != 1 else ''}"
                    + (
                        f"; sent mail is in “{result.sent_folder}”."
                        if result.sent_folder
                        else "; no sent folder was found."
                    ),
                )
            )
        except (imaplib.IMAP4.error, OSError) as error:
            result.steps.append(
                MailTestStep(
                    "IMAP", False, f"Signed in, but the inbox could not be opened: {error}"
                )
            )
        finally:
            imap_close(imap)
    if mailbox.smtp_host:
        try:
            greeting = smtp_check(mailbox)
        except MailConnectError as error:
            result.steps.append(MailTestStep("SMTP", False, str(error)))
        else:
            result.steps.append(
                MailTestStep("SMTP", True, f"Signed in to {greeting or mailbox.smtp_host}.")
            )
    else:
        result.steps.append(MailTestStep("SMTP", False, "No SMTP server is set."))
    return result


def _folders_set(mailbox: Mailbox, names: list[str] | None) -> None:
    """Read exactly these folders (a folder left out loses its checkpoint; none: the sync
    picks the inbox and the sent folder)."""
    if names is None:
        return
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    mailbox.folders.exclude(name__in=names).delete()
    have = set(mailbox.folders.values_list("name", flat=True))
    MailboxFolder.objects.bulk_create(
        [MailboxFolder(mailbox=mailbox, name=n) for n in names if n not in have]
    )


def _wake(mailbox_id: int) -> None:
    from crm.tasks import mailbox_sync

    transaction.on_commit(lambda: enqueue_quietly(mailbox_sync, mailbox_id))


@transaction.atomic
def mailbox_connect(
    *, user, data: dict, secrets: dict, folders: list[str] | None = None
) -> Mailbox:
    """Connect the user's mailbox with a password (``data``: ``SETTINGS_FIELDS``; ``secrets``:
    the passwords). The first sync starts at once. A user has one mailbox: connecting again
    (a form sent twice) changes the one there is."""
    existing = Mailbox.objects.select_for_update().filter(user=user).first()
    if existing is not None:
        return mailbox_update(mailbox=existing, data=data, secrets=secrets, folders=folders)
    mailbox = Mailbox(user=user, auth_method=MailAuth.PASSWORD)
    for name in SETTINGS_FIELDS:
        if name in data:
            setattr(mailbox, name, data[name])
    for name in SECRET_FIELDS:
        setattr(mailbox, name, secrets.get(name) or None)
    mailbox.save()
    _folders_set(mailbox, folders)
    _wake(mailbox.pk)
    return mailbox


@transaction.atomic
def mailbox_update(
    *, mailbox: Mailbox, data: dict, secrets: dict, folders: list[str] | None = None
) -> Mailbox:
    """Change the settings; a blank password keeps the stored one. A mailbox that waited for
    its user (refused sign-in) or for a retry is synced again at once; another account on the
    server (host or user name changed) starts its checkpoints afresh."""
    mailbox = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    moved = any(
        name in data and data[name] != getattr(mailbox, name)
        for name in ("imap_host", "imap_username")
    )
    changed = []
    for name in SETTINGS_FIELDS:
        if name in data and data[name] != getattr(mailbox, name):
            setattr(mailbox, name, data[name])
            changed.append(name)
    for name in SECRET_FIELDS:
        if secrets.get(name):
            setattr(mailbox, name, secrets[name])
            changed.append(name)
    if mailbox.sync_status in (MailSyncStatus.ATTENTION, MailSyncStatus.RETRYING):
        mailbox.sync_status = MailSyncStatus.WAITING
        mailbox.sync_attempts = 0
        mailbox.next_sync_at = None
        mailbox.sync_error = ""
        changed += ["sync_status", "sync_attempts", "next_sync_at", "sync_error"]
    mailbox.save(update_fields=[*changed, "updated_at"])
    if moved:
        mailbox.folders.update(uidvalidity=None, last_uid=0, since=None)
    _folders_set(mailbox, folders)
    _wake(mailbox.pk)
    return mailbox


@transaction.atomic
def mailbox_disconnect(*, mailbox: Mailbox) -> None:
    """Forget the mailbox: its settings, stored passwords and tokens, and checkpoints. Mail
    already imported stays on the timelines."""
    Mailbox.objects.filter(pk=mailbox.pk).delete()


def mailbox_sync_now(*, mailbox: Mailbox) -> None:
    """Sync at the next worker's turn, without waiting for the schedule or a retry's delay."""
    Mailbox.objects.filter(pk=mailbox.pk).exclude(sync_status=MailSyncStatus.ATTENTION).update(
        next_sync_at=None, updated_at=timezone.now()
    )
    _wake(mailbox.pk)
