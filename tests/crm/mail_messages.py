"""Raw emails for the mail import tests, built with the stdlib like a mail client would."""

from email.message import EmailMessage
from email.utils import format_datetime

from django.utils import timezone


def raw_mail(
    *,
    sender: str,
    to: str,
    subject: str = "Our proposal",
    body: str = "Thanks, that looks good.",
    message_id: str = "<m1@customer.test>",
    in_reply_to: str = "",
    references: str = "",
    cc: str = "",
    html: str = "",
    when=None,
    headers: dict | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(when or timezone.now())
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()
