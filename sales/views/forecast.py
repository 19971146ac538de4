"""The forecast: each rep's won, committed and weighted pipeline against quota, and setting
quotas."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from crm.permissions import may_manage
from sales import services
from sales.choices import PeriodKind
from sales.forms import QuotaForm
from sales.selectors import forecast_reps, quota_attainment_list, sales_forecast
from sales.views.common import require_deals


@login_required
@require_http_methods(["GET", "POST"])
def forecast(request):
    require_deals(request.user)
    today = timezone.localdate()
    year_raw = request.GET.get("year", "")
    year = int(year_raw) if year_raw.isdigit() and 2000 <= int(year_raw) <= 2100 else today.year
    granularity = request.GET.get("by", PeriodKind.MONTH)
    if granularity not in PeriodKind.values:
        granularity = PeriodKind.MONTH
    rep_raw = request.GET.get("rep", "")
    rep_ids = [int(rep_raw)] if rep_raw.isdigit() else None
    all_reps = forecast_reps(request.user)
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
    data = sales_forecast(user=request.user, year=year, granularity=granularity, rep_ids=rep_ids)
    attainments = quota_attainment_list(
        user=request.user, year=year, rep_ids=[rep.pk for rep in data.reps]
    )
    return render(
        request,
        "sales/forecast.html",
        {
            "forecast": data,
            "attainments": attainments,
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
