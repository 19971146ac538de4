"""Onboarding: the board of plans, one plan's page, and ticking off its items."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.permissions import may_sell
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDetailView
from crm.views.submissions import submitted_once
from sales import services
from sales.filtersets import OnboardingFilterSet
from sales.models import OnboardingPlan
from sales.selectors import (
    onboarding_item_get,
    onboarding_items,
    onboarding_items_completable,
    onboarding_plan_get,
    onboarding_plan_list,
    onboarding_with_progress,
)


class OnboardingBoardView(FilteredListView):
    list_selector = onboarding_plan_list
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
        return onboarding_with_progress(
            super().base_queryset().select_related("account", "owner", "opportunity")
        )


class OnboardingDetailView(RecordDetailView):
    model = OnboardingPlan
    selector = onboarding_plan_get
    template_name = "sales/onboarding_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        items = list(onboarding_items(plan=self.object).select_related("assignee"))
        context["items"] = items
        context["items_done"] = sum(1 for t in items if t.done_at)
        context["now"] = timezone.now()
        context["show_deal"] = may_sell(self.request.user)
        context["completable"] = set(
            onboarding_items_completable(
                user=self.request.user, plan=self.object, plan_changeable=context["can_change"]
            ).values_list("pk", flat=True)
        )
        return context


@login_required
@require_POST
@submitted_once
def onboarding_item_done(request, pk, task_pk):
    plan = onboarding_plan_get(user=request.user, pk=pk)
    task = onboarding_item_get(user=request.user, plan=plan, pk=task_pk)
    if services.onboarding_item_complete(plan=plan, task=task, user=request.user):
        messages.success(request, f"Onboarding of {plan.account} is finished: now a customer.")
    return HttpResponseRedirect(plan.get_absolute_url())
