"""The logging address: mail a user BCCs or forwards to ``<local>+<token>@<domain>``
(``MAIL_LOGGING_ADDRESS`` plus their secret token) is imported as theirs, for users without a
connected mailbox.

Mail arrives in one system mailbox, read by a periodic task over IMAP (``MAIL_LOGGING_IMAP_URL``)
or posted by the mail provider to a webhook. The token in To, Cc, Delivered-To or X-Original-To
names the user. Only the user's own addresses may log to their token: a message from anyone
else is refused, so a leaked address cannot be used to put mail on customers' timelines.

- BCC: the message itself (the user's email to a customer) is imported.
- Forward: the user's message carrying a customer's email is imported as that email: the
  attached original (``message/rfc822``), or else the original read from the forwarded block
  the common clients write into the text (Gmail's "Forwarded message", Outlook's "Original
  Message" or its line of underscores, Apple Mail's "Begin forwarded message:").
"""

import hashlib
import imaplib
import logging
import re
import secrets
import ssl
import warnings
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote, urlsplit

from dateutil import parser as date_parser
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.mail.imports import SKIPPED, MailImportResult, mail_parsed_import
from crm.mail.parse import ParsedMail, UnreadableMail, parse_mail, parsed_from_message
from crm.models import Mailbox, MailLoggingAddress, MailLoggingCheckpoint
from crm.normalize import normalize_email
from crm.work import (
    Problem,
    enqueue_quietly,
    lease_free,
    lease_release,
    lease_renew,
    lease_take,
    worker_name,
)

logger = logging.getLogger(__name__)

_FORWARD_MARKER = re.compile(
    r"^[ \t>]*(?:-{2,}[ \t]*Forwarded message[ \t]*-{2,}|-{2,}[ \t]*Original Message[ \t]*-{2,}"
    r"|Begin forwarded message:|_{20,})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE = re.compile(
    r"^[ \t>]*\*?(From|Date|Sent|Subject|To|Cc)\*?[ \t]*:\*?[ \t]*(.*)$", re.I
)
_MAILTO = re.compile(r"\[mailto:([^\]]+)\]", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|tr|rv)\s*:", re.IGNORECASE)


# --- the address ---------------------------------------------------------------------------------


def mail_logging_enabled() -> bool:
    local, _, domain = normalize_email(settings.MAIL_LOGGING_ADDRESS).partition("@")
    return bool(local and domain)


def logging_address_of(entry: MailLoggingAddress) -> str:
    local, _, domain = normalize_email(settings.MAIL_LOGGING_ADDRESS).partition("@")
    return f"{local}+{entry.token}@{domain}"


def _token_new() -> str:
    return secrets.token_hex(12)  # lower case: addresses are compared lower-cased


def mail_logging_address_get(*, user) -> MailLoggingAddress:
    """The user's logging address, made on first use."""
    entry = MailLoggingAddress.objects.filter(user=user).first()
    if entry is not None:
        return entry
    try:
        with transaction.atomic():
            return MailLoggingAddress.objects.create(user=user, token=_token_new())
    except IntegrityError:  # made by a concurrent request
        return MailLoggingAddress.objects.get(user=user)


def mail_logging_address_regenerate(*, user) -> MailLoggingAddress:
    """A new token: the old address stops working at once."""
    entry = mail_logging_address_get(user=user)
    entry.token = _token_new()
    entry.save(update_fields=["token", "updated_at"])
    return entry


def _token_user(parsed: ParsedMail):
    """The user whose token one of the message's recipient addresses carries, or None."""
    local, _, domain = normalize_email(settings.MAIL_LOGGING_ADDRESS).partition("@")
    tokens = []
    for address in [*parsed.to, *parsed.cc, *parsed.bcc, *parsed.delivered_to]:
        box, _, host = address.rpartition("@")
        name, plus, token = box.partition("+")
        if host == domain and name == local and plus and token:
            tokens.append(token)
    if not tokens:
        return None
    entry = (
        MailLoggingAddress.objects.filter(token__in=tokens, user__is_active=True)
        .select_related("user")
        .first()
    )
    return entry.user if entry is not None else None


def _own_addresses(user) -> set[str]:
    """The user's own addresses: their account's and their connected mailbox's."""
    addresses = {normalize_email(user.email)}
    addresses |= {
        normalize_email(a)
        for a in Mailbox.objects.filter(user=user).values_list("email_address", flat=True)
    }
    addresses.discard("")
    return addresses


# --- a logged message -----------------------------------------------------------------------------


def mail_logged_import(*, raw: bytes) -> list[MailImportResult]:
    """Import one message that reached the logging address: the message itself (BCC) or the
    original(s) it forwards, as its user's. A message naming no live token, or sent by anyone
    but the token's user, is refused (one skipped result saying why)."""
    if len(raw) > settings.MAIL_IMPORT_MAX_BYTES:
        return [MailImportResult(SKIPPED, "too large")]
    try:
        parsed = parse_mail(raw)
    except UnreadableMail:
        return [MailImportResult(SKIPPED, "unreadable")]
    user = _token_user(parsed)
    if user is None:
        return [MailImportResult(SKIPPED, "unknown logging address")]
    if parsed.from_email not in _own_addresses(user):
        logger.warning(
            "Logging address of user %s refused a message from %s", user.pk, parsed.from_email
        )
        return [MailImportResult(SKIPPED, "sender is not the address's user")]
    originals = _forwarded_originals(parsed, user)
    if originals is None:
        return [mail_parsed_import(parsed=parsed, user=user)]
    if not originals:
        return [MailImportResult(SKIPPED, "forwarded message not recognised")]
    return [mail_parsed_import(parsed=original, user=user) for original in originals]


def _forwarded_originals(parsed: ParsedMail, user) -> list[ParsedMail] | None:
    """The originals a forward carries; None when the message is not a forward (a BCC).

    A forward is sent to the logging address alone (no customer among To and Cc), or carries
    an attached message, or says "Fwd:"; a BCC'd email has its customer in To."""
    ours = {*_own_addresses(user)}
    local, _, domain = normalize_email(settings.MAIL_LOGGING_ADDRESS).partition("@")
    others = [
        a
        for a in [*parsed.to, *parsed.cc]
        if a not in ours and not (a.endswith("@" + domain) and a.split("+")[0] == local)
    ]
    if not parsed.attachments and others and not _FORWARD_PREFIX.match(parsed.subject):
        return None
    found = []
    for attached in parsed.attachments:
        try:
            found.append(parsed_from_message(attached))
        except UnreadableMail:
            continue
    if found:
        return found
    inline = inline_forwarded(parsed)
    return [inline] if inline is not None else []


def inline_forwarded(parsed: ParsedMail) -> ParsedMail | None:
    """The original of a forward whose client wrote it into the text, or None."""
    text = parsed.body_text
    marker = _FORWARD_MARKER.search(text)
    if marker is None:
        return None
    lines = text[marker.end() :].splitlines()
    position = 0
    while position < len(lines) and not lines[position].strip(" \t>"):
        position += 1
    headers: dict[str, str] = {}
    last = None
    while position < len(lines):
        line = lines[position]
        if not line.strip(" \t>"):
            break
        match = _HEADER_LINE.match(line)
        if match:
            last = match.group(1).lower()
            headers[last] = match.group(2).strip()
        elif last is not None and line[:1] in (" ", "\t"):
            headers[last] += " " + line.strip()
        else:
            break
        position += 1
    if not headers.get("from"):
        return None
    body = "\n".join(line.removeprefix("> ").removeprefix(">") for line in lines[position:])
    return _original_message(parsed, headers, body.strip())


def _original_message(forward: ParsedMail, headers: dict, body: str) -> ParsedMail | None:
    message = EmailMessage()
    message["From"] = _MAILTO.sub(r"<\1>", headers["from"])
    message["To"] = _MAILTO.sub(r"<\1>", headers.get("to") or forward.from_email)
    if headers.get("cc"):
        message["Cc"] = _MAILTO.sub(r"<\1>", headers["cc"])
    message["Subject"] = headers.get("subject", "")
    sent_at = _loose_date(headers.get("date") or headers.get("sent") or "") or forward.sent_at
    message["Date"] = format_datetime(sent_at)
    # The original's own Message-ID is not in the text: the same forward (or the same original
    # forwarded again) gets the same id from what it says, so it is stored once.
    digest = hashlib.sha256(
        "\n".join([headers["from"], sent_at.isoformat(), headers.get("subject", ""), body]).encode()
    ).hexdigest()
    message["Message-ID"] = f"<fwd.{digest[:40]}@mail.invalid>"
    message.set_content(body or "")
    try:
        return parsed_from_message(message)
    except UnreadableMail:
        return None


#: Zone abbreviations clients print in a forwarded block ("Date: 3 March 2026 at 10:15 CET"),
#: as offsets in seconds; an unknown one is read in the site's time zone.
_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "WET": 0,
    "BST": 3600,
    "WEST": 3600,
    "CET": 3600,
    "CEST": 7200,
    "EET": 7200,
    "EEST": 10800,
    "EST": -5 * 3600,
    "EDT": -4 * 3600,
    "CST": -6 * 3600,
    "CDT": -5 * 3600,
    "MST": -7 * 3600,
    "MDT": -6 * 3600,
    "PST": -8 * 3600,
    "PDT": -7 * 3600,
}


def _zone(name, offset):
    return _ZONES.get((name or "").upper(), offset)


def _loose_date(value: str):
    """A date as clients print it ("Mon, Jan 1, 2024 at 10:00 AM", "Monday, 1 January 2024
    10:00"), in the site's time zone when it names none; None if unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", date_parser.UnknownTimezoneWarning)
                when = date_parser.parse(value.replace(" at ", " "), fuzzy=True, tzinfos=_zone)
        except (ValueError, OverflowError):
            return None
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    return when


# --- the system mailbox over IMAP ------------------------------------------------------------------


@dataclass(frozen=True)
class ImapConfig:
    secure: bool
    host: str
    port: int
    username: str
    password: str
    folder: str


def imap_config(url: str) -> ImapConfig | None:
    """``imaps://user:password@host:993/INBOX`` (TLS) or ``imap://…:143/…`` (plain, for a
    server on the same host); None when empty or not such a URL."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        return None
    secure = parts.scheme == "imaps"
    return ImapConfig(
        secure=secure,
        host=parts.hostname,
        port=parts.port or (993 if secure else 143),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def mail_logging_poll(*, limit: int = 200) -> dict:
    """Import the messages that arrived in the logging mailbox since the last poll.

    Durable: one worker at a time holds the folder's checkpoint row (a lease), and the highest
    UID imported is saved after each message, so a killed worker resumes after the last message
    it finished; a message imported twice is stored once all the same. The mailbox is opened
    read-only: nothing in it is changed."""
    counts = {"imported": 0, "skipped": 0, "failed": 0}
    config = imap_config(settings.MAIL_LOGGING_IMAP_URL)
    if config is None:
        return counts
    checkpoint, _ = MailLoggingCheckpoint.objects.get_or_create(folder=config.folder)
    row = MailLoggingCheckpoint.objects.filter(pk=checkpoint.pk)
    owner = worker_name()
    if not lease_take(row, owner=owner):
        return counts  # another worker is polling
    checkpoint.refresh_from_db()
    error = ""
    try:
        client = _connect(config)
        try:
            _poll_folder(client, config, checkpoint, row, owner, counts, limit)
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                logger.warning("Logging mailbox logout failed", exc_info=True)
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        logger.warning("Logging mailbox poll failed: %s", error)
    lease_release(row, owner=owner, last_polled_at=timezone.now(), last_error=error)
    return counts


def _connect(config: ImapConfig):
    if config.secure:
        client = imaplib.IMAP4_SSL(config.host, config.port, timeout=30)
    else:
        client = imaplib.IMAP4(config.host, config.port, timeout=30)
    client.login(config.username, config.password)
    return client


def _poll_folder(client, config, checkpoint, row, owner, counts, limit) -> None:
    status, _ = client.select(_quoted(config.folder), readonly=True)
    if status != "OK":
        raise imaplib.IMAP4.error(f"Cannot open the folder {config.folder!r}")
    validity = int((client.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
    last_uid = checkpoint.last_uid if checkpoint.uid_validity == validity else 0
    status, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")
    if status != "OK":
        raise imaplib.IMAP4.error("UID SEARCH failed")
    uids = sorted(int(uid) for uid in (data[0] or b"").split() if int(uid) > last_uid)[:limit]
    for uid in uids:
        status, fetched = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = next((item[1] for item in fetched or () if isinstance(item, tuple)), None)
        if status != "OK" or raw is None:
            counts["failed"] += 1
        else:
            try:
                results = mail_logged_import(raw=raw)
            except Exception:  # one bad message must not stall the mailbox; it is logged
                logger.exception("Logging mailbox message UID %s failed", uid)
                counts["failed"] += 1
            else:
                stored = any(result.stored for result in results)
                counts["imported" if stored else "skipped"] += 1
        row.update(uid_validity=validity, last_uid=uid)
        if not lease_renew(row, owner=owner):
            return  # the sweep gave the row to another worker: it carries on from here
    if not uids:
        row.update(uid_validity=validity, last_uid=last_uid)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- what operators see (crm.registry.work) -------------------------------------------------------

#: A poll this late (beat runs it every two minutes) means its messages were lost or its
#: worker died: the sweep wakes another.
POLL_OVERDUE_SECONDS = 10 * 60


def mail_logging_sweep() -> int:
    if imap_config(settings.MAIL_LOGGING_IMAP_URL) is None:
        return 0
    now = timezone.now()
    overdue = now - timedelta(seconds=POLL_OVERDUE_SECONDS)
    stale = MailLoggingCheckpoint.objects.filter(lease_free(now), last_polled_at__lt=overdue)
    if not stale.exists():
        return 0
    from crm.tasks import mail_logging_poll as task  # tasks import services, not the reverse

    enqueue_quietly(task)
    return 1


def mail_logging_problems(limit: int) -> list[Problem]:
    """A logging mailbox whose last poll failed (wrong password, server down)."""
    if imap_config(settings.MAIL_LOGGING_IMAP_URL) is None:
        return []
    return [
        Problem(
            pk=row.pk,
            title=f"Logging address mailbox, folder {row.folder}",
            state="Poll failed",
            detail=row.last_error,
            since=row.last_polled_at,
        )
        for row in MailLoggingCheckpoint.objects.exclude(last_error="").order_by("id")[:limit]
    ]


def mail_logging_retry(pk: int) -> bool:
    from crm.tasks import mail_logging_poll as task

    return enqueue_quietly(task)
