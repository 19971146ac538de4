"""Storing an email once and linking it to the records it concerns.

``mail_message_import`` is what a mailbox sync (and the logging address) calls for each message.
A message is stored only when it is not private, not too large, has a counterpart outside the
company whose domain is not excluded, and concerns a known record: a contact or lead with a
counterpart's address (with the contact's account and, through ``crm.registry.mail_link_finders``,
its open deals), the record an email sent from the CRM was about when this one answers it, or
the records of the message it answers.

Never twice: the Message-ID, each (message, record) link and each (message, user) sighting are
unique in the database, and each row is inserted in a savepoint that falls back to the row a
concurrent import committed first, so two imports of the same message (two users' mailboxes,
the Sent copy and the Inbox copy) store one message, one set of links and one timeline line
per record; the reply hooks run only for the links an import created.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q

from crm import registry
from crm.choices import ActivityKind, MailDirection
from crm.mail.links import linkable_models
from crm.mail.parse import ParsedMail, UnreadableMail, parse_mail
from crm.models import (
    Activity,
    Contact,
    Mailbox,
    MailLink,
    MailMessage,
    MailMessageSeen,
    MailThread,
    OutboundEmail,
    User,
)
from crm.normalize import normalize_email
from crm.services.outbox import outbox_id_from_message_id

logger = logging.getLogger(__name__)

IMPORTED = "imported"
DUPLICATE = "duplicate"
SKIPPED = "skipped"

#: How much of an email's text its timeline line carries; the whole message is on its page.
TIMELINE_EXCERPT = 300


@dataclass
class MailImportResult:
    """What became of one message: ``imported`` (stored now), ``duplicate`` (stored before;
    links to records found since were added) or ``skipped`` (``reason`` says why)."""

    status: str
    reason: str = ""
    mail: MailMessage | None = None
    linked: list = field(default_factory=list)  # records linked by this import

    @property
    def stored(self) -> bool:
        return self.mail is not None


def mail_message_import(
    *,
    mailbox: Mailbox | None,
    raw: bytes,
    private: bool = False,
    user=None,
    ours: "OurAddresses | None" = None,
) -> MailImportResult:
    """Import one raw message seen in ``mailbox`` (a user's connected mailbox), or, with
    ``mailbox=None``, logged by ``user`` through their logging address. A ``private`` message
    (the user's private label) is never stored. ``ours`` (``OurAddresses.load()``) may be
    passed by a caller importing a batch, so it is read once per batch, not per message."""
    if private:
        return MailImportResult(SKIPPED, "private")
    if len(raw) > settings.MAIL_IMPORT_MAX_BYTES:
        return MailImportResult(SKIPPED, "too large")
    try:
        parsed = parse_mail(raw)
    except UnreadableMail:
        return MailImportResult(SKIPPED, "unreadable")
    return mail_parsed_import(parsed=parsed, user=user or mailbox.user, mailbox=mailbox, ours=ours)


def mail_parsed_import(
    *, parsed: ParsedMail, user, mailbox=None, ours: "OurAddresses | None" = None
) -> MailImportResult:
    """Import a message already read (the logging address reads forwarded originals itself)."""
    ours = ours or OurAddresses.load()
    counterparts = [address for address in parsed.participants if not ours.is_ours(address)]
    if not counterparts:
        # Not stored, but a colleague's answer to a meeting invitation still counts.
        _run_inbound_handlers(parsed, mailbox)
        return MailImportResult(SKIPPED, "internal")
    counterparts = [address for address in counterparts if not _excluded(address)]
    if not counterparts:
        return MailImportResult(SKIPPED, "excluded domain")
    inbound = not ours.is_ours(parsed.from_email)
    records = _records_for(parsed, counterparts)
    if not records:
        _run_inbound_handlers(parsed, mailbox)
        return MailImportResult(SKIPPED, "no known record")
    with transaction.atomic():
        mail, created = _store(parsed, user=user, inbound=inbound, counterparts=counterparts)
        if user is not None:
            _once(MailMessageSeen, message=mail, user=user)
        linked = [record for record in records if _link(mail, record, user=user)]
        if created:
            _run_inbound_handlers(parsed, mailbox)
        if inbound:
            for record in linked:
                for hook in registry.mail_reply_hooks:
                    hook(mail=mail, record=record)
    return MailImportResult(IMPORTED if created else DUPLICATE, mail=mail, linked=linked)


@dataclass(frozen=True)
class OurAddresses:
    """Addresses on the company's side: every user's, every connected mailbox's, the logging
    address (with any ``+token``) and the company's own domains (``MAIL_OWN_DOMAINS``)."""

    addresses: frozenset[str]
    domains: frozenset[str]
    logging: tuple[str, str] | None  # (local part, domain)

    @classmethod
    def load(cls) -> "OurAddresses":
        addresses = {
            normalize_email(e)
            for e in User.objects.exclude(email="").values_list("email", flat=True)
        }
        addresses |= {
            normalize_email(e) for e in Mailbox.objects.values_list("email_address", flat=True)
        }
        logging_address = normalize_email(settings.MAIL_LOGGING_ADDRESS)
        local, _, domain = logging_address.partition("@")
        return cls(
            frozenset(addresses),
            frozenset(settings.MAIL_OWN_DOMAINS),
            (local, domain) if local and domain else None,
        )

    def is_ours(self, address: str) -> bool:
        address = normalize_email(address)
        local, _, domain = address.rpartition("@")
        if address in self.addresses or _domain_in(domain, self.domains):
            return True
        if self.logging is not None:
            return domain == self.logging[1] and local.split("+", 1)[0] == self.logging[0]
        return False


def _domain_in(domain: str, domains) -> bool:
    """``mail.example.com`` is in ``example.com``."""
    return any(domain == d or domain.endswith("." + d) for d in domains)


def _excluded(address: str) -> bool:
    return _domain_in(address.rpartition("@")[2], settings.MAIL_EXCLUDED_DOMAINS)


def _records_for(parsed: ParsedMail, counterparts: list[str]) -> list:
    """The records to link, each once, in a stable order."""
    contacts = list(Contact.objects.filter(email__in=counterparts).select_related("account"))
    accounts = list({c.account_id: c.account for c in contacts if c.account_id}.values())
    found = [*contacts, *accounts]
    for finder in registry.mail_link_finders:
        found += finder(emails=frozenset(counterparts), contacts=contacts, accounts=accounts)
    found += _answered_records(parsed)
    kinds = set(linkable_models())
    unique = {}
    for record in found:
        if record is not None and type(record) in kinds:
            unique.setdefault((record._meta.label_lower, record.pk), record)
    return list(unique.values())


def _answered_records(parsed: ParsedMail) -> list:
    """The records of what this message is or answers: an email sent from the CRM (its outbox
    row's related record, e.g. the deal it was sent from; the sent copy itself too, synced from
    the Sent folder) and stored emails of the same thread."""
    ids = parsed.thread_ids
    outbox_ids = [
        pk for pk in map(outbox_id_from_message_id, [parsed.message_id, *ids]) if pk is not None
    ]
    if not outbox_ids and not ids:
        return []
    records = [
        email.related
        for email in OutboundEmail.objects.filter(pk__in=outbox_ids, content_type__isnull=False)
    ]
    for link in MailLink.objects.filter(message__message_id__in=ids).select_related("content_type"):
        records.append(link.record)
    return records


def _thread_for(parsed: ParsedMail, counterparts: list[str]) -> MailThread:
    ids = parsed.thread_ids
    known = (
        MailMessage.objects.filter(message_id__in=ids).values_list("thread_id", flat=True).first()
        if ids
        else _thread_by_subject(parsed, counterparts)
    )
    if known is not None:
        return MailThread.objects.get(pk=known)
    # The first of References names where the conversation started; every reply carries it.
    root = (parsed.references[0] if parsed.references else parsed.in_reply_to) or parsed.message_id
    thread, _ = MailThread.objects.get_or_create(
        root_message_id=root, defaults={"subject": parsed.subject}
    )
    return thread


_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs|ynt|odp)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
#: How far back a reply that names no message may find the conversation it answers.
SUBJECT_THREAD_DAYS = 30


def _thread_by_subject(parsed: ParsedMail, counterparts: list[str]) -> int | None:
    """The conversation a reply that names no message answers (a client that drops
    In-Reply-To and References), or None.

    Only when it is safe: the subject says it is a reply ("Re: …"), and a message of the last
    ``SUBJECT_THREAD_DAYS`` has the same subject without its prefixes and every one of this
    message's counterparts among its own participants. Otherwise a new conversation: two
    customers' "Re: Quote" are never merged."""
    match = _REPLY_PREFIX.match(parsed.subject)
    topic = parsed.subject[match.end() :].strip().lower() if match else ""
    if not topic:
        return None
    since = parsed.sent_at - timedelta(days=SUBJECT_THREAD_DAYS)
    candidates = (
        MailMessage.objects.filter(sent_at__gte=since, sent_at__lte=parsed.sent_at)
        .filter(
            Q(from_email__in=counterparts)
            | Q(to_emails__overlap=counterparts)
            | Q(cc_emails__overlap=counterparts)
        )
        .filter(subject__iendswith=topic)
        .order_by("-sent_at", "-id")
        .values_list("thread_id", "subject", "from_email", "to_emails", "cc_emails")[:20]
    )
    for thread_id, subject, sender, to, cc in candidates:
        prefix = _REPLY_PREFIX.match(subject)
        if (subject[prefix.end() :] if prefix else subject).strip().lower() != topic:
            continue
        if set(counterparts) <= {sender, *to, *cc}:
            return thread_id
    return None


def _store(
    parsed: ParsedMail, *, user, inbound: bool, counterparts: list[str]
) -> tuple[MailMessage, bool]:
    existing = MailMessage.objects.filter(message_id=parsed.message_id).first()
    if existing is not None:
        return existing, False
    thread = _thread_for(parsed, counterparts)
    values = {
        "thread": thread,
        "direction": MailDirection.INBOUND if inbound else MailDirection.OUTBOUND,
        "from_email": parsed.from_email,
        "from_name": parsed.from_name,
        "to_emails": parsed.to,
        "cc_emails": parsed.cc,
        "subject": parsed.subject,
        "body_text": parsed.body_text,
        "body_html": parsed.body_html,
        "sent_at": parsed.sent_at,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "user": user,
    }
    mail, created = _once(MailMessage, message_id=parsed.message_id, defaults=values)
    if created:
        MailThread.objects.filter(
            Q(pk=thread.pk), Q(last_message_at__isnull=True) | Q(last_message_at__lt=mail.sent_at)
        ).update(last_message_at=mail.sent_at)
    return mail, created


def _once(model, defaults=None, **key):
    """(row, created): insert in a savepoint; when a concurrent import committed the same key
    first, the unique constraint refuses ours and theirs is returned."""
    try:
        with transaction.atomic():
            return model.objects.create(**key, **(defaults or {})), True
    except IntegrityError:
        return model.objects.get(**key), False


def _link(mail: MailMessage, record, *, user) -> bool:
    """Link ``mail`` to ``record`` with its timeline line; False when it was linked before."""
    content_type = ContentType.objects.get_for_model(record)
    key = {"message": mail, "content_type": content_type, "object_id": record.pk}
    if MailLink.objects.filter(**key).exists():
        return False
    link, created = _once(MailLink, defaults={"sent_at": mail.sent_at}, **key)
    if created:
        link.activity = _composed_line(mail, content_type, record.pk) or Activity.objects.create(
            kind=ActivityKind.EMAIL,
            summary=_summary(mail)[:200],
            body=_excerpt(mail.body_text),
            occurred_at=mail.sent_at,
            actor=user if mail.direction == MailDirection.OUTBOUND else None,
            subject_owner_id=getattr(record, "owner_id", None),
            content_type=content_type,
            object_id=record.pk,
        )
        link.save(update_fields=["activity"])
    return created


def _composed_line(mail: MailMessage, content_type, object_id) -> Activity | None:
    """The line an email written in the CRM already has on the record: its copy synced back
    from the sender's Sent folder links to that line instead of writing a second one."""
    outbox_id = outbox_id_from_message_id(mail.message_id)
    if outbox_id is None:
        return None
    return Activity.objects.filter(
        composed_email__outbox_id=outbox_id, content_type=content_type, object_id=object_id
    ).first()


def _summary(mail: MailMessage) -> str:
    subject = mail.subject or "(no subject)"
    if mail.direction == MailDirection.INBOUND:
        return f"Email from {mail.from_name or mail.from_email}: {subject}"
    return f"Email to {', '.join(mail.to_emails[:3]) or 'undisclosed recipients'}: {subject}"


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TIMELINE_EXCERPT else text[: TIMELINE_EXCERPT - 1] + "…"


def _run_inbound_handlers(parsed: ParsedMail, mailbox) -> None:
    """Each handler in a savepoint of its own: one that fails is logged and leaves the import
    (and the other handlers) standing, so one bad message never stalls a mailbox's sync."""
    for handler in registry.inbound_mail_handlers:
        try:
            with transaction.atomic():
                handler(message=parsed.message, mailbox=mailbox)
        except Exception:
            logger.exception("Inbound mail handler %r failed on %s", handler, parsed.message_id)
