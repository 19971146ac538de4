"""Product usage in: the CSV import page and the token-authenticated usage API."""

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render

from crm.machine import token_endpoint
from crm.permissions import may_manage
from crm.views.submissions import submission_done, submitted_once
from retention.forms import UsageImportForm
from retention.services import usage


@login_required
@submitted_once
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
            if result.created:
                submission_done(request)
        else:
            status = 400
    return render(
        request, "retention/usage_import.html", {"form": form, "result": result}, status=status
    )


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
        return JsonResponse({"error": f"The body is not valid JSON: {exc}"}, status=400)
    result = usage.usage_api_receive(payload=payload, token=token)
    if result.error:
        body = {"error": result.error, **({"events": result.events} if result.events else {})}
        return JsonResponse(body, status=400)
    return JsonResponse({"accepted": result.accepted}, status=201)
