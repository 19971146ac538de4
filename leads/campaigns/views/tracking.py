"""Public endpoints of email campaigns (no login): the open pixel, the click redirect, a
contact's one-click unsubscribe and the provider's bounce webhook."""

import base64
import json

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from crm.machine import shared_secret, token_endpoint
from crm.services.signins import client_address
from leads.campaigns.services import sending as service

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
BOUNCE_TYPES = ("bounce", "complaint")


def tracking_pixel() -> HttpResponse:
    """The 1×1 GIF an open-tracking image answers with, never cached (each open is asked)."""
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    # Mail clients that show images in a web page load it from their own origin.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def click_target(data: dict | None) -> str | None:
    """The http(s) address a signed click token carries, or None."""
    url = data.get("u") if data else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def bad_link(request) -> HttpResponse:
    return render(request, "leads/public/bad_link.html", status=400)


def email_open(request, token):
    data = service.read_token(token, salt=service.OPEN_SALT)
    if data is None:
        return HttpResponse(status=404)
    service.recipient_opened(recipient_id=data["r"])
    return tracking_pixel()


def email_click(request, token):
    data = service.read_token(token, salt=service.CLICK_SALT)
    url = click_target(data)
    if url is None:
        return bad_link(request)
    service.recipient_clicked(recipient_id=data["r"], url=url)
    return HttpResponseRedirect(url)


@csrf_exempt
def contact_unsubscribe(request, token):
    contact = service.contact_for_token(token)
    if contact is None:
        return render(request, "leads/public/unsubscribe.html", {"invalid": True}, status=400)
    service.contact_unsubscribe(contact=contact, ip=client_address(request))
    return render(request, "leads/public/unsubscribe.html", {"invalid": False})


def _events(body: bytes) -> tuple[list[dict], list[str]]:
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return [], ["The body is not JSON."]
    if not isinstance(payload, list):
        return [], ["Send a JSON list of {email, type} objects."]
    events, errors = [], []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            errors.append(f"Item {index}: not an object.")
            continue
        email, kind = item.get("email"), item.get("type")
        try:
            validate_email(email if isinstance(email, str) else "")
        except ValidationError:
            errors.append(f"Item {index}: “email” is not an email address.")
            continue
        if kind not in BOUNCE_TYPES:
            errors.append(f"Item {index}: “type” must be bounce or complaint.")
            continue
        events.append({"email": email, "type": kind})
    return events, errors


@token_endpoint(
    check=shared_secret("EMAIL_WEBHOOK_TOKEN"),
    header="X-Webhook-Token",
    query_param="token",
    denied_message="forbidden",
)
def bounce_webhook(request, authorised):
    """``POST /e/bounce/`` with ``X-Webhook-Token``: every listed address is suppressed. Any bad
    item rejects the whole request (400 with the reasons), so a provider's retry is clean."""
    events, errors = _events(request.body)
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    added = service.suppressions_add(events=events)
    return JsonResponse({"received": len(events), "suppressed": added})
