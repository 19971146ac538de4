"""Lead pages: list with bulk actions, detail, create/edit/delete, status, conversion."""

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.permissions import may_manage, may_sell
from crm.views import safe_next
from crm.views.lists import Column, FilteredListView, is_htmx, stale_message
from crm.views.records import RecordDeleteView, RecordDetailView, RecordFormView
from crm.views.submissions import submitted_once
from crm.widgets import option_rows
from leads import selectors
from leads.campaigns.selectors import EMAIL_CAMPAIGN_RELATIONS, email_campaign_list
from leads.choices import LeadStatus
from leads.filtersets import LeadFilterSet
from leads.forms import (
    BulkActionForm,
    ConvertForm,
    DisqualifyForm,
    EnrolForm,
    LeadForm,
    ReassignForm,
    StatusForm,
)
from leads.models import Lead
from leads.services import dedupe, sequences
from leads.services import leads as lead_services
from leads.tables import lead_rows

EMAIL_CAMPAIGNS_SHOWN = 20


class LeadListView(FilteredListView):
    filterset_class = LeadFilterSet
    title = "Leads"
    empty_noun = "leads"
    record_kind = "leads"
    template_name = "leads/lead_list.html"
    row_template = ""  # rows written by ``leads.tables.lead_rows``
    row_fields = (
        *("first_name", "last_name", "email", "company_name", "status", "source", "score"),
        *("grade", "quality", "created_at", "possible_duplicate", "duplicate_of"),
        *("campaign", "campaign__name", "owner", "owner__first_name", "owner__last_name"),
        "owner__username",
    )
    custom_entity = "lead"
    create_url_name = "leads:lead_create"
    columns = [
        Column("", css="w-1"),
        Column("Name", sort="name"),
        Column("Company", sort="company"),
        Column("Status"),
        Column("Source"),
        Column("Campaign"),
        Column("Owner"),
        Column("Score", sort="score", css="text-end"),
        Column("Grade"),
        Column("Quality", sort="quality", css="text-end"),
        Column("Created", sort="created"),
    ]
    sorts = {
        "name": ("last_name", "first_name", "id"),
        "company": ("company_name", "id"),
        "score": ("score", "id"),
        "quality": ("quality", "id"),
        "created": ("created_at", "id"),
    }
    default_sort = "-created"
    show_quality = True

    list_selector = selectors.lead_list

    def base_queryset(self):
        return super().base_queryset().select_related("owner", "campaign")

    def can_create(self):
        return may_sell(self.request.user)

    def render_rows(self, rows, *, bulk):
        if self.row_template:
            return None  # a queue with rows of its own template
        return lead_rows(rows, custom=bool(self.custom_columns_list))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The filter bar's owners (read once, kept for its select) are the bulk bar's too.
        owner = self.filterset.form.fields.get("owner")
        people = None
        if owner is not None and not is_htmx(self.request):  # a partial shows neither bar
            people = list(option_rows(owner))
        context["bulk_form"] = BulkActionForm(user=self.request.user, people=people)
        return context


class DuplicateListView(LeadListView):
    """The review queue of leads flagged as likely duplicates: each beside the lead it resembles,
    with the reasons, to merge or to answer "not a duplicate"."""

    title = "Possible duplicate leads"
    empty_text = "No possible duplicate leads right now."
    create_url_name = ""
    show_quality = False
    row_template = "leads/rows/duplicate.html"
    custom_entity = ""  # a review queue: the pair and the reasons, no more columns
    columns = [
        Column("", css="w-1"),
        Column("Lead", sort="name"),
        Column("Possibly the same as"),
        Column("Why"),
        Column("Owner"),
        Column("Created", sort="created"),
        Column(""),
    ]

    def base_queryset(self):
        return (
            super().base_queryset().filter(possible_duplicate=True).select_related("duplicate_of")
        )


class UnassignedLeadListView(LeadListView):
    """Leads no one owns yet (no assignment rule matched, or the team had nobody to take them),
    for managers to hand out: their teams' and those routed to no team; admins see all."""

    title = "Unassigned leads"
    empty_text = "No unassigned leads: every lead has an owner."
    create_url_name = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_manage(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return super().base_queryset().filter(owner__isnull=True)


#: The lead page joins what it shows; create/edit/delete and the actions join nothing.
lead_page_get = partial(selectors.lead_get, related=selectors.LEAD_PAGE_RELATIONS)
lead_bare_get = partial(selectors.lead_get, related=())


def lead_changeable(request, pk) -> Lead:
    """A lead this user may change, else 404."""
    return lead_bare_get(user=request.user, pk=pk, for_change=True)


class LeadDetailView(RecordDetailView):
    model = Lead
    selector = lead_page_get
    template_name = "leads/lead_detail.html"

    def probes(self):
        user = self.request.user
        return {
            "_enrollments": selectors.lead_enrollments_exist(),
            "_recent_merges": selectors.lead_recent_merges_exist(user=user),
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        lead = self.object
        context.update(
            enrollments=selectors.lead_enrollments(lead=lead)
            if self.probed["_enrollments"]
            else [],
            recent_merges=selectors.lead_recent_merges(user=user, lead=lead)
            if self.probed["_recent_merges"]
            else [],
            disqualify_form=DisqualifyForm(),
            reassign_form=ReassignForm(user=user) if may_manage(user) else None,
            enrol_form=EnrolForm(user=user),
            bant=[
                ("Budget", bool(lead.budget_amount) or lead.budget_confirmed),
                ("Authority", bool(lead.authority)),
                ("Need", bool(lead.need or lead.need_severity)),
                ("Timeline", lead.timeline is not None),
            ],
            LeadStatus=LeadStatus,
        )
        return context


class LeadFormView(RecordFormView):
    model = Lead
    selector = lead_bare_get
    form_class = LeadForm
    create_service = lead_services.lead_create
    update_service = lead_services.lead_update
    object_name = "lead"
    template_name = "crm/form.html"


class LeadDeleteView(RecordDeleteView):
    model = Lead
    selector = lead_bare_get
    delete_service = lead_services.lead_delete
    object_name = "lead"
    success_url_name = "leads:lead_list"


def _back(lead):
    return HttpResponseRedirect(lead.get_absolute_url())


@login_required
@require_POST
@submitted_once
def lead_status(request, pk):
    lead = lead_changeable(request, pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status: " + form.errors.as_text())
        return _back(lead)
    try:
        lead_services.lead_set_status(
            lead=lead,
            status=form.cleaned_data["status"],
            user=request.user,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Status changed.")
    return _back(lead)


@login_required
@submitted_once
def lead_convert(request, pk):
    lead = lead_changeable(request, pk)
    if lead.status == LeadStatus.CONVERTED:
        messages.info(request, "This lead is already converted.")
        return _back(lead)
    form = ConvertForm(
        request.POST if request.method == "POST" else None,
        initial={"opportunity_name": lead.company_name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            conversion = lead_services.lead_convert(
                lead=lead, user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Converted: account {conversion.account}, contact {conversion.contact}"
                + (f", {len(conversion.created)} opportunity" if conversion.created else "")
                + ".",
            )
            target = conversion.created[0] if conversion.created else conversion.contact
            return HttpResponseRedirect(target.get_absolute_url())
    return render(request, "leads/convert.html", {"object": lead, "form": form})


@login_required
@require_POST
@submitted_once
def lead_reassign(request, pk):
    lead = lead_changeable(request, pk)
    if not may_manage(request.user):
        raise Http404
    form = ReassignForm(request.POST, user=request.user)
    if form.is_valid():
        lead_services.lead_reassign(lead=lead, owner=form.cleaned_data["owner"], user=request.user)
        messages.success(request, f"Reassigned to {form.cleaned_data['owner']}.")
    else:
        messages.error(request, "Choose an owner you manage.")
    return _back(lead)


@login_required
@require_POST
@submitted_once
def lead_not_duplicate(request, pk):
    """The answer "not a duplicate" on a flagged lead (remembered for the pair)."""
    lead = lead_changeable(request, pk)
    lead = dedupe.lead_not_duplicate(lead=lead, user=request.user)
    if lead.possible_duplicate:
        messages.info(request, f"Noted. {lead} still resembles {lead.duplicate_of}.")
    else:
        messages.success(request, f"Noted: {lead} is not a duplicate.")
    return HttpResponseRedirect(safe_next(request, lead.get_absolute_url()))


@login_required
@require_POST
@submitted_once
def lead_replied(request, pk):
    lead = lead_changeable(request, pk)
    lead_services.lead_mark_replied(lead=lead, user=request.user)
    messages.success(request, "Reply recorded; nurturing stopped.")
    return _back(lead)


@login_required
@require_POST
@submitted_once
def lead_enrol(request, pk):
    lead = lead_changeable(request, pk)
    form = EnrolForm(request.POST, user=request.user)
    if form.is_valid():
        enrollment = sequences.lead_enrol(
            lead=lead, sequence=form.cleaned_data["sequence"], user=request.user
        )
        if enrollment is None:
            messages.error(request, "Only open leads that are not qualified can be nurtured.")
        else:
            messages.success(request, f"Enrolled in {form.cleaned_data['sequence']}.")
    else:
        messages.error(request, "Choose a sequence.")
    return _back(lead)


@login_required
@require_POST
@submitted_once
def lead_bulk(request):
    """Bulk actions on the leads ticked in the list (only those the user may change)."""
    if not may_sell(request.user):
        raise Http404
    form = BulkActionForm(request.POST, user=request.user)
    back = safe_next(request, reverse("leads:lead_list"))
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"Nothing was done: {errors}")
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    leads = selectors.lead_list(user=request.user, for_change=True).filter(pk__in=data["ids"])
    if data["seen_at"]:
        # Someone else changed these since the list was read: not overwritten unseen.
        stale = leads.filter(updated_at__gt=data["seen_at"]).count()
        if stale:
            leads = leads.exclude(updated_at__gt=data["seen_at"])
            messages.warning(request, stale_message(stale, "lead"))
    action = data["action"]
    try:
        if action == "assign":
            count = lead_services.leads_bulk_reassign(
                leads=leads, owner=data["owner"], user=request.user
            )
            messages.success(request, f"{count} leads reassigned to {data['owner']}.")
        elif action == "status":
            changed, refused = lead_services.leads_bulk_set_status(
                leads=leads, status=data["status"], user=request.user, reason=data["reason"]
            )
            note = f" {refused} could not make that change." if refused else ""
            messages.success(request, f"{changed} leads changed.{note}")
        elif action == "enrol":
            count = sequences.leads_bulk_enrol(
                leads=leads, sequence=data["sequence"], user=request.user
            )
            messages.success(request, f"{count} leads enrolled in {data['sequence']}.")
        elif action == "delete":
            count = lead_services.leads_bulk_delete(leads=leads, user=request.user)
            messages.success(
                request,
                f"{count} leads moved to the trash, restorable for "
                f"{settings.TRASH_RETENTION_DAYS} days.",
            )
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return HttpResponseRedirect(back)


@login_required
def campaign_detail(request, pk):
    campaign = selectors.campaign_get(user=request.user, pk=pk)
    leads = selectors.lead_list(user=request.user).filter(campaign=campaign)
    user = request.user
    # Email campaigns and credited revenue are for those who run campaigns (managers, admins).
    runs_campaigns = may_manage(user)
    return render(
        request,
        "leads/campaign_detail.html",
        {
            "object": campaign,
            "recent_leads": leads.select_related("owner").order_by("-created_at", "-id")[:20],
            "runs_campaigns": runs_campaigns,
            "email_campaigns": email_campaign_list(user=user)
            .select_related(*EMAIL_CAMPAIGN_RELATIONS)
            .filter(campaign=campaign)
            .order_by("-created_at", "-id")[:EMAIL_CAMPAIGNS_SHOWN]
            if runs_campaigns
            else [],
        },
    )
