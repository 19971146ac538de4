"""What customers reach without signing in: the request form and its thank-you page, the
inbound email webhook (for the mail provider) and the CSAT survey behind a survey link."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from crm.machine import shared_secret, token_endpoint
from support import selectors
from support.choices import HelpSearchSource
from support.forms import CsatForm, PublicTicketForm
from support.selectors import csat_survey_by_token
from support.services import inbound, knowledge
from support.services.csat import csat_answer


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(request) -> bool:
    """At most SUPPORT_PUBLIC_FORM_RATE submissions per IP address and hour."""
    limit = getattr(settings, "SUPPORT_PUBLIC_FORM_RATE", 5)
    key = f"support:public-form:{_client_ip(request)}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > limit


@require_http_methods(["GET", "POST"])
def public_ticket_new(request):
    """``/support/new/``: customers open a ticket without logging in."""
    if request.method == "GET":
        return render(request, "support/public_new.html", {"form": PublicTicketForm()})
    form = PublicTicketForm(request.POST, request.FILES)
    if _rate_limited(request):
        return render(
            request,
            "support/public_new.html",
            {"form": form, "rate_limited": True},
            status=429,
        )
    if not form.is_valid():
        return render(request, "support/public_new.html", {"form": form}, status=400)
    data = form.cleaned_data
    if data["website"]:
        # A bot filled the hidden field: answer as if all went well, and do nothing.
        return HttpResponseRedirect(reverse("support:public_thanks"))
    try:
        ticket = inbound.public_ticket_submit(
            name=data["name"],
            email_address=data["email"],
            subject=data["subject"],
            description=data["description"],
            files=data["files"],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(request, "support/public_new.html", {"form": form}, status=400)
    _log_ticket_form_search(data["subject"])
    request.session["support_reference"] = ticket.reference
    return HttpResponseRedirect(reverse("support:public_thanks"))


def _log_ticket_form_search(subject: str) -> None:
    """The request's subject is the ticket form's one search: logged with how many articles
    the form suggested for it (none: a question the knowledge base does not answer yet)."""
    found = selectors.public_article_search(subject, any_word=True)[: selectors.SUGGESTIONS]
    knowledge.help_search_log(
        query=subject, results_count=found.count(), source=HelpSearchSource.TICKET_FORM
    )


@require_GET
def public_thanks(request):
    return render(
        request,
        "support/survey_message.html",
        {
            "title": "Thank you — we received your request",
            "text": (
                f"Your reference is {request.session.get('support_reference')}. "
                if request.session.get("support_reference")
                else ""
            )
            + "We have sent you a confirmation by email and will answer as soon as we can.",
        },
    )


@token_endpoint(check=shared_secret("SUPPORT_INBOUND_TOKEN"), header="X-Support-Token")
def inbound_email_webhook(request, authorised):
    """A raw RFC 822 message (the request body) from the mail provider; authenticated by the
    shared token in ``X-Support-Token`` or ``Authorization: Bearer``."""
    try:
        result = inbound.inbound_email_process(raw=request.body)
    except inbound.InboundError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "ticket": result.ticket.reference,
            "created": result.created,
            "duplicate": result.duplicate,
            "rejected_attachments": list(result.rejected_files),
        },
        status=201 if result.created else 200,
    )


def csat_survey(request, key: str):
    """The CSAT page behind ``/surveys/<token>/`` (registered as kind "csat")."""
    survey = csat_survey_by_token(token=key)
    if survey is None:
        return render(
            request,
            "support/survey_message.html",
            {"title": "This survey link is not valid", "text": ""},
            status=400,
        )
    done = {
        "title": "Thank you for your feedback!",
        "text": "Your answer has been recorded.",
    }
    if survey.answered_at is not None:
        return render(request, "support/survey_message.html", done)
    if request.method == "POST":
        form = CsatForm(request.POST)
        if form.is_valid():
            csat_answer(
                survey=survey,
                rating=form.cleaned_data["rating"],
                comment=form.cleaned_data["comment"],
            )
            return render(request, "support/survey_message.html", done)
        status = 400
    else:
        rating = request.GET.get("rating", "")
        form = CsatForm(initial={"rating": int(rating)} if rating in "12345" and rating else None)
        status = 200
    return render(
        request, "support/csat.html", {"form": form, "ticket": survey.ticket}, status=status
    )
