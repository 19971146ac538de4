"""Nurturing sequence pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm.models import Activity
from crm.segments.selectors import segments_usable_by
from leads.forms import SegmentEnrolForm
from leads.models import Enrollment, Sequence
from leads.selectors import sequence_ab_tests
from leads.services.sequences import segment_enrol, sequence_counts, sequences_counts

ENROLLMENTS_SHOWN = 50
HISTORY_SHOWN = 10


@login_required
def sequence_list(request):
    if not (request.user.is_sales_rep or request.user.is_manager or request.user.is_admin_role):
        raise Http404
    sequences = list(Sequence.objects.visible_to(request.user).order_by("name")[:100])
    counts = sequences_counts([s.pk for s in sequences])
    rows = [(sequence, counts[sequence.pk]) for sequence in sequences]
    return render(request, "leads/sequence_list.html", {"rows": rows})


@login_required
def sequence_detail(request, pk, segment_form=None):
    sequence = get_object_or_404(Sequence.objects.visible_to(request.user), pk=pk)
    enrollments = (
        Enrollment.objects.visible_to(request.user)
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
            "ab_tests": sequence_ab_tests(sequence=sequence),
            "history": Activity.objects.for_object(sequence).order_by("-occurred_at", "-id")[
                :HISTORY_SHOWN
            ],
        },
    )


@login_required
@require_POST
def sequence_enrol_segment(request, pk):
    """Enrol a lead segment's members (those the user may see) and say what happened."""
    sequence = get_object_or_404(
        Sequence.objects.visible_to(request.user).filter(is_active=True), pk=pk
    )
    chosen = request.POST.get("segment", "")
    if chosen.isdigit() and not segments_usable_by(request.user).filter(pk=chosen).exists():
        raise Http404  # another user's private segment: its existence is not disclosed
    form = SegmentEnrolForm(request.POST, user=request.user)
    if not form.is_valid():
        return sequence_detail(request, pk, segment_form=form)
    segment = form.cleaned_data["segment"]
    result = segment_enrol(segment=segment, sequence=sequence, user=request.user)
    skipped = [
        (result.already, "already enrolled"),
        (result.no_consent, "without consent or unsubscribed"),
        (result.closed, "qualified or closed"),
    ]
    reasons = ", ".join(f"{n:,} {why}" for n, why in skipped if n)
    messages.success(
        request,
        f"{result.enrolled:,} of {result.members:,} leads in “{segment}” enrolled"
        + (f"; skipped {reasons}." if reasons else "."),
    )
    return redirect(sequence)
