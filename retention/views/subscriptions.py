"""Subscriptions: the list, a subscription's page, create/edit, status and MRR changes."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.permissions import may_sell
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDetailView, RecordFormView
from crm.views.submissions import submitted_once
from retention import selectors
from retention.filtersets import SubscriptionFilterSet
from retention.forms import (
    SubscriptionChangeForm,
    SubscriptionCreateForm,
    SubscriptionEditForm,
    SubscriptionStatusForm,
)
from retention.models import Subscription
from retention.services import subscriptions


class SubscriptionListView(FilteredListView):
    list_selector = selectors.subscription_list
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"
    empty_noun = "subscriptions"
    record_kind = "subscriptions"
    bulk_kind = "subscriptions"
    row_template = "retention/rows/subscription.html"
    custom_entity = "subscription"
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
        return super().base_queryset().select_related("account", "owner")

    def can_create(self):
        return may_sell(self.request.user)


class SubscriptionDetailView(RecordDetailView):
    model = Subscription
    selector = selectors.subscription_get
    template_name = "retention/subscription_detail.html"

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
    selector = selectors.subscription_get
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
        initial.setdefault("currency", settings.DEFAULT_CURRENCY)
        return initial


def _subscription_write(
    request, pk, *, form_class, service, done: str, invalid
) -> HttpResponseRedirect:
    """A posted form of a subscription's page, given to ``service`` with the subscription (one
    the user may change, else 404); back to the page with a message either way."""
    subscription = selectors.subscription_get(user=request.user, pk=pk, for_change=True)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, invalid(form))
        return redirect(subscription)
    try:
        service(subscription=subscription, user=request.user, **form.cleaned_data)
        messages.success(request, done)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(subscription)


@login_required
@require_POST
@submitted_once
def subscription_status(request, pk):
    return _subscription_write(
        request,
        pk,
        form_class=SubscriptionStatusForm,
        service=subscriptions.subscription_set_status,
        done="Status changed.",
        invalid=lambda form: "Choose a status.",
    )


@login_required
@require_POST
@submitted_once
def subscription_change(request, pk):
    return _subscription_write(
        request,
        pk,
        form_class=SubscriptionChangeForm,
        service=subscriptions.subscription_change,
        done="Subscription changed.",
        invalid=lambda form: (
            "Not changed: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        ),
    )
