"""Nurturing sequence pages."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from leads.models import Enrollment, Sequence
from leads.services.sequences import sequence_counts, sequences_counts

ENROLLMENTS_SHOWN = 50


@login_required
def sequence_list(request):
    if not (request.user.is_sales_rep or request.user.is_manager or request.user.is_admin_role):
        raise Http404
    sequences = list(Sequence.objects.visible_to(request.user).order_by("name")[:100])
    counts = sequences_counts([s.pk for s in sequences])
    rows = [(sequence, counts[sequence.pk]) for sequence in sequences]
    return render(request, "leads/sequence_list.html", {"rows": rows})


@login_required
def sequence_detail(request, pk):
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
        },
    )
