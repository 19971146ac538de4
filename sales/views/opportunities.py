"""Deals: list, detail, create and edit, moving between stages, winning and losing."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.permissions import may_sell
from crm.views.lists import Column, FilteredListView, is_htmx
from crm.views.records import RecordDeleteView, RecordDetailView, RecordFormView
from crm.views.submissions import submitted_once
from sales import services
from sales.choices import StageKind
from sales.filtersets import OpportunityFilterSet
from sales.forms import LineItemForm, LostForm, OpportunityForm
from sales.models import OnboardingPlan, Opportunity, Order
from sales.selectors import opportunity_get, opportunity_list, pipeline_get, stage_get, stage_list
from sales.services.quotes import quote_lines_match
from sales.tables import opportunity_rows
from sales.views.board import board_context
from sales.views.common import DealsOnlyMixin, error_text, get_or_none

STAGE_HISTORY_SHOWN = 20


class OpportunityListView(DealsOnlyMixin, FilteredListView):
    list_selector = opportunity_list
    filterset_class = OpportunityFilterSet
    title = "Deals"
    empty_noun = "deals"
    record_kind = "opportunities"
    bulk_kind = "deals"
    row_template = ""  # rows written by ``sales.tables.opportunity_rows``
    row_fields = (
        *("name", "status", "currency", "amount", "probability", "expected_close_date"),
        *("created_at", "account", "account__name", "stage", "stage__name", "owner"),
        *("owner__first_name", "owner__last_name", "owner__username"),
    )
    custom_entity = "opportunity"
    create_url_name = "sales:opportunity_create"
    columns = [
        Column("Name", sort="name"),
        Column("Account"),
        Column("Stage"),
        Column("Amount", sort="amount", css="text-end"),
        Column("Prob.", css="text-end"),
        Column("Close date", sort="close"),
        Column("Owner"),
        Column("Created", sort="created"),
    ]
    sorts = {
        "name": ("name", "id"),
        "amount": ("amount", "id"),
        "close": ("expected_close_date", "id"),
        "created": ("created_at", "id"),
    }
    default_sort = "-created"

    def base_queryset(self):
        return super().base_queryset().select_related("account", "owner", "stage")

    def render_rows(self, rows, *, bulk):
        return opportunity_rows(rows, bulk=bulk, custom=bool(self.custom_columns_list))


class OpportunityDetailView(RecordDetailView):
    model = Opportunity
    selector = opportunity_get
    template_name = "sales/opportunity_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(deal_context(self.object))
        context["lost_form"] = kwargs.get("lost_form") or LostForm()
        context["open_stages"] = list(
            stage_list(user=self.request.user).filter(
                pipeline_id=self.object.pipeline_id, kind=StageKind.OPEN
            )
        )
        return context


def deal_context(deal: Opportunity, line_form=None, line_error="") -> dict:
    """What the deal page's money part shows: line items, amount against the lines' total,
    quotes, and whether the lines changed since the latest quote."""
    line_items = list(deal.line_items.select_related("product").order_by("id"))
    quotes = list(deal.quotes.order_by("-created_at", "-id")[:10])
    latest = quotes[0] if quotes else None
    return {
        "line_items": line_items,
        "lines_changed_since_quote": latest
        if latest is not None and not quote_lines_match(line_items, latest)
        else None,
        "line_form": line_form or LineItemForm(),
        "line_error": line_error,
        "stage_history": list(
            deal.stage_changes.select_related("from_stage", "to_stage", "changed_by")[
                :STAGE_HISTORY_SHOWN
            ]
        ),
        "quotes": quotes,
        "order": Order.objects.filter(opportunity=deal).first() if deal.is_won else None,
        "onboarding": OnboardingPlan.objects.filter(opportunity=deal).first()
        if deal.is_won
        else None,
    }


class OpportunityFormView(RecordFormView):
    model = Opportunity
    selector = opportunity_get
    form_class = OpportunityForm
    create_service = services.opportunity_create
    update_service = services.opportunity_update
    object_name = "opportunity"

    def may_create(self, user) -> bool:
        return may_sell(user)

    def get_initial(self):
        initial = super().get_initial()
        for key in ("account", "primary_contact"):
            value = self.request.GET.get(key, "")
            if value.isdigit():
                initial[key] = value
        return initial


@login_required
@require_POST
@submitted_once
def opportunity_move(request, pk):
    """Drop a card on another stage (the board) or pick a stage (the detail page)."""
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    stage = get_or_none(stage_get, user=request.user, pk=request.POST.get("stage", ""))
    if stage is None:
        return _move_answer(request, deal, error="Pick a stage.")
    if stage.kind == StageKind.LOST:
        # A lost deal needs a reason: ask for it on its own page.
        url = reverse("sales:opportunity_lose", args=[deal.pk])
        if is_htmx(request):
            return HttpResponse(headers={"HX-Redirect": url})
        return HttpResponseRedirect(url)
    try:
        services.opportunity_move_stage(opportunity=deal, stage=stage, user=request.user)
    except ValidationError as exc:
        return _move_answer(request, deal, error=error_text(exc))
    return _move_answer(request, deal)


def _move_answer(request, deal, error=""):
    if is_htmx(request) and request.POST.get("board"):
        pipeline = (
            get_or_none(pipeline_get, user=request.user, pk=request.POST["board"]) or deal.pipeline
        )
        return render(
            request,
            "sales/_board.html",
            board_context(request, pipeline, owner=request.POST.get("owner"), error=error),
        )
    if error:
        messages.error(request, error)
    return HttpResponseRedirect(deal.get_absolute_url())


@login_required
@require_POST
@submitted_once
def opportunity_win(request, pk):
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    try:
        services.opportunity_close_won(opportunity=deal, user=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{deal.name} is won; onboarding is starting.")
    return HttpResponseRedirect(deal.get_absolute_url())


@login_required
@submitted_once
def opportunity_lose(request, pk):
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    form = LostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_close_lost(
                opportunity=deal,
                user=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{deal.name} is marked lost.")
            return HttpResponseRedirect(deal.get_absolute_url())
    return render(request, "sales/opportunity_lose.html", {"object": deal, "form": form})


class OpportunityDeleteView(RecordDeleteView):
    model = Opportunity
    selector = opportunity_get
    delete_service = services.opportunity_delete
    object_name = "opportunity"
    success_url_name = "sales:opportunity_list"
