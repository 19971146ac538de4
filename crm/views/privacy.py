"""A person's data: the export (a ZIP) and the erasure (admins, confirmed, with a reason)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from crm.forms import PersonEraseForm
from crm.registry import personal_data
from crm.selectors import record_get, scoped
from crm.services.personal_data import (
    ErasureError,
    person_erase,
    person_erase_preview,
    person_export,
)
from crm.views.people import admin_only


def _subject(request, label: str, pk):
    """The person record, if the user may change it (else 404, whether it exists or not)."""
    model = personal_data.subject_model(label)
    if model is None:
        raise Http404
    return record_get(scoped(model, user=request.user, for_change=True), pk)


@login_required
@require_GET
def person_data_export(request, label, pk):
    """Everything held on the person as a ZIP: ``person.json`` and a CSV per kind. For users
    who may change the record (its owner, their managers, admins): the file holds data of
    every stage, beyond what the user sees elsewhere, as a subject access request needs."""
    record = _subject(request, label, pk)
    archive, name = person_export(record=record, user=request.user, request=request)
    response = FileResponse(
        archive, as_attachment=True, filename=name, content_type="application/zip"
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def person_erase_view(request, label, pk):
    """The confirmation page of an erasure, and the erasure: admins only (404 for others)."""
    admin_only(request)
    record = _subject(request, label, pk)
    expected = str(record)
    form = PersonEraseForm(request.POST or None, expected=expected)
    if request.method == "POST" and form.is_valid():
        try:
            erasure = person_erase(
                record=record,
                user=request.user,
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ErasureError as error:
            form.add_error("reason", str(error))
        else:
            messages.success(request, f"Erased: the person's records now read “{erasure.label}”.")
            return redirect(record.get_absolute_url())
    return render(
        request,
        "crm/person_erase.html",
        {
            "object": record,
            "expected": expected,
            "form": form,
            "preview": person_erase_preview(record=record),
        },
    )
