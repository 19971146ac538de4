"""The email outbox: messages are stored first, then delivered exactly once by a Celery task.

Why a table and not ``send_mail`` in the request: a user's action must not fail or wait because SMTP
is slow or down, and a retried automation must not mail a customer twice. So callers queue a row
named by an idempotency key, and ``outbox_send_queued`` claims rows with one status change
(queued → sending) before sending. A row is marked sent right after the SMTP server accepts it; if
the process dies between the two, the row stays ``sending`` and is never sent again on its own —
a duplicate email is worse than a late one, so an admin decides (``outbox_requeue``).
"""

import logging
import random
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from crm.choices import OutboxStatus
from crm.db import insert_rows
from crm.models import OutboundEmail
from crm.services.timeline import system_event

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
) -> OutboundEmail | None:
    """Queue one email, once per ``idempotency_key``; delivery is enqueued after commit.

    Returns the existing row (creating nothing) when the key was queued before, so a retried
    automation can call this freely. Returns ``None`` when there is no address to send to.
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
    """Deliver queued messages that are due; returns how many were sent.

    Safe to run concurrently and repeatedly: each row is claimed by exactly one run.
    """
    now = timezone.now()
    claimed_ids = _claim(batch_size=batch_size, now=now)
    if not claimed_ids:
        return 0
    emails = list(
        OutboundEmail.objects.filter(pk__in=claimed_ids, status=OutboxStatus.SENDING)
        .select_related("content_type")
        .order_by("id")
    )
    untouched = {email.pk for email in emails}
    sent = 0
    backend = get_connection()
    try:
        _open_quietly(backend)
        for email in emails:
            untouched.discard(email.pk)
            if _deliver(email=email, backend=backend):
                sent += 1
    finally:
        # Interrupted (e.g. by the task's soft time limit): rows we never tried go back to the
        # queue as if not claimed. The row being sent at that moment stays ``sending``.
        if untouched:
            OutboundEmail.objects.filter(pk__in=untouched, status=OutboxStatus.SENDING).update(
                status=OutboxStatus.QUEUED, claimed_at=None, attempts=F("attempts") - 1
            )
        _close_quietly(backend)
    return sent


def _claim(*, batch_size: int, now) -> list[int]:
    """Move up to ``batch_size`` due rows from queued to sending, and return the ids we own."""
    due = OutboundEmail.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=OutboxStatus.QUEUED,
    ).order_by("id")
    claim = {"status": OutboxStatus.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    # Rows another worker has locked are skipped, the rest are ours until commit.
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True).values_list("id", flat=True)[:batch_size]
        )
        if ids:
            OutboundEmail.objects.filter(pk__in=ids).update(**claim)
    return ids


def _deliver(*, email: OutboundEmail, backend) -> bool:
    """Send one claimed row and record the outcome; True when the server accepted it."""
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        to=[email.to_email],
        connection=backend,
        headers={"X-CRM-Outbox-Id": str(email.pk), "Message-ID": outbox_message_id(email)},
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except SoftTimeLimitExceeded as exc:
        # We cannot know whether the server took it: fail it for an admin, and stop the batch.
        _record_failure(email=email, exc=exc)
        raise
    except Exception as exc:
        _record_failure(email=email, exc=exc)
        return False
    email.status = OutboxStatus.SENT
    email.sent_at = timezone.now()
    email.last_error = ""
    email.save(update_fields=["status", "sent_at", "last_error"])
    _log_sent(email)
    return True


def _is_transient(exc: Exception) -> bool:
    """Connection trouble and 4xx replies are worth retrying; 5xx replies and bugs are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code < 500
    return isinstance(exc, smtplib.SMTPException | OSError)


def _record_failure(*, email: OutboundEmail, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    email.last_error = error
    email.claimed_at = None
    if _is_transient(exc) and email.attempts < MAX_ATTEMPTS:
        email.status = OutboxStatus.QUEUED
        email.next_attempt_at = timezone.now() + retry_delay(attempts=email.attempts)
        logger.warning(
            "Outbox %s: attempt %s failed, will retry: %s", email.pk, email.attempts, error
        )
    else:
        email.status = OutboxStatus.FAILED
        email.next_attempt_at = None
        logger.error("Outbox %s failed after %s attempt(s): %s", email.pk, email.attempts, error)
    email.save(update_fields=["status", "next_attempt_at", "claimed_at", "last_error"])


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff with "equal jitter": between half and all of the doubled delay, so
    messages that failed together (an SMTP outage) do not all come back in the same second."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def _log_sent(email: OutboundEmail) -> None:
    """A line on the related record's timeline; best effort, the message is already sent."""
    if email.content_type_id is None or email.object_id is None:
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


@transaction.atomic
def outbox_requeue(*, email: OutboundEmail) -> bool:
    """Put a message back in the queue on an admin's decision, with fresh attempts.

    For rows stuck in ``sending`` (the process died after handing the message to SMTP, so it may
    already have arrived) and ``failed`` rows. A sent message is never requeued. Returns whether
    the row was requeued.
    """
    updated = OutboundEmail.objects.filter(
        pk=email.pk,
        status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.FAILED],
    ).update(
        status=OutboxStatus.QUEUED,
        attempts=0,
        next_attempt_at=None,
        claimed_at=None,
    )
    if updated:
        email.refresh_from_db(fields=["status", "attempts", "next_attempt_at", "claimed_at"])
        _enqueue_send_on_commit()
    return bool(updated)
