"""Upsell and cross-sell: open recommendations, taking one (an expansion deal) or dismissing it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.views import safe_next
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once
from retention import selectors
from retention.filtersets import RecommendationFilterSet
from retention.services import upsell


class RecommendationListView(FilteredListView):
    list_selector = selectors.recommendation_list
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
        return super().base_queryset().select_related("account")


@login_required
@require_POST
@submitted_once
def recommendation_take(request, pk):
    recommendation = selectors.recommendation_get(user=request.user, pk=pk, for_change=True)
    try:
        opportunity = upsell.recommendation_take(recommendation=recommendation, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("retention:upsell")
    messages.success(request, f"Expansion deal opened: {opportunity}")
    return redirect(opportunity)


@login_required
@require_POST
@submitted_once
def recommendation_dismiss(request, pk):
    recommendation = selectors.recommendation_get(user=request.user, pk=pk, for_change=True)
    upsell.recommendation_dismiss(recommendation=recommendation, user=request.user)
    messages.success(request, "Recommendation dismissed.")
    return HttpResponseRedirect(safe_next(request, reverse("retention:upsell")))
