"""CSV import pages: upload, map columns, preview, run with a live progress bar, error report."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from crm.permissions import may_manage
from crm.views.lists import is_htmx
from leads.choices import ImportStatus
from leads.forms import ImportMappingForm, ImportUploadForm
from leads.models import ImportJob
from leads.services import imports


def _job(request, pk) -> ImportJob:
    if not may_manage(request.user):
        raise Http404
    return get_object_or_404(ImportJob.objects.visible_to(request.user), pk=pk)


@login_required
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
    jobs = ImportJob.objects.visible_to(request.user).order_by("-created_at")[:20]
    return render(request, "leads/import_start.html", {"form": form, "jobs": jobs})


@login_required
def import_detail(request, pk):
    """Before the run: the column mapping and a preview. During and after: progress."""
    job = _job(request, pk)
    if job.status != ImportStatus.UPLOADED:
        return render(request, "leads/import_progress.html", {"job": job})
    headers = imports.read_headers(job)
    form = ImportMappingForm(request.POST or None, headers=headers, initial_mapping=job.mapping)
    if request.method == "POST" and form.is_valid():
        job.mapping = form.mapping()
        job.save(update_fields=["mapping"])
        imports.mapping_remember(user=request.user, mapping=job.mapping)
        if "run" in request.POST:
            import_queue(job)
            return HttpResponseRedirect(job.get_absolute_url())
    rows = imports.preview(job)
    mapped = [h for h in headers if job.mapping.get(h)]
    return render(
        request,
        "leads/import_mapping.html",
        {"job": job, "form": form, "rows": rows, "mapped": mapped, "field_of": job.mapping},
    )


def import_queue(job: ImportJob) -> None:
    from leads.tasks import import_run

    updated = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
        status=ImportStatus.QUEUED
    )
    if updated:
        transaction.on_commit(lambda: import_run.delay(job.pk))


@login_required
def import_progress(request, pk):
    """The progress bar (HTMX polls this while the job runs)."""
    job = _job(request, pk)
    template = "leads/_import_progress.html" if is_htmx(request) else "leads/import_progress.html"
    return render(request, template, {"job": job})


@login_required
@require_POST
def import_resume(request, pk):
    """Run a stopped job again from its last committed chunk."""
    job = _job(request, pk)
    if job.status in (ImportStatus.FAILED, ImportStatus.RUNNING, ImportStatus.QUEUED):
        from leads.tasks import import_run

        transaction.on_commit(lambda: import_run.delay(job.pk))
        messages.info(request, "The import continues from the last committed row.")
    return HttpResponseRedirect(job.get_absolute_url())


@login_required
def import_errors(request, pk):
    job = _job(request, pk)
    response = StreamingHttpResponse(imports.errors_csv(job), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response
