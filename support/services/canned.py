"""Canned replies with merge fields, rendered in a sandbox: a template engine with no loaders
and no extra libraries, over a context of plain strings only (no model objects, so a template
cannot call methods or reach related rows), with autoescaping on."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError

from crm.permissions import may_manage
from support.models import CannedReply

#: Tags that reach outside the context (files, debug output) are refused outright.
FORBIDDEN_TAGS = re.compile(r"{%\s*(debug|include|extends|load|ssi|csrf_token)\b")
_ENGINE = Engine(loaders=[], libraries={}, autoescape=True, debug=False)

#: The merge fields an agent may use, documented on the canned reply form.
MERGE_FIELDS = (
    "contact.first_name",
    "contact.last_name",
    "contact.name",
    "contact.email",
    "account.name",
    "ticket.reference",
    "ticket.subject",
    "agent.name",
    "agent.first_name",
    "agent.email",
)


def merge_context(*, ticket, agent) -> dict:
    contact = ticket.contact
    account = ticket.account
    return {
        "contact": {
            "first_name": contact.first_name if contact else "",
            "last_name": contact.last_name if contact else "",
            "name": contact.full_name if contact else "",
            "email": contact.email if contact else "",
        },
        "account": {"name": account.name if account else ""},
        "ticket": {"reference": ticket.reference or "", "subject": ticket.subject},
        "agent": {
            "name": agent.get_full_name() or agent.username,
            "first_name": agent.first_name or agent.username,
            "email": agent.email,
        },
    }


def canned_check(body: str) -> None:
    """ValidationError when the text is not a valid template (checked when saving)."""
    if FORBIDDEN_TAGS.search(body):
        raise ValidationError("Only merge fields and simple tags (if, for) may be used.")
    try:
        _ENGINE.from_string(body)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"The merge fields could not be read: {exc}") from exc


def canned_render(*, body: str, ticket, agent) -> str:
    """The reply text with merge fields filled in; the raw text if it cannot be rendered."""
    if FORBIDDEN_TAGS.search(body):
        return body
    try:
        template = _ENGINE.from_string(body)
        return template.render(Context(merge_context(ticket=ticket, agent=agent)))
    except Exception:
        return body


def _check_may_change(user) -> None:
    if not may_manage(user):
        raise ValidationError("Only managers and admins change canned replies.")


@transaction.atomic
def canned_reply_create(*, user, title: str, body: str, is_active: bool = True) -> CannedReply:
    """A new canned reply (managers and admins); its merge fields are checked first."""
    _check_may_change(user)
    canned_check(body)
    return CannedReply.objects.create(title=title.strip(), body=body, is_active=is_active)


@transaction.atomic
def canned_reply_update(
    *, canned: CannedReply, user, title: str, body: str, is_active: bool
) -> CannedReply:
    _check_may_change(user)
    canned_check(body)
    canned.title, canned.body, canned.is_active = title.strip(), body, is_active
    canned.save(update_fields=["title", "body", "is_active"])
    return canned


@transaction.atomic
def canned_reply_delete(*, canned: CannedReply, user) -> None:
    _check_may_change(user)
    canned.delete()
