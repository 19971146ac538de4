"""Intake from customers: the public form, inbound email (webhook or IMAP mailbox).

An email from a ticket's contact is threaded onto that ticket as the customer's reply when its
subject carries the reference (``[T-000123]``) or, failing that, when its In-Reply-To or
References header names a message of the ticket: a reply we sent (its Message-ID is stored),
another message of the thread, or any email the outbox sent about the ticket (the
acknowledgement). Anything else opens a new ticket. Each message is
handled once: its Message-ID is stored, and a message seen before is skipped.
"""

import email
import email.policy
import imaplib
import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.html import strip_tags

from crm.choices import ActivityKind
from crm.models import Account, Contact, OutboundEmail
from crm.normalize import normalize_email
from crm.services import customers
from crm.services.outbox import email_queue, outbox_id_from_message_id
from crm.services.timeline import activity_log
from support.choices import Channel, TicketStatus
from support.models import Queue, Ticket, TicketMessage
from support.services import tickets as ticket_services
from support.services.attachments import attachment_check, content_file, max_files

logger = logging.getLogger(__name__)

REFERENCE = re.compile(r"\[(T-\d{6,})\]", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
#: At most this many ids of a References header are looked up (the newest are last).
MAX_REFERENCES = 20
#: Largest raw message accepted (attachments included).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class InboundError(ValueError):
    """The message cannot become a ticket (no sender, unreadable); the reason is user-facing."""


@dataclass
class InboundResult:
    ticket: Ticket | None
    created: bool = False
    duplicate: bool = False
    rejected_files: tuple[str, ...] = ()


def contact_for_email(*, email_address: str, name: str = "") -> Contact:
    """The contact with this (normalised) email, or a new one (in the account whose website
    domain matches the address, when there is one)."""
    address = normalize_email(email_address)
    contact = Contact.objects.filter(email=address).select_related("account").order_by("id").first()
    if contact is not None:
        return contact
    parts = (name or "").strip().split()
    first_name = " ".join(parts[:-1])[:100] if len(parts) > 1 else ""
    last_name = (parts[-1] if parts else address.split("@")[0])[:100]
    domain = address.rsplit("@", 1)[-1]
    account = Account.objects.filter(domain=domain).order_by("id").first()
    # No user acts here: the contact is created by the system (no actor, no owner unless the
    # account has one).
    return customers.contact_create(
        user=None,
        summary="Contact created from a support request",
        on_duplicate="allow",  # a new address writes in: never refuse the request
        first_name=first_name,
        last_name=last_name,
        email=address,
        account=account,
        owner=account.owner if account else None,
    )


def _acknowledge(ticket: Ticket) -> None:
    contact = ticket.contact
    if contact is None or not contact.email:
        return
    email_queue(
        to_email=contact.email,
        subject=f"[{ticket.reference}] We received your request: {ticket.subject}",
        body_text=(
            f"Hello {contact.first_name or contact.full_name},\n\nthank you for contacting us. "
            f"Your request has the reference {ticket.reference}; keep it in the subject when "
            "you write to us about it, and we will answer as soon as we can.\n"
        ),
        related=ticket,
        idempotency_key=f"support-ack:{ticket.pk}",
    )


@transaction.atomic
def public_ticket_submit(
    *, name: str, email_address: str, subject: str, description: str, files=()
) -> Ticket:
    """The public form: find or create the contact, open a ticket, acknowledge by email."""
    contact = contact_for_email(email_address=email_address, name=name)
    ticket = ticket_services.ticket_create(
        subject=subject,
        description=description,
        contact=contact,
        channel=Channel.WEB_FORM,
        files=files,
    )
    _acknowledge(ticket)
    return ticket


def _body_text(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        text = strip_tags(text)
    return text.strip()


def _attachments(message) -> tuple[list, list[str]]:
    files, rejected = [], []
    for part in message.iter_attachments():
        name = part.get_filename() or "attachment"
        payload = part.get_payload(decode=True)
        if not payload:
            continue
        upload = content_file(payload, name)
        try:
            attachment_check(name=name, upload=upload)
        except ValidationError as exc:
            rejected.append(" ".join(exc.messages))
            continue
        files.append(upload)
    if len(files) > max_files():
        rejected.append(f"Only the first {max_files()} attachments were kept.")
        files = files[: max_files()]
    return files, rejected


def _queue_for(recipients: list[str]) -> Queue | None:
    addresses = [normalize_email(a) for a in recipients if a]
    if addresses:
        queue = Queue.objects.filter(email_address__in=addresses).order_by("id").first()
        if queue is not None:
            return queue
    return None


def inbound_email_process(*, raw: bytes) -> InboundResult:
    """One raw RFC 822 message → a new ticket, or a reply threaded onto its ticket."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InboundError("The message is too large.")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        senders = getaddresses([str(message.get("From", ""))])
        subject = str(message.get("Subject", "") or "").strip()
        message_id = str(message.get("Message-ID", "") or "").strip()[:255]
        answered_ids = _answered_ids(message)
        recipients = [
            a for _, a in getaddresses([str(message.get("To", "")), str(message.get("Cc", ""))])
        ]
    except Exception as exc:  # a header the parser cannot read
        raise InboundError(f"The message could not be read: {exc}") from exc
    name, address = senders[0] if senders else ("", "")
    address = normalize_email(address)
    try:
        validate_email(address)
    except ValidationError:
        raise InboundError("The message has no valid sender address.") from None
    if message_id and (
        Ticket.objects.filter(source_message_id=message_id).exists()
        or TicketMessage.objects.filter(email_message_id=message_id).exists()
    ):
        existing = Ticket.objects.filter(source_message_id=message_id).first()
        if existing is None:
            existing = TicketMessage.objects.filter(email_message_id=message_id).first().ticket
        return InboundResult(ticket=existing, duplicate=True)
    body = _body_text(message)
    files, rejected = _attachments(message)
    with transaction.atomic():
        ticket = _thread_target(subject=subject, sender=address, answered_ids=answered_ids)
        if ticket is not None:
            ticket_services.ticket_customer_reply(
                ticket=ticket,
                contact=ticket.contact,
                body=body,
                files=files,
                email_message_id=message_id,
            )
            created = False
        else:
            contact = contact_for_email(email_address=address, name=name)
            ticket = ticket_services.ticket_create(
                subject=subject or "(no subject)",
                description=body,
                contact=contact,
                channel=Channel.EMAIL,
                queue=_queue_for(recipients),
                files=files,
                source_message_id=message_id,
            )
            _acknowledge(ticket)
            created = True
        if rejected:
            activity_log(
                subject=ticket,
                kind=ActivityKind.SYSTEM,
                summary="Attachments refused from an email",
                body="\n".join(rejected),
            )
    return InboundResult(ticket=ticket, created=created, rejected_files=tuple(rejected))


def _answered_ids(message) -> list[str]:
    """Message-IDs the message answers: In-Reply-To first, then References newest first."""
    in_reply_to = MESSAGE_ID.findall(str(message.get("In-Reply-To", "") or ""))
    references = MESSAGE_ID.findall(str(message.get("References", "") or ""))
    ids = []
    for value in [*in_reply_to, *reversed(references[-MAX_REFERENCES:])]:
        if value[:255] not in ids:
            ids.append(value[:255])
    return ids


def _thread_target(*, subject: str, sender: str, answered_ids=()) -> Ticket | None:
    """The ticket named in the subject, else (no reference, or one naming no ticket) the one
    whose message the email answers, if the sender is its contact (anyone else quoting a reference opens a ticket of their own),
    following merges."""
    match = REFERENCE.search(subject)
    ticket_id = None
    if match:
        ticket_id = (
            Ticket.objects.filter(reference=match.group(1).upper())
            .values_list("pk", flat=True)
            .first()
        )
    if ticket_id is None and answered_ids:
        ticket_id = _ticket_answered(answered_ids)
    if ticket_id is None:
        return None
    ticket = Ticket.objects.select_related("contact", "merged_into__contact").get(pk=ticket_id)
    if ticket.merged_into_id:
        ticket = ticket.merged_into
    if ticket.contact is None or ticket.contact.email != sender:
        return None
    if ticket.status == TicketStatus.CLOSED:
        return None
    return ticket


def _ticket_answered(answered_ids: list[str]) -> int | None:
    """The ticket of the first answered id that is a message of a ticket's thread, the email
    that opened a ticket, or an email the outbox sent about a ticket."""
    found: dict[str, int] = dict(
        TicketMessage.objects.filter(email_message_id__in=answered_ids).values_list(
            "email_message_id", "ticket_id"
        )
    )
    for message_id, ticket_id in Ticket.objects.filter(
        source_message_id__in=answered_ids
    ).values_list("source_message_id", "pk"):
        found.setdefault(message_id, ticket_id)
    outbox_ids = {
        outbox_id: message_id
        for message_id in answered_ids
        if message_id not in found
        and (outbox_id := outbox_id_from_message_id(message_id)) is not None
    }
    if outbox_ids:
        for outbox_id, ticket_id in OutboundEmail.objects.filter(
            pk__in=outbox_ids, content_type=ContentType.objects.get_for_model(Ticket)
        ).values_list("pk", "object_id"):
            found[outbox_ids[outbox_id]] = ticket_id
    return next((found[i] for i in answered_ids if i in found), None)


def imap_settings() -> dict:
    return {
        "host": getattr(settings, "SUPPORT_IMAP_HOST", ""),
        "port": int(getattr(settings, "SUPPORT_IMAP_PORT", 993)),
        "user": getattr(settings, "SUPPORT_IMAP_USER", ""),
        "password": getattr(settings, "SUPPORT_IMAP_PASSWORD", ""),
        "folder": getattr(settings, "SUPPORT_IMAP_FOLDER", "INBOX"),
    }


def imap_fetch_run(*, limit: int = 200) -> dict:
    """Read unseen messages of the support mailbox; each becomes a ticket or a reply and is then
    flagged seen (by UID). A message handled before (same Message-ID) is only flagged, so a crash
    between handling and flagging never makes a second ticket."""
    config = imap_settings()
    counts = {"processed": 0, "duplicates": 0, "failed": 0}
    if not (config["host"] and config["user"]):
        return counts
    client = imaplib.IMAP4_SSL(config["host"], config["port"])
    try:
        client.login(config["user"], config["password"])
        client.select(config["folder"])
        status, data = client.uid("SEARCH", None, "UNSEEN")
        if status != "OK":
            return counts
        uids = (data[0] or b"").split()[:limit]
        for uid in uids:
            status, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched or () if isinstance(item, tuple)), None)
            if status != "OK" or raw is None:
                counts["failed"] += 1
                continue
            try:
                result = inbound_email_process(raw=raw)
            except InboundError as exc:
                logger.warning("IMAP message %s refused: %s", uid, exc)
                counts["failed"] += 1
            else:
                counts["duplicates" if result.duplicate else "processed"] += 1
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    finally:
        try:
            client.logout()
        except Exception:
            logger.warning("IMAP logout failed", exc_info=True)
    return counts
