"""Email on records: reading one conversation, the user's logging address, and the mail
provider's webhook for the logging address."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.html import preview_document
from crm.machine import shared_secret, token_endpoint
from crm.mail.links import visible_link_filter
from crm.mail.logging_address import (
    logging_address_of,
    mail_logged_import,
    mail_logging_address_get,
    mail_logging_address_regenerate,
    mail_logging_enabled,
)
from crm.models import MailLink, MailMessage
from crm.views.submissions import submitted_once

#: Messages of one conversation shown on its page, newest last.
THREAD_LENGTH = 50


@login_required
def mail_message_detail(request, pk):
    """One email and the rest of its conversation that the user may see; 404 otherwise."""
    visible = MailMessage.objects.visible_to(request.user)
    mail = get_object_or_404(visible.select_related("thread"), pk=pk)
    thread = list(
        visible.filter(thread_id=mail.thread_id).order_by("-sent_at", "-id")[:THREAD_LENGTH]
    )[::-1]
    links = MailLink.objects.filter(message=mail).prefetch_related("record")
    if not request.user.is_admin_role:
        links = links.filter(visible_link_filter(request.user))
    records = [link.record for link in links.order_by("content_type_id", "object_id")]
    return render(
        request,
        "crm/mail_message_detail.html",
        {
            "mail": mail,
            "thread": thread,
            "records": [r for r in records if r is not None],
            "html_document": preview_document(mail.body_html) if mail.body_html else "",
        },
    )


def mail_logging_address_context(user) -> dict:
    """The context of ``crm/_mail_logging_address.html`` for ``user``."""
    if not mail_logging_enabled():
        return {"mail_logging_address": ""}
    return {"mail_logging_address": logging_address_of(mail_logging_address_get(user=user))}


@login_required
@require_POST
@submitted_once
def mail_logging_address_regenerate_view(request):
    """A new logging address for the user; the old one stops working."""
    if mail_logging_enabled():
        mail_logging_address_regenerate(user=request.user)
        messages.info(request, "You have a new logging address: the old one no longer works.")
    return redirect(reverse("user_settings") + "#mail-logging")


@token_endpoint(check=shared_secret("MAIL_LOGGING_INBOUND_TOKEN"), header="X-Mail-Token")
def mail_logging_inbound_webhook(request, authorised):
    """A raw RFC 822 message (the request body) the mail provider received for a logging
    address; authenticated by the shared token in ``X-Mail-Token`` or ``Authorization:
    Bearer``. Answers what became of it; a refused message is 200 with the reason, so the
    provider does not retry it."""
    # Read from the stream, up to one byte past the import's own cap: a message with large
    # attachments is bigger than Django's in-memory request limit, and one too large is
    # refused by the import (answered, not retried).
    raw = request.read(settings.MAIL_IMPORT_MAX_BYTES + 1)
    if not raw:
        return JsonResponse({"error": "No message in the request body."}, status=400)
    results = mail_logged_import(raw=raw)
    return JsonResponse(
        {
            "results": [
                {
                    "status": result.status,
                    "reason": result.reason,
                    "linked": len(result.linked),
                }
                for result in results
            ]
        },
        status=201 if any(r.status == "imported" for r in results) else 200,
    )
