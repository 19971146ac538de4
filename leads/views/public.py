"""Pages without login: the embeddable web-to-lead form and the one-click unsubscribe."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from crm.security import embeddable
from crm.services.signins import client_address
from leads.forms import WebToLeadForm
from leads.selectors import campaign_public_get
from leads.services import sequences
from leads.services.web_forms import web_form_submit

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The visitor's address; behind a proxy set LEAD_FORM_TRUST_X_FORWARDED_FOR."""
    if getattr(settings, "LEAD_FORM_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_limited(request, slug: str) -> bool:
    """Count submissions per IP and form in the cache, per minute; True past the limit."""
    limit = int(getattr(settings, "LEAD_FORM_RATE_LIMIT", 5))
    minute = int(timezone.now().timestamp() // 60)
    key = f"leads:webform:{client_ip(request)}:{slug}:{minute}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    return count > limit


# The form is embedded on other sites in an iframe, where our CSRF cookie is a third-party
# cookie browsers drop; it changes nothing of a logged-in user's, so CSRF protects nothing here.
# Spam is held off by the honeypot and the rate limit instead.
@csrf_exempt
@embeddable
def web_form(request, slug):
    campaign = campaign_public_get(slug=slug, active_only=True)
    if request.method not in ("GET", "POST"):
        return render(request, "leads/public/bad_request.html", {"campaign": campaign}, status=405)
    form = WebToLeadForm(request.POST or None, consent_wording=campaign.consent_wording)
    if request.method == "POST":
        if rate_limited(request, slug):
            return render(
                request, "leads/public/rate_limited.html", {"campaign": campaign}, status=429
            )
        if not form.is_valid():
            return render(
                request, "leads/public/form.html", {"campaign": campaign, "form": form}, status=400
            )
        if form.cleaned_data["website_url"]:
            # A bot filled the honeypot: look successful, store nothing.
            logger.info("Web form %s: honeypot filled from %s", slug, client_ip(request))
            return redirect("leads:web_form_thanks", slug=slug)
        web_form_submit(campaign=campaign, data=form.cleaned_data, ip=client_address(request))
        return redirect("leads:web_form_thanks", slug=slug)
    return render(request, "leads/public/form.html", {"campaign": campaign, "form": form})


@embeddable
def web_form_thanks(request, slug):
    campaign = campaign_public_get(slug=slug)
    return render(request, "leads/public/thanks.html", {"campaign": campaign})


@csrf_exempt
def unsubscribe(request, token):
    """One click (GET, or a mail client's one-click POST) and no login."""
    lead = sequences.lead_for_token(token)
    if lead is None:
        return render(request, "leads/public/unsubscribe.html", {"invalid": True}, status=400)
    sequences.lead_unsubscribe(lead=lead, ip=client_address(request))
    return render(request, "leads/public/unsubscribe.html", {"invalid": False})
