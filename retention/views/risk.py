"""Risk and churn: accounts at risk, churn events, recording a churn, starting a win-back."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.permissions import may_sell
from crm.selectors import account_get
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once
from retention import selectors
from retention.filtersets import ChurnEventFilterSet, RiskEpisodeFilterSet
from retention.forms import ChurnForm
from retention.services import risk


class AtRiskListView(FilteredListView):
    list_selector = selectors.risk_episode_list
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
            super()
            .base_queryset()
            .open()
            .select_related("account", "account__owner", "account__health")
        )


class ChurnListView(FilteredListView):
    list_selector = selectors.churn_event_list
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
        return super().base_queryset().select_related("account")


@login_required
@submitted_once
def churn_record(request, account_pk):
    """Record that an account churned (its paying subscriptions churn in the ledger)."""
    if not may_sell(request.user):
        raise Http404
    account = account_get(user=request.user, pk=account_pk, for_change=True)
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
@submitted_once
def churn_winback(request, pk):
    if not may_sell(request.user):
        raise Http404
    event = selectors.churn_event_get(user=request.user, pk=pk)
    try:
        enrolled = risk.churn_winback_start(churn_event=event, user=request.user)
        messages.success(request, f"Win-back started: {enrolled} contact(s) enrolled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("retention:churn_list")
