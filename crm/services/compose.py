"""Writing email from a record (README, "Writing email from a record"): templates with merge
fields, attachments, send now or at a set time, and open and click counts where the
recipient's consent allows.

Merge fields are a small language of their own, not Django's template engine: ``{{ group.field
}}`` with an optional ``|default:"text"``, where the groups and fields are the ones listed in
``MERGE_FIELDS`` and the values are plain strings. Nothing else between braces is accepted, so a
template can never reach an object, a tag or a file; an unknown field is reported when the
template is saved or the email is sent, never at delivery.

An email is a ``ComposedEmail`` (what the user wrote, its tracking counts) and an outbox row
(``crm.services.outbox``) that delivers it once, not before ``send_at``: the row waits in the
queue with its ``next_attempt_at`` at that time, and the sender can cancel it until it leaves.
"""

import re
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from crm import registry
from crm.choices import ActivityKind, OutboxStatus, Role, TemplateSharing
from crm.models import ComposeAttachment, ComposedEmail, EmailTemplate, OutboundEmail
from crm.registry import AttachmentGone, EmailAttachment
from crm.services.outbox import email_queue
from crm.services.timeline import activity_log
from crm.uploads import attachment_upload_check

#: The merge fields a template may use, by group.
MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("first_name", "last_name", "full_name", "email", "title"),
    "account": ("name", "domain"),
    "deal": ("name", "stage", "amount", "close_date"),
    "lead": ("first_name", "last_name", "full_name", "email", "company", "title"),
    "user": ("first_name", "last_name", "full_name", "email", "signature"),
}

_BRACES = re.compile(r"{{(.*?)}}", re.DOTALL)
_FIELD = re.compile(r"""\s*([a-z_]+)\.([a-z_]+)\s*(?:\|\s*default\s*:\s*"([^"{}]*)"\s*)?""")

OPEN_SALT = "crm.compose.open"
CLICK_SALT = "crm.compose.click"
ATTACHMENT_KIND = "compose_file"
LINK = re.compile(r"https?://[^\s\"'<>]+")
#: Left out of a link found in plain text when it ends it: it belongs to the sentence.
TRAILING = ".,;:!?)]'\""


# --- merge fields ---------------------------------------------------------------------------


def merge_errors(text: str) -> list[str]:
    """What is wrong with the merge fields of ``text``: unknown fields, other syntax."""
    errors = []
    text = text or ""
    if "{%" in text or "{#" in text:
        errors.append("Only merge fields such as {{ contact.first_name }} may be used in braces.")
    for match in _BRACES.finditer(text):
        field = _FIELD.fullmatch(match.group(1))
        if field is None:
            errors.append(f"“{match.group(0)}” is not a merge field.")
        elif field.group(2) not in MERGE_FIELDS.get(field.group(1), ()):
            errors.append(f"Unknown merge field “{field.group(1)}.{field.group(2)}”.")
    if _BRACES.sub("", text).count("{{") or _BRACES.sub("", text).count("}}"):
        errors.append("A merge field is not closed: write it as {{ contact.first_name }}.")
    return list(dict.fromkeys(errors))


def merge_check(text: str) -> None:
    errors = merge_errors(text)
    if errors:
        raise ValidationError(errors)


def merge_render(text: str, values: dict[str, dict[str, str]]) -> str:
    """``text`` with each merge field replaced by its value (or its default when empty)."""

    def value(match):
        field = _FIELD.fullmatch(match.group(1))
        if field is None:
            return match.group(0)
        group, name, default = field.groups()
        return str(values.get(group, {}).get(name) or "") or (default or "")

    return _BRACES.sub(value, text or "")


def _name(first: str, last: str) -> str:
    return f"{first or ''} {last or ''}".strip()


def contact_values(contact) -> dict[str, str]:
    if contact is None:
        return {}
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": _name(contact.first_name, contact.last_name),
        "email": contact.email,
        "title": contact.title,
    }


def account_values(account) -> dict[str, str]:
    if account is None:
        return {}
    return {"name": account.name, "domain": account.domain}


def user_values(user) -> dict[str, str]:
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.get_full_name() or user.username,
        "email": user.email,
        "signature": user.email_signature,
    }


def merge_values(*, kind: str, record, user) -> dict[str, dict[str, str]]:
    target = registry.compose_targets.get(kind)
    values = dict(target.merge(record)) if target else {}
    values["user"] = user_values(user)
    return values


# --- templates ------------------------------------------------------------------------------


def sharing_choices(user) -> list[tuple[str, str]]:
    """Reps keep templates to themselves or share them with their teams; managers and admins
    may also share with everyone."""
    if user.has_role(Role.MANAGER, Role.ADMIN):
        return list(TemplateSharing.choices)
    return [c for c in TemplateSharing.choices if c[0] != TemplateSharing.ALL]


def _template_check(*, user, subject: str, body: str, sharing: str) -> None:
    errors = {}
    if merge_errors(subject):
        errors["subject"] = merge_errors(subject)
    if merge_errors(body):
        errors["body"] = merge_errors(body)
    if sharing not in dict(sharing_choices(user)):
        errors["sharing"] = ["Only managers and admins share templates with everyone."]
    if errors:
        raise ValidationError(errors)


def email_template_create(
    *, user, name: str, subject: str, body: str, sharing: str = TemplateSharing.PRIVATE
) -> EmailTemplate:
    _template_check(user=user, subject=subject, body=body, sharing=sharing)
    return EmailTemplate.objects.create(
        name=name, subject=subject, body=body, sharing=sharing, owner=user
    )


def email_template_update(
    *, template: EmailTemplate, user, name: str, subject: str, body: str, sharing: str
) -> EmailTemplate:
    # Keeping a template shared with everyone, as a manager set it, is no new sharing.
    kept = sharing == template.sharing == TemplateSharing.ALL
    _template_check(
        user=user,
        subject=subject,
        body=body,
        sharing=TemplateSharing.PRIVATE if kept else sharing,
    )
    template.name, template.subject, template.body, template.sharing = name, subject, body, sharing
    template.save(update_fields=["name", "subject", "body", "sharing", "updated_at"])
    return template


def email_template_archive(*, template: EmailTemplate, archived: bool = True) -> EmailTemplate:
    template.archived_at = timezone.now() if archived else None
    template.save(update_fields=["archived_at", "updated_at"])
    return template


def user_signature_set(*, user, signature: str) -> None:
    user.email_signature = signature.strip()
    user.save(update_fields=["email_signature"])


# --- consent --------------------------------------------------------------------------------


def _people_with(email: str):
    for person in registry.compose_targets.people():
        yield (
            person,
            person.model._default_manager.filter(**{f"{person.email_field}__iexact": email}),
        )


def addresses_opted_out(emails: list[str]) -> list[str]:
    """The addresses of ``emails`` that belong to a contact or lead who said no to email."""
    refused = []
    for email in emails:
        if any(person.opted_out(qs).exists() for person, qs in _people_with(email)):
            refused.append(email)
    return refused


def address_trackable(email: str) -> bool:
    """Opens and clicks are counted only for an address of a person who gave their email
    consent (and, everywhere it is known, has not withdrawn it), and only with MAIL_TRACKING."""
    if not getattr(settings, "MAIL_TRACKING", True):
        return False
    known = allowed = False
    for person, qs in _people_with(email):
        if qs.exists():
            known = True
            if person.opted_out(qs).exists() or qs.exclude(pk__in=person.trackable(qs)).exists():
                return False
            allowed = True
    return known and allowed


# --- attachments ----------------------------------------------------------------------------


def attachment_max_bytes() -> int:
    return getattr(settings, "COMPOSE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def attachment_max_files() -> int:
    return getattr(settings, "COMPOSE_ATTACHMENT_MAX_FILES", 5)


def attachment_check(upload) -> tuple[str, str]:
    """(safe file name, content type) of one upload, judged by its first bytes; else raises
    ValidationError."""
    name = getattr(upload, "name", "") or "file"
    return attachment_upload_check(upload, name=name, max_bytes=attachment_max_bytes())


def attachment_make(ref: dict) -> EmailAttachment:
    """The outbox's maker (``crm.registry.email_attachments``) for a stored attachment."""
    attachment = ComposeAttachment.objects.filter(pk=ref.get("id")).first()
    if attachment is None:
        raise AttachmentGone("The attached file was deleted.")
    with attachment.file.open("rb") as handle:
        content = handle.read()
    return EmailAttachment(attachment.filename, content, attachment.content_type)


# --- sending --------------------------------------------------------------------------------


def _site() -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/")


def open_token(email_id: int) -> str:
    return signing.dumps({"m": email_id}, salt=OPEN_SALT)


def click_token(email_id: int, url: str) -> str:
    # The address travels inside the signed payload, so the redirect cannot be pointed elsewhere.
    return signing.dumps({"m": email_id, "u": url}, salt=CLICK_SALT, compress=True)


def token_read(token: str, *, salt: str) -> dict | None:
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("m"), int) else None


def _split_link(url: str) -> tuple[str, str]:
    stripped = url.rstrip(TRAILING)
    return stripped, url[len(stripped) :]


def body_text(text: str, tracked=None) -> str:
    if tracked is None:
        return text

    def link(match):
        url, tail = _split_link(match.group(0))
        return tracked(url) + tail

    return LINK.sub(link, text)


def body_html(text: str, tracked=None) -> str:
    """Plain text as simple HTML: paragraphs, line breaks and its links made clickable; every
    character of the text escaped."""
    parts, position = [], 0
    for match in LINK.finditer(text):
        url, tail = _split_link(match.group(0))
        href = tracked(url) if tracked else url
        parts.append(escape(text[position : match.start()]))
        parts.append(f'<a href="{escape(href)}">{escape(url)}</a>{escape(tail)}')
        position = match.end()
    parts.append(escape(text[position:]))
    html = "".join(parts).replace("\r\n", "\n")
    paragraphs = [p for p in re.split(r"\n{2,}", html) if p.strip()]
    return "".join(f"<p>{p.strip(chr(10)).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _recipients_check(*, to_email: str, cc: list[str]) -> None:
    refused = addresses_opted_out([to_email, *cc])
    if refused:
        raise ValidationError(
            {
                "to_email" if to_email in refused else "cc": [
                    f"{address} said no to email from us: it cannot be written to."
                    for address in refused
                ]
            }
        )


def _mailbox_check(user) -> None:
    """A mailbox connected with Google or Microsoft 365 sends with OAuth2, as long as an
    administrator keeps that provider configured."""
    from crm.mail.oauth import provider_get
    from crm.models import Mailbox

    mailbox = Mailbox.objects.filter(user=user).exclude(smtp_host="").first()
    if mailbox is not None and mailbox.uses_oauth and provider_get(mailbox.auth_method) is None:
        raise ValidationError(
            "Your mailbox signs in with OAuth2, which is no longer set up in the CRM: ask an "
            "administrator, or connect your mailbox with a password or an app password."
        )


@transaction.atomic
def email_compose(
    *,
    user,
    kind: str,
    record,
    to_email: str,
    subject: str,
    body: str,
    cc: list[str] | None = None,
    template: EmailTemplate | None = None,
    uploads=(),
    send_at: datetime | None = None,
) -> ComposedEmail:
    """Write an email from ``record`` and queue it (at ``send_at``, else now): merge fields
    filled, files stored, opens and clicks tracked when the recipient's consent allows, an
    Email entry on the record's timeline. Raises ValidationError (by field) when an address
    belongs to someone who said no to email, a merge field is unknown or a file is refused."""
    to_email = to_email.strip().lower()
    cc = [address.strip().lower() for address in cc or [] if address.strip()]
    errors = {}
    for field, text in (("subject", subject), ("body", body)):
        if merge_errors(text):
            errors[field] = merge_errors(text)
    uploads = list(uploads)
    if len(uploads) > attachment_max_files():
        errors["attachments"] = [f"At most {attachment_max_files()} files can be attached."]
    checked = []
    for upload in uploads:
        try:
            checked.append((upload, *attachment_check(upload)))
        except ValidationError as exc:
            errors.setdefault("attachments", []).extend(exc.messages)
    if send_at is not None and send_at <= timezone.now():
        send_at = None
    if errors:
        raise ValidationError(errors)
    _recipients_check(to_email=to_email, cc=cc)
    _mailbox_check(user)
    values = merge_values(kind=kind, record=record, user=user)
    subject = " ".join(merge_render(subject, values).split())
    body = merge_render(body, values)
    composed = ComposedEmail.objects.create(
        sender=user,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        to_email=to_email,
        cc=cc,
        subject=subject[:255],
        body=body,
        template=template,
        send_at=send_at,
        tracked=address_trackable(to_email),
    )
    specs = []
    for upload, filename, content_type in checked:
        attachment = ComposeAttachment(
            email=composed, filename=filename, content_type=content_type, size=upload.size
        )
        attachment.file.save(filename, upload, save=False)
        attachment.save()
        specs.append({"kind": ATTACHMENT_KIND, "ref": {"id": attachment.pk}})
    tracked = html_tail = None
    if composed.tracked:
        click_base = _site() + reverse("mail_click", args=["TOKEN"])

        def tracked(url: str) -> str:
            return click_base.replace("TOKEN", click_token(composed.pk, url))

        pixel = _site() + reverse("mail_open", args=[open_token(composed.pk)])
        html_tail = f'<img src="{escape(pixel)}" width="1" height="1" alt="">'
    outbox = email_queue(
        to_email=to_email,
        cc=cc,
        subject=composed.subject,
        body_text=body_text(body, tracked),
        body_html=body_html(body, tracked) + (html_tail or ""),
        related=record,
        idempotency_key=f"compose:{composed.pk}",
        attachments=specs,
        sender=user,
        send_after=send_at,
    )
    when = f" (scheduled for {timezone.localtime(send_at):%Y-%m-%d %H:%M})" if send_at else ""
    composed.outbox = outbox
    composed.activity = activity_log(
        subject=record,
        kind=ActivityKind.EMAIL,
        summary=f"Email to {to_email}: {composed.subject}{when}",
        body=body,
        actor=user,
    )
    composed.save(update_fields=["outbox", "activity"])
    return composed


def composed_email_cancel(*, composed: ComposedEmail) -> bool:
    """Stop an email that has not left yet (scheduled, or waiting for a retry); True when it
    was stopped. One that a worker is handing to the mail server, or sent, is not."""
    with transaction.atomic():
        stopped = OutboundEmail.objects.filter(
            pk=composed.outbox_id, status=OutboxStatus.QUEUED
        ).update(status=OutboxStatus.CANCELLED, next_attempt_at=None)
        if stopped:
            composed.cancelled_at = timezone.now()
            composed.save(update_fields=["cancelled_at"])
    return bool(stopped)


def composed_email_opened(*, email_id: int, now=None) -> bool:
    now = now or timezone.now()
    updated = ComposedEmail.objects.filter(pk=email_id, tracked=True).update(
        open_count=F("open_count") + 1
    )
    ComposedEmail.objects.filter(pk=email_id, tracked=True, first_opened_at__isnull=True).update(
        first_opened_at=now
    )
    return bool(updated)


def composed_email_clicked(*, email_id: int, now=None) -> bool:
    """A click also proves an open (the pixel may be blocked)."""
    now = now or timezone.now()
    tracked = ComposedEmail.objects.filter(pk=email_id, tracked=True)
    updated = tracked.update(click_count=F("click_count") + 1)
    tracked.filter(first_clicked_at__isnull=True).update(first_clicked_at=now)
    tracked.filter(Q(first_opened_at__isnull=True)).update(first_opened_at=now)
    return bool(updated)


# --- what crm registers ---------------------------------------------------------------------


def email_consent_withdrawn(queryset):
    """The people of ``queryset`` (contacts or leads) whose latest email-consent answer was no:
    consent off, and a withdrawal on record."""
    from django.db.models import Exists, OuterRef

    from crm.models import ConsentEvent

    withdrawn = ConsentEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(queryset.model),
        object_id=OuterRef("pk"),
        consent=ConsentEvent.Consent.EMAIL,
        given=False,
    )
    return queryset.filter(email_consent=False).filter(Exists(withdrawn))


def _contact_recipients(contact) -> list:
    return [registry.Recipient(contact.email, contact.full_name)] if contact.email else []


def account_recipients(account, *, first=None, limit: int = 50) -> list:
    """``first`` (a contact), then the account's other contacts with an address."""
    people = [first] if first is not None and first.email else []
    others = (
        account.contacts.exclude(email="")
        .exclude(pk=first.pk if first is not None else None)
        .order_by("last_name", "first_name", "id")[:limit]
        if account is not None
        else []
    )
    return [registry.Recipient(c.email, c.full_name) for c in [*people, *others]]


def register() -> None:
    from crm.models import Account, Contact

    registry.compose_targets.register(
        "contact",
        Contact,
        label="Contact",
        recipients=lambda c: (
            account_recipients(c.account, first=c) if c.account_id else _contact_recipients(c)
        ),
        merge=lambda c: {"contact": contact_values(c), "account": account_values(c.account)},
    )

    def account_merge(account):
        first = account.contacts.exclude(email="").order_by("last_name", "first_name").first()
        return {"account": account_values(account), "contact": contact_values(first)}

    registry.compose_targets.register(
        "account",
        Account,
        label="Account",
        recipients=lambda a: account_recipients(a),
        merge=account_merge,
    )
    registry.compose_targets.register_person(
        Contact,
        opted_out=email_consent_withdrawn,
        trackable=lambda qs: qs.filter(email_consent=True),
    )
    registry.email_attachments.register(ATTACHMENT_KIND, attachment_make)
