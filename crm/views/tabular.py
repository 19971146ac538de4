"""Import pages of every record kind: upload, map and dry run, run with a progress bar, the
report of rows not imported. (Exports are answered by the list pages, ``crm.views.lists``.)"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import registry
from crm.choices import TabularImportStatus
from crm.csvfiles import csv_response
from crm.models import TabularImportJob
from crm.selectors import record_get
from crm.tabular import imports
from crm.tabular.files import read_headers
from crm.tabular.forms import TabularMappingForm, TabularUploadForm
from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once


def _kind(request, name):
    kind = registry.tabular.get(name)
    if kind is None or not kind.may_import(request.user):
        raise Http404
    return kind


def _job(request, pk) -> TabularImportJob:
    job = record_get(TabularImportJob.objects.visible_to(request.user), pk)
    _kind(request, job.kind)
    return job


@login_required
@submitted_once
def tabular_import_start(request, kind):
    kind = _kind(request, kind)
    form = TabularUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = imports.tabular_import_create(
                user=request.user,
                kind=kind,
                upload=form.cleaned_data["file"],
                mode=form.cleaned_data["mode"],
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            return HttpResponseRedirect(job.get_absolute_url())
    jobs = TabularImportJob.objects.visible_to(request.user).filter(kind=kind.name)[:20]
    return render(
        request,
        "crm/tabular_import_start.html",
        {
            "kind": kind,
            "form": form,
            "jobs": jobs,
            "columns": imports.mappable_columns(kind, request.user),
            "list_url": reverse(kind.list_url),
        },
    )


@login_required
@submitted_once
def tabular_import_detail(request, pk):
    """Before the run: the mapping, the mode and the dry run. During and after: progress."""
    job = _job(request, pk)
    kind = imports.kind_of(job)
    if job.status != TabularImportStatus.UPLOADED:
        return render(request, "crm/tabular_import_progress.html", {"job": job, "kind": kind})
    headers = read_headers(job)
    form = TabularMappingForm(
        request.POST or None,
        headers=headers,
        columns=imports.mappable_columns(kind, request.user),
        initial_mapping=job.mapping,
        initial={"mode": job.mode},
    )
    if request.method == "POST" and form.is_valid():
        imports.tabular_import_map(job=job, mapping=form.mapping(), mode=form.cleaned_data["mode"])
        if "run" in request.POST:
            imports.tabular_import_queue(job)
            return HttpResponseRedirect(job.get_absolute_url())
    result = imports.dry_run(job)
    return render(
        request,
        "crm/tabular_import_mapping.html",
        {"job": job, "kind": kind, "form": form, "result": result},
    )


@login_required
def tabular_import_progress(request, pk):
    job = _job(request, pk)
    template = (
        "crm/_tabular_import_progress.html"
        if is_htmx(request)
        else "crm/tabular_import_progress.html"
    )
    return render(request, template, {"job": job, "kind": imports.kind_of(job)})


@login_required
@require_POST
@submitted_once
def tabular_import_resume(request, pk):
    job = _job(request, pk)
    if imports.tabular_import_resume(job):
        messages.info(request, "The import continues after the last committed row.")
    return HttpResponseRedirect(job.get_absolute_url())


@login_required
def tabular_import_errors(request, pk):
    job = _job(request, pk)
    return csv_response(imports.error_report(job), filename=f"import-{job.pk}-errors.csv")
