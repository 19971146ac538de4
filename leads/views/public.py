"""Pages without login: the embeddable web-to-lead form and the one-click unsubscribe."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from crm.choices import ActivityKind
from crm.services.timeline import activity_log
from leads.choices import LeadSource
from leads.forms import WebToLeadForm
from leads.models import Campaign
from leads.services import leads as lead_services
from leads.services import sequences

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
@xframe_options_exempt
def web_form(request, slug):
    campaign = get_object_or_404(Campaign, slug=slug, is_active=True)
    if request.method not in ("GET", "POST"):
        return render(request, "leads/public/bad_request.html", {"campaign": campaign}, status=405)
    form = WebToLeadForm(request.POST or None)
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
        web_form_submit(campaign=campaign, data=form.cleaned_data)
        return redirect("leads:web_form_thanks", slug=slug)
    return render(request, "leads/public/form.html", {"campaign": campaign, "form": form})


@transaction.atomic
def web_form_submit(*, campaign: Campaign, data: dict):
    """A submission becomes a lead (deduplicated, scored, assigned); someone already known gets
    the submission on their timeline instead of a second lead."""
    consent = bool(data.get("consent"))
    fields = {
        "first_name": data.get("first_name", ""),
        "last_name": data["last_name"],
        "email": data["email"],
        "phone": data.get("phone", ""),
        "company_name": data.get("company_name", ""),
        "title": data.get("title", ""),
        "need": data.get("message", ""),
        "source": LeadSource.WEB_FORM,
        "campaign": campaign,
        "marketing_consent": consent,
        "email_consent": True,
    }
    try:
        lead = lead_services.lead_create(on_duplicate="raise", **fields)
    except lead_services.DuplicateLeadError as exc:
        if exc.match.lead is None:
            lead = lead_services.lead_create(on_duplicate="flag", **fields)
        else:
            lead = exc.match.lead
            activity_log(
                subject=lead,
                kind=ActivityKind.NOTE,
                summary=f"Submitted the web form “{campaign.name}” again",
                body=data.get("message", ""),
            )
            if consent and not lead.marketing_consent and lead.unsubscribed_at is None:
                lead_services.lead_update(lead=lead, user=None, marketing_consent=True)
    except ValidationError:
        raise
    if consent and campaign.sequence_id and lead.is_open:
        sequences.lead_enrol(lead=lead, sequence=campaign.sequence)
    return lead


@xframe_options_exempt
def web_form_thanks(request, slug):
    campaign = get_object_or_404(Campaign, slug=slug)
    return render(request, "leads/public/thanks.html", {"campaign": campaign})


@csrf_exempt
def unsubscribe(request, token):
    """One click (GET, or a mail client's one-click POST) and no login."""
    lead = sequences.lead_for_token(token)
    if lead is None:
        return render(request, "leads/public/unsubscribe.html", {"invalid": True}, status=400)
    sequences.lead_unsubscribe(lead=lead)
    return render(request, "leads/public/unsubscribe.html", {"invalid": False})
