"""Nurturing sequence pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from crm.models import Activity
from crm.permissions import may_sell
from crm.segments.selectors import segments_usable_by
from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once
from leads import selectors
from leads.forms import SegmentEnrolForm
from leads.services.segment_enrolments import segment_enrolment_queue
from leads.services.segment_enrolments import segment_enrolment_resume as enrolment_resume
from leads.services.sequences import sequence_counts, sequences_counts

ENROLLMENTS_SHOWN = 50
HISTORY_SHOWN = 10
SEGMENT_ENROLMENTS_SHOWN = 5


@login_required
def sequence_list(request):
    if not may_sell(request.user):
        raise Http404
    sequences = list(selectors.sequence_list(user=request.user).order_by("name")[:100])
    counts = sequences_counts([s.pk for s in sequences])
    rows = [(sequence, counts[sequence.pk]) for sequence in sequences]
    return render(request, "leads/sequence_list.html", {"rows": rows})


@login_required
def sequence_detail(request, pk, segment_form=None):
    sequence = selectors.sequence_get(user=request.user, pk=pk)
    enrollments = (
        selectors.enrollment_list(user=request.user)
        .filter(sequence=sequence)
        .select_related("lead", "lead__owner")
        .order_by("-created_at", "-id")[:ENROLLMENTS_SHOWN]
    )
    return render(
        request,
        "leads/sequence_detail.html",
        {
            "object": sequence,
            "steps": sequence.steps.order_by("position"),
            "counts": sequence_counts(sequence),
            "enrollments": enrollments,
            "segment_form": segment_form or SegmentEnrolForm(user=request.user),
            "segment_enrolments": selectors.segment_enrolment_list(user=request.user)
            .filter(sequence=sequence)
            .select_related("created_by")
            .order_by("-created_at", "-id")[:SEGMENT_ENROLMENTS_SHOWN],
            "ab_tests": selectors.sequence_ab_tests(sequence=sequence),
            "history": Activity.objects.for_object(sequence).order_by("-occurred_at", "-id")[
                :HISTORY_SHOWN
            ],
        },
    )


@login_required
@require_POST
@submitted_once
def sequence_enrol_segment(request, pk):
    """Queue the enrolment of a lead segment's members (those the user may see) and show its
    progress."""
    sequence = selectors.sequence_get(user=request.user, pk=pk, active_only=True)
    chosen = request.POST.get("segment", "")
    if chosen.isdigit() and not segments_usable_by(request.user).filter(pk=chosen).exists():
        raise Http404  # another user's private segment: its existence is not disclosed
    form = SegmentEnrolForm(request.POST, user=request.user)
    if not form.is_valid():
        return sequence_detail(request, pk, segment_form=form)
    job = segment_enrolment_queue(
        segment=form.cleaned_data["segment"], sequence=sequence, user=request.user
    )
    return redirect(job)


@login_required
def segment_enrolment_detail(request, pk):
    """The job's progress; HTMX polls its partial while it is queued or running."""
    job = selectors.segment_enrolment_get(user=request.user, pk=pk)
    if is_htmx(request):
        return render(request, "leads/_segment_enrolment.html", {"job": job})
    return render(request, "leads/segment_enrolment.html", {"job": job, "object": job.sequence})


@login_required
@require_POST
@submitted_once
def segment_enrolment_resume(request, pk):
    """Run a failed job again from its last committed chunk."""
    job = selectors.segment_enrolment_get(user=request.user, pk=pk)
    if enrolment_resume(job=job):
        messages.info(request, "The enrolment continues from the last committed chunk.")
    return redirect(job)
