"""Reading a raw email (RFC 5322 bytes) into the plain values the import stores."""

import base64
import binascii
import hashlib
import html
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import nh3
from django.utils import timezone

from crm.html import sanitize_html
from crm.normalize import normalize_email

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_BLOCK_END = re.compile(r"(?i)<\s*(br\s*/?|/p|/div|/tr|/li|/h[1-6]|/blockquote|/table)\s*>")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class UnreadableMail(ValueError):
    """The bytes are not an email this import can read."""


@dataclass
class ParsedMail:
    """One email's values, read once from its bytes."""

    message: EmailMessage
    message_id: str
    from_email: str
    from_name: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    delivered_to: list[str]
    subject: str
    sent_at: datetime
    in_reply_to: str
    references: list[str]
    body_text: str
    body_html: str
    attachments: list[EmailMessage] = field(default_factory=list)

    @property
    def participants(self) -> list[str]:
        seen = dict.fromkeys([self.from_email, *self.to, *self.cc, *self.bcc])
        seen.pop("", None)
        return list(seen)

    @property
    def thread_ids(self) -> list[str]:
        """The Message-IDs this one answers, nearest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [ref for ref in reversed(self.references) if ref not in ids]
        return ids


def parse_mail(raw: bytes) -> ParsedMail:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; anything left is not mail
        raise UnreadableMail(str(exc)) from exc
    return parsed_from_message(message, raw=raw)


def parsed_from_message(message: EmailMessage, *, raw: bytes | None = None) -> ParsedMail:
    from_list = _addresses(message, "from")
    if not from_list:
        raise UnreadableMail("The message has no sender.")
    from_name, from_email = from_list[0]
    message_id = _first_id(_header(message, "message-id"))
    if not message_id:
        # Without a Message-ID the same bytes still name the same message, so a copy seen
        # twice is stored once.
        digest = hashlib.sha256(raw if raw is not None else message.as_bytes()).hexdigest()
        message_id = f"<sha256.{digest[:40]}@mail.invalid>"
    text, html_body = message_bodies(message)
    return ParsedMail(
        message=message,
        message_id=message_id,
        from_email=from_email,
        from_name=from_name[:200],
        to=[email for _, email in _addresses(message, "to")],
        cc=[email for _, email in _addresses(message, "cc")],
        bcc=[email for _, email in _addresses(message, "bcc")],
        delivered_to=[
            email
            for name in ("delivered-to", "x-original-to", "envelope-to", "x-forwarded-to")
            for _, email in _addresses(message, name)
        ],
        subject=" ".join(_header(message, "subject").split())[:500],
        sent_at=_date(_header(message, "date")),
        in_reply_to=_first_id(_header(message, "in-reply-to")),
        references=[
            ref for ref in _MESSAGE_ID.findall(_header(message, "references")) if len(ref) <= 998
        ][-50:],
        body_text=text,
        body_html=html_body,
        attachments=[
            attached
            for part in message.iter_attachments()
            if part.get_content_type() == "message/rfc822"
            and (attached := _attached_message(part)) is not None
        ],
    )


def message_bodies(message: EmailMessage) -> tuple[str, str]:
    """(plain text, sanitised HTML): the text part, else the HTML part stripped to text."""
    try:
        plain = message.get_body(preferencelist=("plain",))
        rich = message.get_body(preferencelist=("html",))
    except (KeyError, ValueError, AttributeError, TypeError):  # a broken MIME structure
        plain = rich = None
    html_body = _clean_text(_text_of(rich)) if rich is not None else ""
    text = _clean_text(_text_of(plain)) if plain is not None else html_to_text(html_body)
    return text.strip(), sanitize_html(html_body) if html_body else ""


def _clean_text(value: str) -> str:
    """Text PostgreSQL stores: no NUL characters (a broken sender's, or a binary part)."""
    return value.replace("\x00", "")


def html_to_text(value: str) -> str:
    """Readable text of an HTML body: line breaks at block ends, markup and scripts gone."""
    if not value:
        return ""
    value = _BLOCK_END.sub("\n", value)
    text = html.unescape(nh3.clean(value, tags=set()))
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", text).strip()


def _text_of(part) -> str:
    content = _safe_content(part)
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def _attached_message(part) -> EmailMessage | None:
    """The message a message/rfc822 part carries (some clients send it base64-encoded,
    which the parser leaves as the text of a message without headers)."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        inner = part.get_payload(0) if part.is_multipart() else None
        text = inner.get_payload() if inner is not None else part.get_payload()
        if not isinstance(text, str):
            return None
        try:
            data = (
                base64.b64decode(text)
                if encoding == "base64"
                else quopri.decodestring(text.encode("ascii", "replace"))
            )
        except (ValueError, binascii.Error):
            return None
        return BytesParser(policy=policy.default).parsebytes(data)
    try:
        content = part.get_content()
    except (LookupError, ValueError, AttributeError, TypeError, KeyError):
        return None
    return content if isinstance(content, EmailMessage) else None


def _safe_content(part):
    try:
        return part.get_content()
    except (LookupError, ValueError, AttributeError, TypeError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else None


def _header(message, name: str) -> str:
    try:
        values = message.get_all(name) or []
    except Exception:  # a header too broken for the parser's structured view
        values = [v for k, v in message.raw_items() if k.lower() == name]
    return _clean_text(" ".join(str(v) for v in values))


def _addresses(message, name: str) -> list[tuple[str, str]]:
    found = []
    for display, address in getaddresses([_header(message, name)]):
        address = normalize_email(address)
        if "@" in address and len(address) <= 320:
            found.append((display.strip(), address))
    return found


def _first_id(value: str) -> str:
    ids = _MESSAGE_ID.findall(value or "")
    return ids[0][:998] if ids else ""


def _date(value: str) -> datetime:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return timezone.now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when
