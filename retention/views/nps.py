"""NPS: scores by month, account, industry or size, and starting survey runs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from crm.permissions import has_role, may_manage
from crm.segments.selectors import segments_usable_by
from crm.views.submissions import submitted_once
from retention import selectors
from retention.forms import NpsRunForm
from retention.services import nps as nps_services

RUNS_SHOWN = 5


@login_required
@submitted_once
def nps(request):
    """NPS by month, account, industry or size; managers and admins start survey runs, to a
    contact segment or to the contacts of paying accounts."""
    if not has_role(request.user):
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
            run = nps_services.nps_run_start(
                name=form.cleaned_data["name"],
                user=request.user,
                segment=form.cleaned_data["segment"],
            )
            messages.success(request, f"“{run.name}” is being sent.")
            return redirect("retention:nps")
    group = request.GET.get("group", "month")
    if group not in selectors.NPS_GROUPS:
        group = "month"
    rows = selectors.nps_summary(user=request.user, group=group)
    runs = (
        selectors.nps_run_list(user=request.user)
        .select_related("segment")
        .order_by("-created_at", "-id")[:RUNS_SHOWN]
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
