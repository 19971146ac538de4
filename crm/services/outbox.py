"""The email outbox: messages are stored first, then delivered exactly once by a Celery task.

Why a table and not ``send_mail`` in the request: a user's action must not fail or wait because SMTP
is slow or down, and a retried automation must not mail a customer twice. So callers queue a row
named by an idempotency key, and ``outbox_send_queued`` leases one row at a time (queued →
sending, with the worker's name and a lease, ``crm.work``) just before handing it to the SMTP
server, and marks it sent right after the server accepts it.

A worker killed between the two leaves its one row ``sending``; when the lease runs out, the sweep
(``outbox_sweep``) returns it to the queue marked *uncertain*: the server may have taken it, so it
is sent again with the same Message-ID, which lets a receiver drop the copy. Nothing else is ever
sent twice. A row that stopped its worker ``MAX_ATTEMPTS`` times fails and waits for an admin.
"""

import logging
import random
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email import encoders
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from itertools import islice
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from crm.choices import OutboxStatus
from crm.db import insert_rows
from crm.models import OutboundEmail
from crm.registry import AttachmentGone, email_attachments
from crm.services.timeline import system_event
from crm.work import Problem, lease_end, lease_free, lease_release, lease_seconds, worker_name

logger = logging.getLogger(__name__)

#: After this many failed deliveries a message is marked failed and left for an admin.
MAX_ATTEMPTS = 5
#: Backoff after the first failure; doubles each attempt, capped, with jitter.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 60 * 60


def email_queue(
    *,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    related=None,
    idempotency_key: str,
    attachments: list[dict] | None = None,
    cc: list[str] | None = None,
    sender=None,
    send_after=None,
) -> OutboundEmail | None:
    """Queue one email, once per ``idempotency_key``; delivery is enqueued after commit.

    Returns the existing row (creating nothing) when the key was queued before, so a retried
    automation can call this freely. Returns ``None`` when there is no address to send to.
    ``attachments`` name files by kind and record (``{"kind": ..., "ref": {...}}``,
    ``crm.registry.email_attachments``); each is made when the message is sent. ``sender``
    (a user) sends it from their connected mailbox, else from ours in their name; with
    ``send_after`` it waits in the queue until then.
    """
    to_email = (to_email or "").strip()
    if not to_email:
        return None
    values = {
        "to_email": to_email,
        "subject": subject[:255],
        "body_text": body_text,
        "body_html": body_html,
        "status": OutboxStatus.QUEUED,
        "attachments": list(attachments or []),
        "cc": list(cc or []),
        "sender": sender,
        "next_attempt_at": send_after,
    }
    if related is not None:
        values["related"] = related
    try:
        # The savepoint keeps the caller's transaction usable when a concurrent insert of the
        # same key wins the race (PostgreSQL aborts the whole transaction otherwise).
        with transaction.atomic():
            email = OutboundEmail.objects.create(idempotency_key=idempotency_key, **values)
    except IntegrityError:
        return OutboundEmail.objects.get(idempotency_key=idempotency_key)
    _enqueue_send_on_commit()
    return email


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One email for ``email_queue_many``: what ``email_queue`` takes, with the related record
    named by content type and id, so thousands can be queued without loading the records."""

    to_email: str
    subject: str
    body_text: str
    idempotency_key: str
    body_html: str = ""
    content_type_id: int | None = None
    object_id: int | None = None


def email_queue_many(*, messages: Iterable[OutboxMessage], batch_size: int = 2000) -> int:
    """Queue many emails, each once per ``idempotency_key``; returns how many rows are new.

    Set-based: one bulk insert per batch (``crm.db.insert_rows``) that skips keys already in
    the outbox (ON CONFLICT DO NOTHING on the unique key), so a key queued before, by an
    earlier run, a concurrent one or ``email_queue``, keeps its row and is never doubled.
    Messages without an address are dropped. Delivery is enqueued once, after commit.
    """
    fields = [
        "to_email",
        "subject",
        "body_text",
        "body_html",
        "content_type",
        "object_id",
        "status",
        "attempts",
        "idempotency_key",
        "last_error",
        "created_at",
    ]
    new = 0
    iterator = iter(messages)
    with transaction.atomic():
        now = timezone.now()
        while batch := list(islice(iterator, batch_size)):
            rows = [
                (
                    m.to_email.strip(),
                    m.subject[:255],
                    m.body_text,
                    m.body_html,
                    m.content_type_id,
                    m.object_id,
                    OutboxStatus.QUEUED,
                    0,
                    m.idempotency_key,
                    "",
                    now,
                )
                for m in batch
                if (m.to_email or "").strip()
            ]
            new += insert_rows(OutboundEmail, fields, rows)
        if new:
            _enqueue_send_on_commit()
    return new


def outbox_message_id(email: OutboundEmail) -> str:
    """The Message-ID the row is sent with, known as soon as it is queued: a customer's reply
    names it in In-Reply-To/References, so the reply can be matched to what it answers. The
    same row always gets the same id (a retried send is the same message), and the keyed hash
    keeps ids unique between installations and unguessable."""
    signature = salted_hmac("crm.outbox.message-id", str(email.pk)).hexdigest()[:16]
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<outbox.{email.pk}.{signature}@{domain}>"


def outbox_id_from_message_id(message_id: str) -> int | None:
    """The outbox row a Message-ID made by ``outbox_message_id`` names, or None."""
    head = message_id.strip().lstrip("<").split("@", 1)[0]
    parts = head.split(".")
    if len(parts) != 3 or parts[0] != "outbox" or not parts[1].isdigit():
        return None
    expected = salted_hmac("crm.outbox.message-id", parts[1]).hexdigest()[:16]
    return int(parts[1]) if constant_time_compare(parts[2], expected) else None


def _enqueue_send_on_commit() -> None:
    """Ask a worker to deliver after commit, once per transaction however many rows it queued.

    The beat schedule runs the same task every minute anyway, so a lost enqueue only delays.
    """
    pending = getattr(connection, "run_on_commit", None) or ()
    if any(entry[1] is _enqueue_send for entry in pending):
        return
    transaction.on_commit(_enqueue_send)


def _enqueue_send() -> None:
    """Publish the send task; a broker outage is logged, never raised into a user's request."""
    from crm.tasks import outbox_send_queued  # tasks import services, not the other way round

    try:
        outbox_send_queued.delay()
    except Exception:
        logger.exception("Could not enqueue outbox delivery; the beat schedule will pick it up.")


def outbox_send_queued(*, batch_size: int = 100) -> int:
    """Deliver up to ``batch_size`` queued messages that are due; returns how many were sent.

    Safe to run concurrently and repeatedly: each message is leased by one worker just before
    it is handed to the SMTP server, so a killed worker strands at most the one message it was
    sending, which the sweep returns to the queue as uncertain when the lease runs out.
    """
    owner = worker_name()
    sent = 0
    backend = None
    try:
        for _ in range(batch_size):
            email = _claim_next(owner=owner)
            if email is None:
                break
            if backend is None:  # one connection for the batch, opened only when there is mail
                backend = get_connection()
                _open_quietly(backend)
            if _deliver(email=email, backend=backend, owner=owner):
                sent += 1
    finally:
        if backend is not None:
            _close_quietly(backend)
    return sent


def _due(now) -> Q:
    return Q(status=OutboxStatus.QUEUED) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _claim_next(*, owner: str) -> OutboundEmail | None:
    """Lease the oldest due message (queued → sending) and return it, or None when none is due.
    Rows another worker is claiming are skipped, so concurrent workers never wait on each other."""
    now = timezone.now()
    with transaction.atomic():
        email = (
            OutboundEmail.objects.filter(_due(now))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("content_type")
            .order_by("id")
            .first()
        )
        if email is None:
            return None
        email.status = OutboxStatus.SENDING
        email.claimed_at = now
        email.lease_owner = owner
        email.lease_until = lease_end(now)
        email.attempts += 1
        email.save(update_fields=["status", "claimed_at", "lease_owner", "lease_until", "attempts"])
    return email


def _mine(email: OutboundEmail, owner: str):
    return OutboundEmail.objects.filter(pk=email.pk, status=OutboxStatus.SENDING, lease_owner=owner)


class SenderMailboxError(Exception):
    """A user's own email cannot be sent as written: their mailbox's OAuth2 sign-in was
    revoked or is no longer configured, or a recipient said no to email meanwhile. It fails,
    with the reason, at once."""


def _recipients_check(email: OutboundEmail) -> None:
    """A user's own email (sent later, or retried) does not go to someone who said no to email
    since it was written."""
    if email.sender_id is None:
        return
    from crm.services.compose import addresses_opted_out

    refused = addresses_opted_out([email.to_email, *(email.cc or [])])
    if refused:
        raise SenderMailboxError(
            f"Not sent: {', '.join(refused)} said no to email after it was written."
        )


class MailboxSMTPBackend(SMTPBackend):
    """Django's SMTP backend for a user's own server: certificates checked like the mailbox
    page checks them (``MAIL_TLS_CA_FILE``), and, for a mailbox connected with Google or
    Microsoft 365, signing in with SASL XOAUTH2 and an access token instead of a password."""

    def __init__(self, *, xoauth2: str = "", **kwargs):
        self.xoauth2 = xoauth2
        super().__init__(**kwargs)

    @property
    def ssl_context(self):
        from crm.mail.connect import tls_context

        return tls_context()

    def open(self):
        opened = super().open()
        if opened and self.xoauth2:
            try:
                self.connection.ehlo_or_helo_if_needed()
                # A refused token gets a 334 challenge (the error, as JSON): answer it empty.
                self.connection.auth(
                    "XOAUTH2", lambda challenge=None: self.xoauth2 if challenge is None else ""
                )
            except BaseException:
                self.close()
                raise
        return opened


def _sender_route(email: OutboundEmail, backend):
    """(connection, From, Reply-To) for a row: the sender's own SMTP server and address when
    they connected a mailbox, else ours with their name, answered to their address. A mailbox
    connected with OAuth2 signs in with a fresh access token (refreshed when about to expire)."""
    if email.sender_id is None:
        return backend, None, []
    from crm.choices import MailSecurity
    from crm.mail.connect import MailAuthError, xoauth2_string
    from crm.mail.oauth import oauth_access_token
    from crm.models import Mailbox, User

    user = User.objects.filter(pk=email.sender_id).first()
    if user is None:
        return backend, None, []
    name = user.get_full_name() or user.username
    mailbox = Mailbox.objects.filter(user_id=user.pk).exclude(smtp_host="").first()
    if mailbox is None:
        default = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
        return backend, formataddr((name, default)), [user.email] if user.email else []
    login = mailbox.smtp_username or mailbox.imap_username or mailbox.email_address
    password = mailbox.smtp_password or mailbox.imap_password or None
    xoauth2 = ""
    if mailbox.uses_oauth:
        try:
            xoauth2 = xoauth2_string(login, oauth_access_token(mailbox=mailbox))
        except MailAuthError as exc:
            raise SenderMailboxError(f"{mailbox.email_address}: {exc}") from exc
        password = None
    own = MailboxSMTPBackend(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        username=login if password else None,
        password=password,
        use_tls=mailbox.smtp_security == MailSecurity.STARTTLS,
        use_ssl=mailbox.smtp_security == MailSecurity.SSL,
        timeout=getattr(settings, "EMAIL_TIMEOUT", 30),
        fail_silently=False,
        xoauth2=xoauth2,
    )
    return own, formataddr((name, mailbox.email_address)), []


def _deliver(*, email: OutboundEmail, backend, owner: str) -> bool:
    """Send one leased row and record the outcome; True when the server accepted it."""
    try:
        _recipients_check(email)
        route, from_email, reply_to = _sender_route(email, backend)
    except SenderMailboxError as exc:
        _record_failure(email=email, exc=exc, owner=owner)
        return False
    except Exception as exc:
        # The sender's settings could not be read (nothing reached a mail server): retry later.
        logger.exception("Outbox %s: the sender's mailbox could not be read", email.pk)
        _record_failure(email=email, exc=exc, owner=owner, transient=True)
        return False
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=from_email,
        to=[email.to_email],
        cc=list(email.cc or []),
        reply_to=reply_to,
        connection=route,
        headers={"X-CRM-Outbox-Id": str(email.pk), "Message-ID": outbox_message_id(email)},
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        for spec in email.attachments or []:
            made = email_attachments.make(spec)
            if made.params:
                message.attach(_attachment_part(made))
            else:
                message.attach(made.filename, made.content, made.mimetype)
    except AttachmentGone as exc:
        _record_failure(email=email, exc=exc, owner=owner)
        return False
    except Exception as exc:
        # Nothing reached the mail server: try again later, like a connection error would.
        logger.exception("Outbox %s: an attachment could not be made", email.pk)
        _record_failure(email=email, exc=exc, owner=owner, transient=True)
        return False
    try:
        message.send()
    except SoftTimeLimitExceeded:
        # Stopped mid hand-off: the server may have taken it. Send again with the same
        # Message-ID (receivers drop the copy), and stop the batch.
        lease_release(
            _mine(email, owner),
            owner=owner,
            status=OutboxStatus.QUEUED,
            uncertain=True,
            last_error="Stopped by the time limit while sending; it may have arrived.",
        )
        raise
    except Exception as exc:
        _record_failure(email=email, exc=exc, owner=owner)
        return False
    # Whatever happened to the lease meanwhile (a sweep that judged this worker dead), the
    # server has the message now: mark it sent unless it already is, so it is not sent again.
    OutboundEmail.objects.filter(pk=email.pk).exclude(status=OutboxStatus.SENT).update(
        status=OutboxStatus.SENT,
        sent_at=timezone.now(),
        last_error="",
        lease_owner="",
        lease_until=None,
    )
    _log_sent(email)
    return True


def _attachment_part(made) -> MIMEBase:
    """The MIME part of an attachment whose Content-Type carries parameters (Django's
    ``attach`` takes a bare type only)."""
    maintype, subtype = made.mimetype.split("/", 1)
    if maintype == "text":
        part = MIMEText(made.content.decode("utf-8"), subtype, "utf-8")
    else:
        part = MIMEBase(maintype, subtype)
        part.set_payload(made.content)
        encoders.encode_base64(part)
    for name, value in made.params:
        part.set_param(name, value)
    part.add_header("Content-Disposition", "attachment", filename=made.filename)
    return part


def _is_transient(exc: Exception) -> bool:
    """Connection trouble and 4xx replies are worth retrying; 5xx replies and bugs are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code < 500
    return isinstance(exc, smtplib.SMTPException | OSError)


def _record_failure(
    *, email: OutboundEmail, exc: Exception, owner: str, transient: bool = False
) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if (transient or _is_transient(exc)) and email.attempts < MAX_ATTEMPTS:
        status, next_attempt_at = (
            OutboxStatus.QUEUED,
            timezone.now() + retry_delay(attempts=email.attempts),
        )
        logger.warning(
            "Outbox %s: attempt %s failed, will retry: %s", email.pk, email.attempts, error
        )
    else:
        status, next_attempt_at = OutboxStatus.FAILED, None
        logger.error("Outbox %s failed after %s attempt(s): %s", email.pk, email.attempts, error)
    lease_release(
        _mine(email, owner),
        owner=owner,
        status=status,
        next_attempt_at=next_attempt_at,
        claimed_at=None,
        last_error=error,
    )
    email.status, email.next_attempt_at, email.last_error = status, next_attempt_at, error


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff with "equal jitter": between half and all of the doubled delay, so
    messages that failed together (an SMTP outage) do not all come back in the same second."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def _log_sent(email: OutboundEmail) -> None:
    """A line on the related record's timeline; best effort, the message is already sent.
    A user's own email has its entry from when it was written, which shows it sent."""
    if email.content_type_id is None or email.object_id is None or email.sender_id:
        return
    try:
        related = email.related
        if related is not None:
            system_event(
                subject=related, summary=f"Email sent to {email.to_email}: {email.subject}"
            )
    except Exception:
        logger.exception("Outbox %s: sent, but the timeline entry could not be written", email.pk)


def _open_quietly(backend) -> None:
    """One SMTP connection for the batch; if it cannot open, each send reports its own error."""
    try:
        backend.open()
    except Exception:
        logger.warning("Could not open the email connection; sending will retry per message.")
        _close_quietly(backend)


def _close_quietly(backend) -> None:
    try:
        backend.close()
    except Exception:
        logger.warning("Closing the email connection failed", exc_info=True)


def outbox_pending() -> int:
    """Emails queued or being handed to the mail server (the queue depth metric)."""
    return OutboundEmail.objects.filter(
        status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING]
    ).count()


def outbox_sweep(*, now=None) -> int:
    """Return to the queue every message whose sender's lease ran out (the worker was killed or
    hung while handing it to the SMTP server), marked uncertain: it is sent again with the same
    Message-ID. One that stopped its worker ``MAX_ATTEMPTS`` times fails for an admin instead.
    Then wake a worker if anything is due. Returns how many messages came back."""
    now = now or timezone.now()
    expired = OutboundEmail.objects.filter(status=OutboxStatus.SENDING).filter(
        Q(lease_until__lt=now)
        # Claimed before leases existed: the claim time plus one lease.
        | Q(lease_until__isnull=True, claimed_at__lt=now - timedelta(seconds=lease_seconds()))
        | Q(lease_until__isnull=True, claimed_at__isnull=True)
    )
    stopped = "The worker stopped while handing it to the mail server; it may have arrived."
    with transaction.atomic():
        failed = expired.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=OutboxStatus.FAILED,
            uncertain=True,
            lease_owner="",
            lease_until=None,
            last_error=f"{stopped} Stopped {MAX_ATTEMPTS} times: left for an admin.",
        )
        returned = expired.update(
            status=OutboxStatus.QUEUED,
            uncertain=True,
            lease_owner="",
            lease_until=None,
            next_attempt_at=None,
            last_error=stopped,
        )
    if failed or returned:
        logger.warning("Outbox sweep: %s back in the queue, %s failed", returned, failed)
    if OutboundEmail.objects.filter(_due(now)).exists():
        transaction.on_commit(_enqueue_send)
    return returned


def outbox_problems(limit: int) -> list[Problem]:
    """Failed messages, uncertain ones, and ones whose lease ran out not yet swept."""
    now = timezone.now()
    rows = (
        OutboundEmail.objects.filter(
            Q(status=OutboxStatus.FAILED)
            | Q(uncertain=True, status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING])
            | Q(status=OutboxStatus.SENDING, lease_until__lt=now)
        )
        .only("pk", "to_email", "subject", "status", "uncertain", "last_error", "created_at")
        .order_by("-id")[:limit]
    )
    problems = []
    for email in rows:
        state = email.get_status_display()
        if email.uncertain:
            state += " (uncertain)"
        problems.append(
            Problem(
                pk=email.pk,
                title=f"{email.subject} → {email.to_email}",
                state=state,
                detail=email.last_error,
                since=email.created_at,
                url=reverse("admin:crm_outboundemail_change", args=[email.pk]),
                retryable=email.status == OutboxStatus.FAILED,
            )
        )
    return problems


def outbox_retry(pk: int) -> bool:
    """The operators' page's retry: a failed message, or one whose worker's lease ran out."""
    email = OutboundEmail.objects.filter(
        pk=pk, status__in=[OutboxStatus.FAILED, OutboxStatus.SENDING]
    ).first()
    return bool(email) and outbox_requeue(email=email)


@transaction.atomic
def outbox_requeue(*, email: OutboundEmail) -> bool:
    """Put a message back in the queue on an admin's decision, with fresh attempts.

    For ``failed`` rows, and ``sending`` rows whose lease ran out (the worker died while handing
    the message to SMTP, so it may already have arrived: it keeps its Message-ID). A sent
    message, or one a live worker is sending, is never requeued. Returns whether it was.
    """
    now = timezone.now()
    updated = (
        OutboundEmail.objects.filter(pk=email.pk)
        .filter(
            Q(status__in=[OutboxStatus.QUEUED, OutboxStatus.FAILED])
            | Q(status=OutboxStatus.SENDING) & lease_free(now)
        )
        .update(
            status=OutboxStatus.QUEUED,
            attempts=0,
            next_attempt_at=None,
            claimed_at=None,
            lease_owner="",
            lease_until=None,
        )
    )
    if updated:
        email.refresh_from_db(fields=["status", "attempts", "next_attempt_at", "claimed_at"])
        _enqueue_send_on_commit()
    return bool(updated)
