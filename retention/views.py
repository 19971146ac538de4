"""Retention pages: subscriptions, renewals, usage import and API, the at-risk list, churn."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from crm.machine import token_endpoint
from crm.models import Account
from crm.permissions import may_manage, may_sell
from crm.segments.selectors import segments_usable_by
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDetailView, RecordFormView
from retention import selectors
from retention.choices import TestimonialStatus
from retention.filtersets import (
    ChurnEventFilterSet,
    RecommendationFilterSet,
    RiskEpisodeFilterSet,
    SubscriptionFilterSet,
)
from retention.forms import (
    ChurnForm,
    NpsRunForm,
    SubscriptionChangeForm,
    SubscriptionCreateForm,
    SubscriptionEditForm,
    SubscriptionStatusForm,
    UsageImportForm,
)
from retention.models import (
    Advocate,
    ChurnEvent,
    NpsRun,
    Recommendation,
    RiskEpisode,
    Subscription,
    TestimonialRequest,
)
from retention.services import advocacy as advocacy_services
from retention.services import risk, subscriptions, upsell, usage


def _revenue_user(request):
    if not may_sell(request.user):
        raise Http404


# Subscriptions ---------------------------------------------------------------------------------


class SubscriptionListView(FilteredListView):
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"
    row_template = "retention/rows/subscription.html"
    create_url_name = "retention:subscription_create"
    columns = [
        Column("Plan", sort="plan"),
        Column("Account"),
        Column("Status"),
        Column("Seats", css="text-end"),
        Column("MRR", sort="mrr", css="text-end"),
        Column("Renews", sort="renewal"),
        Column("Owner"),
    ]
    sorts = {
        "plan": ("plan", "id"),
        "mrr": ("mrr", "id"),
        "renewal": ("renewal_date", "id"),
    }
    default_sort = "renewal"

    def base_queryset(self):
        return Subscription.objects.visible_to(self.request.user).select_related("account", "owner")

    def can_create(self):
        return may_sell(self.request.user)


class SubscriptionDetailView(RecordDetailView):
    model = Subscription
    template_name = "retention/subscription_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("account", "owner")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["movements"] = selectors.subscription_movements(subscription=self.object)
        context["status_form"] = SubscriptionStatusForm(initial={"status": self.object.status})
        context["change_form"] = SubscriptionChangeForm(
            initial={"mrr": self.object.mrr, "seats": self.object.seats}
        )
        context["renewals"] = list(self.object.renewals.order_by("-renewal_date")[:5])
        return context


class SubscriptionFormView(RecordFormView):
    model = Subscription
    create_service = subscriptions.subscription_create
    update_service = subscriptions.subscription_update
    object_name = "subscription"

    def may_create(self, user):
        return may_sell(user)

    def get_form_class(self):
        return SubscriptionEditForm if self.object else SubscriptionCreateForm

    def get_initial(self):
        initial = super().get_initial()
        account_id = self.request.GET.get("account", "")
        if account_id.isdigit():
            initial["account"] = account_id
        initial.setdefault("start_date", timezone.localdate())
        from django.conf import settings

        initial.setdefault("currency", settings.DEFAULT_CURRENCY)
        return initial


def _changeable_subscription(request, pk):
    return get_object_or_404(
        Subscription.objects.changeable_by(request.user).select_related("account"), pk=pk
    )


@login_required
@require_POST
def subscription_status(request, pk):
    subscription = _changeable_subscription(request, pk)
    form = SubscriptionStatusForm(request.POST)
    if form.is_valid():
        try:
            subscriptions.subscription_set_status(
                subscription=subscription,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
            messages.success(request, "Status changed.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, "Choose a status.")
    return redirect(subscription)


@login_required
@require_POST
def subscription_change(request, pk):
    subscription = _changeable_subscription(request, pk)
    form = SubscriptionChangeForm(request.POST)
    if form.is_valid():
        try:
            subscriptions.subscription_change(
                subscription=subscription,
                mrr=form.cleaned_data["mrr"],
                seats=form.cleaned_data["seats"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
            messages.success(request, "Subscription changed.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"Not changed: {errors}")
    return redirect(subscription)


# Renewals --------------------------------------------------------------------------------------


@login_required
@require_GET
def renewals(request):
    _revenue_user(request)
    months = selectors.renewals_by_month(user=request.user)
    return render(request, "retention/renewals.html", {"months": months})


# Usage -----------------------------------------------------------------------------------------


@login_required
def usage_import(request):
    """Managers and admins upload usage CSVs; each bad row is reported, good rows are kept."""
    if not may_manage(request.user):
        raise Http404
    result = None
    form = UsageImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            result = usage.usage_import_csv(file=form.cleaned_data["file"])
        else:
            status = 400
    return render(
        request, "retention/usage_import.html", {"form": form, "result": result}, status=status
    )


def _bad_request(reason: str, **extra) -> JsonResponse:
    return JsonResponse({"error": reason, **extra}, status=400)


@token_endpoint(
    check=usage.integration_token_check,
    realm="usage",
    denied_status=401,
    denied_message="A valid integration token is required.",
)
def usage_api(request, token):
    """``POST /api/usage/`` with ``Authorization: Bearer <token>`` and a JSON body: one event,
    a list of events, or ``{"events": [...]}``. All or nothing: 201 with the count, or 400 with
    each bad event's reasons."""
    try:
        payload = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _bad_request(f"The body is not valid JSON: {exc}")
    if isinstance(payload, dict) and "events" in payload:
        payload = payload["events"]
    events = payload if isinstance(payload, list) else [payload]
    if not events:
        return _bad_request("No events given.")
    if len(events) > usage.MAX_EVENTS_PER_REQUEST:
        return _bad_request(f"At most {usage.MAX_EVENTS_PER_REQUEST} events per request.")
    accounts = usage.Accounts([e for e in events if isinstance(e, dict)])
    good, errors = [], []
    for index, event in enumerate(events):
        values, event_errors = usage.parse_event(event, accounts)
        if event_errors:
            errors.append({"index": index, "errors": event_errors})
        else:
            good.append(values)
    if errors:
        return _bad_request("Some events are invalid; none were stored.", events=errors)
    usage.usage_events_record(events=good, source="api", token=token)
    return JsonResponse({"accepted": len(good)}, status=201)


# Risk and churn --------------------------------------------------------------------------------


class AtRiskListView(FilteredListView):
    filterset_class = RiskEpisodeFilterSet
    title = "Accounts at risk"
    row_template = "retention/rows/risk_episode.html"
    columns = [
        Column("Account", sort="account"),
        Column("Why"),
        Column("Health", sort="score", css="text-end"),
        Column("Trend", css="text-end"),
        Column("Owner"),
        Column("Since", sort="opened"),
        Column("Playbook"),
        Column(""),
    ]
    sorts = {
        "account": ("account__name", "id"),
        "score": ("opened_score", "id"),
        "opened": ("opened_at", "id"),
    }
    default_sort = "-opened"

    def base_queryset(self):
        return (
            RiskEpisode.objects.visible_to(self.request.user)
            .open()
            .select_related("account", "account__owner", "account__health")
        )


class ChurnListView(FilteredListView):
    filterset_class = ChurnEventFilterSet
    title = "Churn"
    row_template = "retention/rows/churn_event.html"
    columns = [
        Column("Account"),
        Column("Date", sort="date"),
        Column("Reason"),
        Column("Lost MRR", sort="lost", css="text-end"),
        Column("Win-back"),
    ]
    sorts = {"date": ("date", "id"), "lost": ("lost_mrr", "id")}
    default_sort = "-date"

    def base_queryset(self):
        return ChurnEvent.objects.visible_to(self.request.user).select_related("account")


@login_required
def churn_record(request, account_pk):
    """Record that an account churned (its paying subscriptions churn in the ledger)."""
    _revenue_user(request)
    account = get_object_or_404(Account.objects.changeable_by(request.user), pk=account_pk)
    form = ChurnForm(request.POST or None, initial={"date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            risk.churn_record(
                account=account,
                reason=form.cleaned_data["reason"],
                on=form.cleaned_data["date"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Churn of {account} recorded.")
            return HttpResponseRedirect(account.get_absolute_url())
    return render(
        request,
        "retention/churn_form.html",
        {"form": form, "account": account},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def churn_winback(request, pk):
    _revenue_user(request)
    event = get_object_or_404(ChurnEvent.objects.visible_to(request.user), pk=pk)
    try:
        enrolled = risk.churn_winback_start(churn_event=event, user=request.user)
        messages.success(request, f"Win-back started: {enrolled} contact(s) enrolled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("retention:churn_list")


# Upsell ----------------------------------------------------------------------------------------


class RecommendationListView(FilteredListView):
    filterset_class = RecommendationFilterSet
    title = "Upsell and cross-sell"
    row_template = "retention/rows/recommendation.html"
    columns = [
        Column("Account"),
        Column("Product"),
        Column("Why"),
        Column("Strength", sort="strength", css="text-end"),
        Column("Status"),
        Column(""),
    ]
    sorts = {"strength": ("strength", "id"), "created": ("created_at", "id")}
    default_sort = "-strength"

    def base_queryset(self):
        return Recommendation.objects.visible_to(self.request.user).select_related("account")


@login_required
@require_POST
def recommendation_take(request, pk):
    recommendation = get_object_or_404(Recommendation.objects.changeable_by(request.user), pk=pk)
    try:
        opportunity = upsell.recommendation_take(recommendation=recommendation, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("retention:upsell")
    messages.success(request, f"Expansion deal opened: {opportunity}")
    return redirect(opportunity)


@login_required
@require_POST
def recommendation_dismiss(request, pk):
    recommendation = get_object_or_404(Recommendation.objects.changeable_by(request.user), pk=pk)
    upsell.recommendation_dismiss(recommendation=recommendation, user=request.user)
    messages.success(request, "Recommendation dismissed.")
    return redirect(request.POST.get("next") or "retention:upsell")


# NPS -------------------------------------------------------------------------------------------


@login_required
def nps(request):
    """NPS by month, account, industry or size; managers and admins start survey runs, to a
    contact segment or to the contacts of paying accounts."""
    if not request.user.has_any_role:
        raise Http404
    may_run = may_manage(request.user)
    form = NpsRunForm(user=request.user) if may_run else None
    if request.method == "POST":
        if not may_run:
            raise Http404
        chosen = request.POST.get("segment", "")
        if chosen.isdigit() and not segments_usable_by(request.user).filter(pk=chosen).exists():
            raise Http404  # another user's private segment: its existence is not disclosed
        form = NpsRunForm(request.POST, user=request.user)
        if form.is_valid():
            from retention.services import nps as nps_services
            from retention.tasks import nps_run_send

            name = form.cleaned_data["name"].strip() or f"NPS {timezone.localdate()}"
            run = nps_services.nps_run_create(
                name=name, user=request.user, segment=form.cleaned_data["segment"]
            )
            transaction.on_commit(lambda: nps_run_send.delay(run.pk))
            messages.success(request, f"“{run.name}” is being sent.")
            return redirect("retention:nps")
    group = request.GET.get("group", "month")
    if group not in selectors.NPS_GROUPS:
        group = "month"
    rows = selectors.nps_summary(user=request.user, group=group)
    runs = (
        NpsRun.objects.select_related("segment").order_by("-created_at", "-id")[:RUNS_SHOWN]
        if may_run
        else []
    )
    return render(
        request,
        "retention/nps.html",
        {
            "rows": rows,
            "group": group,
            "groups": list(selectors.NPS_GROUPS),
            "may_run": may_run,
            "form": form,
            "runs": runs,
        },
        status=400 if form is not None and form.is_bound else 200,
    )


RUNS_SHOWN = 5


# Advocacy --------------------------------------------------------------------------------------


@login_required
@require_GET
def advocacy(request):
    if not request.user.has_any_role:
        raise Http404
    visible = Advocate.objects.visible_to(request.user).select_related("contact", "account")
    return render(
        request,
        "retention/advocacy.html",
        {
            "leaderboard": advocacy_services.leaderboard(user=request.user),
            "candidates": list(visible.filter(status="candidate").order_by("-created_at")[:20]),
            "references": list(visible.filter(is_reference=True).order_by("account__name")[:50]),
            "testimonials": list(
                TestimonialRequest.objects.filter(advocate__in=visible)
                .select_related("advocate__contact", "advocate__account")
                .order_by("-requested_at")[:20]
            ),
        },
    )


@login_required
def advocate_detail(request, pk):
    advocate = get_object_or_404(
        Advocate.objects.visible_to(request.user).select_related("contact", "account"), pk=pk
    )
    can_change = Advocate.objects.changeable_by(request.user).filter(pk=pk).exists()
    if request.method == "POST":
        if not can_change:
            raise Http404
        action = request.POST.get("action")
        try:
            if action == "request":
                advocacy_services.testimonial_request(
                    advocate=advocate, kind=request.POST.get("kind", ""), user=request.user
                )
            elif action == "record":
                item = get_object_or_404(
                    advocate.testimonial_requests, pk=request.POST.get("request")
                )
                advocacy_services.testimonial_record(
                    request=item,
                    quote=request.POST.get("quote", ""),
                    permission_to_publish=bool(request.POST.get("permission_to_publish")),
                    status=request.POST.get("status", ""),
                    user=request.user,
                )
            elif action == "reference":
                advocacy_services.advocate_set_reference(
                    advocate=advocate,
                    is_reference=request.POST.get("is_reference") == "1",
                    user=request.user,
                )
            elif action == "paid":
                referral = get_object_or_404(advocate.referrals, pk=request.POST.get("referral"))
                advocacy_services.referral_reward_paid(referral=referral, user=request.user)
            else:
                raise ValidationError("Unknown action.")
            messages.success(request, "Saved.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect(advocate)
    return render(
        request,
        "retention/advocate_detail.html",
        {
            "advocate": advocate,
            "can_change": can_change,
            "referral_url": advocacy_services.referral_url(advocate),
            "referrals": list(
                advocate.referrals.select_related("lead").order_by("-created_at")[:50]
            ),
            "requests": list(advocate.testimonial_requests.order_by("-requested_at")),
            "statuses": TestimonialStatus.choices,
        },
    )


@csrf_exempt
def referral(request, code):
    """``/r/<code>/``: the web-to-lead form on the advocate's link; the lead it makes is
    attributed to them. Public, so: honeypot, leads' rate limit, CSRF-exempt like leads' form."""
    from leads.forms import WebToLeadForm
    from leads.views.public import rate_limited

    advocate = advocacy_services.advocate_for_code(code)
    if advocate is None:
        return render(request, "retention/referral_invalid.html", status=404)
    request.session["referral_code"] = code
    form = WebToLeadForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if rate_limited(request, f"referral-{code}"):
            return render(request, "retention/referral_invalid.html", status=429)
        if form.is_valid():
            if not form.cleaned_data["website_url"]:
                advocacy_services.referral_lead_capture(advocate=advocate, data=form.cleaned_data)
            return render(request, "retention/referral_thanks.html", {"advocate": advocate})
        status = 400
    return render(
        request, "retention/referral_form.html", {"form": form, "advocate": advocate}, status=status
    )
