"""Email campaign pages: the list, create/edit with variants, a live audience size and a
preview, and the campaign's page (progress, A/B results, ROI and its recipients)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.html import preview_document
from crm.permissions import may_manage
from crm.segments.choices import SegmentTarget
from crm.segments.selectors import segment_count, segment_queryset, segments_usable_by
from crm.views.lists import Column, FilteredListView, is_htmx
from crm.views.submissions import submitted_once
from leads.campaigns import selectors
from leads.campaigns.forms import (
    MERGE_FIELDS,
    EmailCampaignFilterSet,
    EmailCampaignForm,
    RecipientFilterSet,
    ScheduleForm,
    variant_formset,
)
from leads.campaigns.services import authoring, sending
from leads.campaigns.services.outcomes import ATTRIBUTION_DAYS, REPLY_DAYS
from leads.choices import EmailCampaignStatus
from leads.models import CampaignRecipient, EmailCampaign
from leads.selectors import campaign_get


def access_email_campaign(request, pk) -> EmailCampaign:
    """A campaign this user may change, else 404."""
    return selectors.email_campaign_get(user=request.user, pk=pk, for_change=True)


class EmailCampaignListView(FilteredListView):
    filterset_class = EmailCampaignFilterSet
    title = "Email campaigns"
    empty_noun = "email campaigns"
    row_template = "leads/rows/email_campaign.html"
    create_url_name = "leads:email_campaign_create"
    columns = [
        Column("Name", sort="name"),
        Column("Marketing campaign"),
        Column("Audience"),
        Column("Status"),
        Column("Sends", sort="scheduled"),
        Column("Winner"),
        Column("Created by"),
        Column("Created", sort="created"),
    ]
    sorts = {
        "name": ("name", "id"),
        "scheduled": ("scheduled_at", "id"),
        "created": ("created_at", "id"),
    }
    default_sort = "-created"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_manage(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    list_selector = selectors.email_campaign_list

    def base_queryset(self):
        return super().base_queryset().select_related(*selectors.EMAIL_CAMPAIGN_RELATIONS)


class EmailCampaignDetailView(FilteredListView):
    """The campaign's page is a list of its recipients (filtered, paged, HTMX like every list)
    under the campaign's progress, A/B results and ROI."""

    filterset_class = RecipientFilterSet
    template_name = "leads/email_campaign_detail.html"
    partial_template_name = "crm/_list_table.html"
    row_template = "leads/rows/campaign_recipient.html"
    columns = [
        Column("Contact"),
        Column("Email"),
        Column("Variant"),
        Column("Status"),
        Column("Queued", sort="queued"),
        Column("Opened"),
        Column("Clicked"),
        Column("Replied"),
        Column("Converted"),
    ]
    sorts = {"id": ("id",), "queued": ("queued_at", "id")}
    default_sort = "id"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.campaign = selectors.email_campaign_get(
                user=request.user, pk=kwargs["pk"], related=selectors.EMAIL_CAMPAIGN_RELATIONS
            )
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return CampaignRecipient.objects.filter(campaign=self.campaign).select_related(
            "contact", "variant"
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if is_htmx(self.request):
            return context
        campaign = self.campaign
        results = selectors.variant_results(campaign)
        for row in results:
            for name in ("opened", "clicked", "replied", "converted"):
                row[f"{name}_percent"] = f"{row[f'{name}_rate']:.1%}"
        context.update(
            object=campaign,
            title=campaign.name,
            variants=list(campaign.variants.order_by("label")),
            progress=selectors.email_campaign_progress(campaign),
            results=results,
            verdict=selectors.compare_variants(results),
            can_change=selectors.email_campaign_list(user=self.request.user, for_change=True)
            .filter(pk=campaign.pk)
            .exists(),
            schedule_form=ScheduleForm(),
            Status=EmailCampaignStatus,
            reply_days=REPLY_DAYS,
            attribution_days=ATTRIBUTION_DAYS,
        )
        return context


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def email_campaign_form(request, pk=None):
    """Create a draft, or edit one (a scheduled campaign is taken back to draft to be edited)."""
    campaign = access_email_campaign(request, pk) if pk else None
    if campaign is None and not may_manage(request.user):
        raise Http404
    if campaign is not None and campaign.status != EmailCampaignStatus.DRAFT:
        messages.error(request, "Only a draft can be edited; unschedule it first.")
        return HttpResponseRedirect(campaign.get_absolute_url())
    initial = {}
    if campaign is None and request.GET.get("campaign", "").isdigit():
        initial["campaign"] = int(request.GET["campaign"])
    if request.method == "POST":
        form = EmailCampaignForm(request.POST, instance=campaign, user=request.user)
        formset = variant_formset(request.POST, campaign=campaign)
        if form.is_valid() and formset.is_valid():
            values = {**form.settings(), "variants": formset.variants()}
            try:
                if campaign is None:
                    campaign = authoring.email_campaign_create(user=request.user, **values)
                    messages.success(request, f"{campaign} was drafted.")
                else:
                    campaign = authoring.email_campaign_update(
                        email_campaign=campaign, user=request.user, **values
                    )
                    messages.success(request, f"{campaign} was saved.")
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return HttpResponseRedirect(campaign.get_absolute_url())
    else:
        form = EmailCampaignForm(instance=campaign, initial=initial, user=request.user)
        formset = variant_formset(campaign=campaign)
    return render(
        request,
        "leads/email_campaign_form.html",
        {
            "object": campaign,
            "form": form,
            "formset": formset,
            "merge_fields": MERGE_FIELDS,
            "cancel_url": campaign.get_absolute_url()
            if campaign
            else reverse("leads:email_campaign_list"),
        },
    )


def _transition(request, campaign, change, done: str):
    try:
        change(campaign)
    except sending.TransitionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(campaign.get_absolute_url())


@login_required
@require_POST
@submitted_once
def email_campaign_schedule(request, pk):
    campaign = access_email_campaign(request, pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("at", []):
            messages.error(request, error)
        return HttpResponseRedirect(campaign.get_absolute_url())
    at = form.cleaned_data["at"]

    def schedule(c):
        sending.email_campaign_schedule(campaign=c, at=at, user=request.user)

    done = (
        f"Scheduled for {at:%Y-%m-%d %H:%M}."
        if at
        else f"Sending starts within a minute, at most {campaign.rate_per_minute} emails a minute."
    )
    return _transition(request, campaign, schedule, done)


@login_required
@require_POST
@submitted_once
def email_campaign_unschedule(request, pk):
    def unschedule(c):
        sending.email_campaign_set_status(
            campaign=c, status=EmailCampaignStatus.DRAFT, user=request.user, scheduled_at=None
        )

    campaign = access_email_campaign(request, pk)
    return _transition(request, campaign, unschedule, "Back to draft: nothing will be sent.")


@login_required
@require_POST
@submitted_once
def email_campaign_cancel(request, pk):
    def cancel(c):
        sending.email_campaign_cancel(campaign=c, user=request.user)

    campaign = access_email_campaign(request, pk)
    return _transition(request, campaign, cancel, "Cancelled: no further emails will be sent.")


def _usable_segment(request):
    segment_id = request.GET.get("segment") or request.POST.get("segment") or ""
    if not segment_id.isdigit():
        return None
    return segments_usable_by(request.user, SegmentTarget.CONTACT).filter(pk=segment_id).first()


@login_required
@require_GET
def email_campaign_audience(request):
    """HTMX: the chosen segment's live size, and how many of them may be mailed."""
    if not may_manage(request.user):
        raise Http404
    segment = _usable_segment(request)
    context = {"segment": segment}
    if segment is not None:
        timeout = getattr(settings, "SEGMENT_COUNT_TIMEOUT_MS", 10_000)
        try:
            context["size"] = segment_count(segment, user=request.user, timeout_ms=timeout)
            members = segment_queryset(segment, user=request.user).order_by()
            context["consenting"] = members.filter(marketing_consent=True).count()
        except (ValidationError, OperationalError):
            context["error"] = "This segment cannot be counted right now."
    return render(request, "leads/_email_campaign_audience.html", context)


@login_required
@require_POST
def email_campaign_preview(request):
    """HTMX: one variant rendered for the first consenting contact of the chosen segment."""
    if not may_manage(request.user):
        raise Http404
    slot = request.POST.get("slot", "0")
    slot = slot if slot.isdigit() else "0"
    subject = request.POST.get(f"variant-{slot}-subject", "")
    body = request.POST.get(f"variant-{slot}-body", "")
    segment = _usable_segment(request)
    contact = None
    if segment is not None:
        try:
            contact = (
                segment_queryset(segment, user=request.user)
                .filter(marketing_consent=True)
                .select_related("account", "owner")
                .order_by("pk")
                .first()
            )
        except ValidationError:
            contact = None
    context = {"contact": contact}
    try:
        context["preview"] = authoring.email_variant_preview(
            subject=subject, body=body, contact=contact
        )
        context["preview_document"] = preview_document(context["preview"]["body_html"])
    except TemplateSyntaxError as exc:
        context["error"] = f"This template does not work: {exc}"
    return render(request, "leads/_email_campaign_preview.html", context)


@login_required
@require_GET
def campaign_roi_panel(request, pk):
    """HTMX: a marketing campaign's ROI, loaded after the page (it ranks every touch of the
    accounts the campaign reached against their won deals)."""
    if not may_manage(request.user):
        raise Http404
    campaign = campaign_get(user=request.user, pk=pk)
    return render(
        request,
        "leads/_campaign_roi.html",
        {
            "roi_campaign": campaign,
            "roi": selectors.campaign_roi(campaign=campaign, user=request.user),
        },
    )
