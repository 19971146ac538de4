"""CSV import pages: upload, map columns, preview, run with a live progress bar, error report."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from crm.csvfiles import csv_response
from crm.permissions import may_manage
from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once
from leads.choices import ImportStatus
from leads.forms import ImportMappingForm, ImportUploadForm
from leads.models import ImportJob
from leads.selectors import import_job_get, import_job_list
from leads.services import imports


def _job(request, pk) -> ImportJob:
    if not may_manage(request.user):
        raise Http404
    return import_job_get(user=request.user, pk=pk)


@login_required
@submitted_once
def import_start(request):
    if not may_manage(request.user):
        raise Http404
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = imports.import_job_create(
                user=request.user,
                upload=form.cleaned_data["file"],
                policy=form.cleaned_data["policy"],
                owner=form.cleaned_data["owner"],
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            return HttpResponseRedirect(job.get_absolute_url())
    jobs = import_job_list(user=request.user).order_by("-created_at")[:20]
    return render(request, "leads/import_start.html", {"form": form, "jobs": jobs})


@login_required
@submitted_once
def import_detail(request, pk):
    """Before the run: the column mapping and a preview. During and after: progress."""
    job = _job(request, pk)
    if job.status != ImportStatus.UPLOADED:
        return render(request, "leads/import_progress.html", {"job": job})
    headers = imports.read_headers(job)
    form = ImportMappingForm(request.POST or None, headers=headers, initial_mapping=job.mapping)
    if request.method == "POST" and form.is_valid():
        imports.import_job_map(job=job, mapping=form.mapping(), user=request.user)
        if "run" in request.POST:
            imports.import_job_queue(job)
            return HttpResponseRedirect(job.get_absolute_url())
    rows = imports.preview(job)
    mapped = [h for h in headers if job.mapping.get(h)]
    return render(
        request,
        "leads/import_mapping.html",
        {"job": job, "form": form, "rows": rows, "mapped": mapped, "field_of": job.mapping},
    )


@login_required
def import_progress(request, pk):
    """The progress bar (HTMX polls this while the job runs)."""
    job = _job(request, pk)
    template = "leads/_import_progress.html" if is_htmx(request) else "leads/import_progress.html"
    return render(request, template, {"job": job})


@login_required
@require_POST
@submitted_once
def import_resume(request, pk):
    """Run a stopped job again from its last committed chunk."""
    job = _job(request, pk)
    if imports.import_job_resume(job):
        messages.info(request, "The import continues from the last committed row.")
    return HttpResponseRedirect(job.get_absolute_url())


@login_required
def import_errors(request, pk):
    job = _job(request, pk)
    return csv_response(imports.error_report(job), filename=f"import-{job.pk}-errors.csv")
