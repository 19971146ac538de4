"""Sales pages: deals (list, board, detail, forms), forecast, quotes, orders, onboarding.

Views stay thin: they fetch through ``visible_to`` / ``changeable_by`` (404 outside), validate
with a form and call one service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Task
from crm.permissions import may_manage, may_sell
from crm.views.lists import Column, FilteredListView, is_htmx
from crm.views.records import RecordDetailView, RecordFormView
from crm.visibility import owner_in_scope
from sales import selectors, services
from sales.choices import PeriodKind, QuoteStatus, StageKind
from sales.filtersets import OnboardingFilterSet, OpportunityFilterSet, OrderFilterSet
from sales.forms import (
    LineItemEditForm,
    LineItemForm,
    LostForm,
    OpportunityForm,
    OrderImportForm,
    QuotaForm,
)
from sales.models import (
    OnboardingPlan,
    Opportunity,
    OpportunityLineItem,
    Order,
    Pipeline,
    Quote,
    Stage,
)

STAGE_HISTORY_SHOWN = 20


def _require_deals(user) -> None:
    """Support agents have no access to deals or amounts: every deal page is a 404 for them."""
    if not may_sell(user):
        raise Http404


def _changeable_deal(request, pk) -> Opportunity:
    return get_object_or_404(Opportunity.objects.changeable_by(request.user), pk=pk)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# Deals ----------------------------------------------------------------------------------------


class OpportunityListView(FilteredListView):
    filterset_class = OpportunityFilterSet
    title = "Deals"
    row_template = "sales/rows/opportunity.html"
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

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            _require_deals(request.user)
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return Opportunity.objects.visible_to(self.request.user).select_related(
            "account", "owner", "stage"
        )


class OpportunityDetailView(RecordDetailView):
    model = Opportunity
    template_name = "sales/opportunity_detail.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("account", "primary_contact", "owner", "stage", "pipeline")
            .select_related("source_lead", "campaign")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(deal_context(self.object))
        context["lost_form"] = kwargs.get("lost_form") or LostForm()
        context["open_stages"] = list(
            Stage.objects.filter(pipeline_id=self.object.pipeline_id, kind=StageKind.OPEN)
        )
        return context


def deal_context(deal: Opportunity, line_form=None, line_error="") -> dict:
    return {
        "line_items": list(deal.line_items.select_related("product")),
        "line_form": line_form or LineItemForm(),
        "line_error": line_error,
        "stage_history": list(
            deal.stage_changes.select_related("from_stage", "to_stage", "changed_by")[
                :STAGE_HISTORY_SHOWN
            ]
        ),
        "quotes": list(deal.quotes.order_by("-created_at", "-id")[:10]),
        "order": Order.objects.filter(opportunity=deal).first() if deal.is_won else None,
        "onboarding": OnboardingPlan.objects.filter(opportunity=deal).first()
        if deal.is_won
        else None,
    }


class OpportunityFormView(RecordFormView):
    model = Opportunity
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
def opportunity_move(request, pk):
    """Drop a card on another stage (the board) or pick a stage (the detail page)."""
    deal = _changeable_deal(request, pk)
    stage_id = request.POST.get("stage", "")
    stage = Stage.objects.filter(pk=int(stage_id)).first() if stage_id.isdigit() else None
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
        return _move_answer(request, deal, error=_error_text(exc))
    return _move_answer(request, deal)


def _move_answer(request, deal, error=""):
    if is_htmx(request) and request.POST.get("board"):
        board_id = request.POST["board"]
        pipeline = (
            Pipeline.objects.filter(pk=int(board_id)).first() if board_id.isdigit() else None
        ) or deal.pipeline
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
def opportunity_win(request, pk):
    deal = _changeable_deal(request, pk)
    try:
        services.opportunity_close_won(opportunity=deal, user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{deal.name} is won; onboarding is starting.")
    return HttpResponseRedirect(deal.get_absolute_url())


@login_required
def opportunity_lose(request, pk):
    deal = _changeable_deal(request, pk)
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


# Line items -----------------------------------------------------------------------------------


def _line_items_answer(request, deal, line_form=None, error=""):
    deal.refresh_from_db()
    if is_htmx(request):
        context = {"object": deal, "can_change": True, **deal_context(deal, line_form, error)}
        return render(request, "sales/_line_items.html", context)
    if error or (line_form is not None and line_form.errors):
        messages.error(request, error or line_form.errors.as_text())
    return HttpResponseRedirect(deal.get_absolute_url())


@login_required
@require_POST
def line_item_add(request, pk):
    deal = _changeable_deal(request, pk)
    form = LineItemForm(request.POST)
    if not form.is_valid():
        return _line_items_answer(request, deal, line_form=form)
    data = form.cleaned_data
    try:
        services.line_item_add(
            opportunity=deal,
            user=request.user,
            product=data["product"],
            quantity=data["quantity"],
            unit_price=data.get("unit_price"),
            discount_percent=data.get("discount_percent") or 0,
            billing=data.get("billing") or "",
        )
    except ValidationError as exc:
        return _line_items_answer(request, deal, line_form=form, error=_error_text(exc))
    return _line_items_answer(request, deal)


def _changeable_line(request, pk) -> OpportunityLineItem:
    return get_object_or_404(
        OpportunityLineItem.objects.select_related("opportunity").filter(
            opportunity__in=Opportunity.objects.changeable_by(request.user)
        ),
        pk=pk,
    )


@login_required
@require_POST
def line_item_update(request, pk):
    item = _changeable_line(request, pk)
    form = LineItemEditForm(request.POST)
    if not form.is_valid():
        return _line_items_answer(request, item.opportunity, error=form.errors.as_text())
    try:
        services.line_item_update(item=item, user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _line_items_answer(request, item.opportunity, error=_error_text(exc))
    return _line_items_answer(request, item.opportunity)


@login_required
@require_POST
def line_item_remove(request, pk):
    item = _changeable_line(request, pk)
    deal = item.opportunity
    try:
        services.line_item_remove(item=item, user=request.user)
    except ValidationError as exc:
        return _line_items_answer(request, deal, error=_error_text(exc))
    return _line_items_answer(request, deal)


# Board ----------------------------------------------------------------------------------------


def board_context(request, pipeline, *, owner=None, error="") -> dict:
    user = request.user
    owner_id = int(owner) if owner and str(owner).isdigit() else None
    if owner_id and not owner_in_scope(user, owner_id):
        owner_id = None
    columns = selectors.pipeline_board(user=user, pipeline=pipeline, owner_id=owner_id)
    closing = {s.kind: s for s in pipeline.stages.exclude(kind=StageKind.OPEN).order_by("order")}
    now = timezone.now()
    for column in columns:
        for card in column.cards:
            card.rotting = card.is_rotting(now)
    return {
        "pipeline": pipeline,
        "pipelines": Pipeline.objects.filter(is_active=True),
        "columns": columns,
        "won_stage": closing.get(StageKind.WON),
        "lost_stage": closing.get(StageKind.LOST),
        "owner_id": owner_id or "",
        "owners": selectors.forecast_reps(user) if may_manage(user) else [],
        "board_error": error,
    }


@login_required
@require_GET
def board(request, pk=None):
    _require_deals(request.user)
    pipelines = Pipeline.objects.filter(is_active=True)
    if pk is None:
        pipeline = services.default_pipeline()
        if pipeline is None:
            raise Http404
    else:
        pipeline = get_object_or_404(pipelines, pk=pk)
    context = board_context(request, pipeline, owner=request.GET.get("owner"))
    template = "sales/_board.html" if is_htmx(request) else "sales/board.html"
    return render(request, template, context)


# Forecast -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def forecast(request):
    _require_deals(request.user)
    today = timezone.localdate()
    year_raw = request.GET.get("year", "")
    year = int(year_raw) if year_raw.isdigit() and 2000 <= int(year_raw) <= 2100 else today.year
    granularity = request.GET.get("by", PeriodKind.MONTH)
    if granularity not in PeriodKind.values:
        granularity = PeriodKind.MONTH
    rep_raw = request.GET.get("rep", "")
    rep_ids = [int(rep_raw)] if rep_raw.isdigit() else None
    all_reps = selectors.forecast_reps(request.user)
    may_set_quota = may_manage(request.user)
    quota_form = QuotaForm(request.POST or None, reps=all_reps) if may_set_quota else None
    if request.method == "POST":
        if quota_form is None:
            raise Http404
        if quota_form.is_valid():
            try:
                services.quota_set(user=request.user, **quota_form.cleaned_data)
            except ValidationError as exc:
                quota_form.add_error(None, exc)
            else:
                messages.success(request, "Quota saved.")
                return HttpResponseRedirect(request.get_full_path())
    data = selectors.sales_forecast(
        user=request.user, year=year, granularity=granularity, rep_ids=rep_ids
    )
    return render(
        request,
        "sales/forecast.html",
        {
            "forecast": data,
            "rows": data.rows(),
            "year": year,
            "years": range(today.year - 2, today.year + 2),
            "by": granularity,
            "rep_id": rep_ids[0] if rep_ids else "",
            "all_reps": all_reps,
            "quota_form": quota_form,
            "quarter": granularity == PeriodKind.QUARTER,
        },
    )


# Quotes ---------------------------------------------------------------------------------------


@login_required
@require_POST
def quote_create(request, pk):
    deal = _changeable_deal(request, pk)
    try:
        quote = services.quote_create(opportunity=deal, user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return HttpResponseRedirect(deal.get_absolute_url())
    messages.success(request, f"Quote {quote.number} drafted.")
    return HttpResponseRedirect(quote.get_absolute_url())


@login_required
@require_GET
def quote_detail(request, pk):
    quote = get_object_or_404(
        Quote.objects.visible_to(request.user).select_related(
            "opportunity__account", "opportunity__primary_contact", "opportunity__owner"
        ),
        pk=pk,
    )
    can_change = Quote.objects.changeable_by(request.user).filter(pk=quote.pk).exists()
    return render(
        request,
        "sales/quote_detail.html",
        {
            "quote": quote,
            "deal": quote.opportunity,
            "can_change": can_change,
            "next_statuses": [QuoteStatus(s) for s in sorted(quote_next_statuses(quote.status))],
        },
    )


def quote_next_statuses(status):
    from sales.choices import QUOTE_TRANSITIONS

    return QUOTE_TRANSITIONS.get(status, set())


@login_required
@require_POST
def quote_status(request, pk):
    quote = get_object_or_404(Quote.objects.changeable_by(request.user), pk=pk)
    try:
        services.quote_set_status(
            quote=quote, status=request.POST.get("status", ""), user=request.user
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    return HttpResponseRedirect(quote.get_absolute_url())


# Orders ---------------------------------------------------------------------------------------


class OrderListView(FilteredListView):
    filterset_class = OrderFilterSet
    title = "Orders"
    row_template = "sales/rows/order.html"
    columns = [
        Column("Order"),
        Column("Account"),
        Column("Date", sort="date"),
        Column("Amount", sort="amount", css="text-end"),
        Column("MRR", css="text-end"),
        Column("Source"),
    ]
    sorts = {"date": ("order_date", "id"), "amount": ("amount", "id")}
    default_sort = "-date"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            _require_deals(request.user)
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return Order.objects.visible_to(self.request.user).select_related("account")


@login_required
@require_GET
def order_detail(request, pk):
    order = get_object_or_404(
        Order.objects.visible_to(request.user).select_related("account", "opportunity", "owner"),
        pk=pk,
    )
    return render(
        request,
        "sales/order_detail.html",
        {"order": order, "lines": list(order.lines.select_related("product"))},
    )


@login_required
def order_import(request):
    _require_deals(request.user)
    if not may_manage(request.user):
        raise Http404
    form = OrderImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = services.orders_import(file=form.cleaned_data["file"].read(), user=request.user)
    return render(request, "sales/order_import.html", {"form": form, "result": result})


# Onboarding -----------------------------------------------------------------------------------


class OnboardingBoardView(FilteredListView):
    filterset_class = OnboardingFilterSet
    title = "Onboarding"
    row_template = "sales/rows/onboarding.html"
    template_name = "sales/onboarding_board.html"
    columns = [
        Column("Account"),
        Column("Deal"),
        Column("Owner"),
        Column("Progress"),
        Column("Overdue"),
        Column("Started", sort="started"),
        Column("Status"),
    ]
    sorts = {"started": ("started_at", "id")}
    default_sort = "-started"

    def base_queryset(self):
        return selectors.onboarding_plans(user=self.request.user)


class OnboardingDetailView(RecordDetailView):
    model = OnboardingPlan
    template_name = "sales/onboarding_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("account", "opportunity", "owner", "template")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        items = list(
            Task.objects.for_object(self.object).select_related("assignee").order_by("due_at", "id")
        )
        now = timezone.now()
        context["items"] = items
        context["items_done"] = sum(1 for t in items if t.done_at)
        context["now"] = now
        context["show_deal"] = may_sell(self.request.user)
        mine = set(
            Task.objects.visible_to(self.request.user)
            .filter(pk__in=[t.pk for t in items])
            .values_list("pk", flat=True)
        )
        context["completable"] = mine if not context["can_change"] else {t.pk for t in items}
        return context


@login_required
@require_POST
def onboarding_item_done(request, pk, task_pk):
    plan = get_object_or_404(OnboardingPlan.objects.visible_to(request.user), pk=pk)
    tasks = Task.objects.for_object(plan)
    if not OnboardingPlan.objects.changeable_by(request.user).filter(pk=plan.pk).exists():
        tasks = tasks.filter(pk__in=Task.objects.visible_to(request.user).values("pk"))
    task = get_object_or_404(tasks, pk=task_pk)
    if services.onboarding_item_complete(plan=plan, task=task, user=request.user):
        messages.success(request, f"Onboarding of {plan.account} is finished: now a customer.")
    return HttpResponseRedirect(plan.get_absolute_url())
