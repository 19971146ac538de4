"""Renewals: paying subscriptions renewing per month, and the value at risk."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.currencies import company_currency
from crm.permissions import may_sell
from retention import selectors


@login_required
@require_GET
def renewals(request):
    if not may_sell(request.user):
        raise Http404
    months = selectors.renewals_by_month(user=request.user)
    totals = selectors.renewal_totals_by_month(user=request.user)
    return render(
        request,
        "retention/renewals.html",
        {"months": months, "totals": totals, "company_currency": company_currency()},
    )
