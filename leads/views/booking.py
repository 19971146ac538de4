"""Booking pages: the seller's settings (/settings/booking/) and the public page where a
visitor books a free slot (/book/<slug>/, no login)."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from crm.permissions import may_sell
from crm.services.signins import client_address
from crm.views.submissions import submitted_once
from leads.booking.forms import BookingForm, BookingSettingsForm
from leads.booking.models import BookingPage
from leads.services import booking as services
from leads.views.public import client_ip, rate_limited

logger = logging.getLogger(__name__)

SLOT_FORMAT = "%Y%m%dT%H%M%SZ"


def slot_key(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime(SLOT_FORMAT)


def _slot_from(key: str) -> datetime | None:
    try:
        return datetime.strptime(key, SLOT_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def booking_settings(request):
    if not may_sell(request.user):
        raise Http404
    page = services.booking_page_for(user=request.user)
    form = BookingSettingsForm(request.POST or None, instance=BookingPage.objects.get(pk=page.pk))
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.Meta.fields}
        data["working_hours"] = form.cleaned_data["working_hours"]
        try:
            services.booking_page_update(page=page, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Your booking page was saved.")
            return redirect("leads:booking_settings")
    return render(
        request,
        "leads/booking/settings.html",
        {
            "form": form,
            "page": page,
            "public_url": settings.SITE_URL.rstrip("/") + page.get_absolute_url(),
        },
    )


def _public_page(slug: str) -> BookingPage:
    page = BookingPage.objects.select_related("user").filter(slug=slug, enabled=True).first()
    if page is None or not page.user.is_active:
        raise Http404
    return page


@require_http_methods(["GET", "POST"])
def booking_public(request, slug):
    """The free slots; with a slot picked, the visitor's details; on POST, the booking."""
    page = _public_page(slug)
    context = {"page": page, "zone": services.booking_zone(page)}
    # Times show in the seller's time zone, which the page names.
    with timezone.override(context["zone"]):
        if request.method == "POST":
            return _book(request, page, context)
        return _show(request, page, context)


def _show(request, page, context):
    slot = _slot_from(request.GET.get("slot", ""))
    if slot is not None and services.booking_slot_free(page=page, starts_at=slot):
        context["slot"] = slot.astimezone(context["zone"])
        context["form"] = BookingForm(initial={"slot": slot_key(slot)})
        return render(request, "leads/booking/form.html", context)
    if slot is not None:
        context["taken"] = True
    return _slots(request, context, page)


def _slots(request, context, page, status=200):
    context["days"] = [
        (day.day, [(slot, slot_key(slot)) for slot in day.slots])
        for day in services.booking_slots(page=page)
    ]
    return render(request, "leads/booking/slots.html", context, status=status)


def _book(request, page, context):
    if rate_limited(request, f"booking:{page.slug}"):
        return render(request, "leads/booking/rate_limited.html", context, status=429)
    form = BookingForm(request.POST)
    slot = _slot_from(request.POST.get("slot", ""))
    if slot is None:
        return _slots(request, context, page, status=400)
    context["slot"] = slot.astimezone(context["zone"])
    if not form.is_valid():
        context["form"] = form
        return render(request, "leads/booking/form.html", context, status=400)
    if form.cleaned_data["website_url"]:
        # A bot filled the honeypot: look successful, book nothing.
        logger.info("Booking page %s: honeypot filled from %s", page.slug, client_ip(request))
        return redirect("leads:booking_done", slug=page.slug)
    data = form.cleaned_data
    try:
        services.booking_book(
            page=page,
            starts_at=slot,
            name=data["name"],
            email=data["email"],
            company=data["company"],
            note=data["note"],
            consent=data["consent"],
            ip=client_address(request),
        )
    except services.SlotTaken:
        context["taken"] = True
        return _slots(request, context, page, status=409)
    except ValidationError as exc:
        form.add_error(None, exc)
        context["form"] = form
        return render(request, "leads/booking/form.html", context, status=400)
    return redirect("leads:booking_done", slug=page.slug)


@require_GET
def booking_done(request, slug):
    page = _public_page(slug)
    return render(request, "leads/booking/done.html", {"page": page})
