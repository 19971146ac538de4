"""The exchange-rate page (admins and managers): the dated rates, adding one, uploading a CSV,
deleting one. Everyone else gets 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.currencies import company_currency
from crm.forms import ExchangeRateForm, ExchangeRateUploadForm
from crm.models import ExchangeRate
from crm.permissions import may_manage
from crm.services import currencies as services

PAGE_SIZE = 50


def _check(user):
    if not may_manage(user):
        raise Http404


def _page(request, *, form=None, upload=None, result=None, status=200):
    rates = ExchangeRate.objects.select_related("created_by").order_by("currency", "-valid_from")
    page = Paginator(rates, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "crm/exchange_rates.html",
        {
            "page_obj": page,
            "form": form or ExchangeRateForm(),
            "upload": upload or ExchangeRateUploadForm(),
            "result": result,
            "company_currency": company_currency(),
        },
        status=status,
    )


@login_required
def exchange_rate_list(request):
    _check(request.user)
    if request.method == "POST":
        form = ExchangeRateForm(request.POST)
        if form.is_valid():
            try:
                services.exchange_rate_set(user=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error("currency", error)
            else:
                messages.success(request, "Rate saved.")
                return HttpResponseRedirect(reverse("exchange_rate_list"))
        return _page(request, form=form, status=400)
    return _page(request)


@login_required
@require_POST
def exchange_rate_upload(request):
    _check(request.user)
    upload = ExchangeRateUploadForm(request.POST, request.FILES)
    if not upload.is_valid():
        return _page(request, upload=upload, status=400)
    result = services.exchange_rates_import_csv(
        user=request.user, data=upload.cleaned_data["file"].read(services.MAX_CSV_BYTES + 1)
    )
    return _page(request, result=result)


@login_required
@require_POST
def exchange_rate_delete(request, pk: int):
    _check(request.user)
    rate = get_object_or_404(ExchangeRate, pk=pk)
    services.exchange_rate_delete(user=request.user, rate=rate)
    messages.success(request, f"Rate of {rate.currency} from {rate.valid_from} deleted.")
    return HttpResponseRedirect(reverse("exchange_rate_list"))
