"""The desk's queues: their assignment rule and who is on shift; agents go on or off shift."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm.permissions import may_manage, may_work_tickets
from support import selectors
from support.forms import QueueAssignmentForm
from support.models import QueueAgent
from support.services.queues import queue_agent_set_shift, queue_set_assignment


def _queues_page(request, *, status=200, forms=None):
    queues = list(
        selectors.queue_list(user=request.user)
        .select_related("team")
        .prefetch_related(Prefetch("agents", QueueAgent.objects.select_related("user")))
        .order_by("name")
    )
    may_change = may_manage(request.user)
    forms = forms or {}
    for queue in queues:
        queue.form = forms.get(queue.pk) or (
            QueueAssignmentForm(
                queue=queue,
                initial={
                    "assignment_mode": queue.assignment_mode,
                    "on_shift": [m.user_id for m in queue.agents.all() if m.on_shift],
                },
            )
            if may_change
            else None
        )
        queue.my_membership = next(
            (m for m in queue.agents.all() if m.user_id == request.user.pk), None
        )
    return render(
        request,
        "support/queues.html",
        {"queues": queues, "may_change": may_change},
        status=status,
    )


@login_required
@require_GET
def queue_list(request):
    """The desk's queues: their rule and who is on shift; agents go on or off shift here."""
    if not may_work_tickets(request.user):
        raise Http404
    return _queues_page(request)


@login_required
@require_POST
def queue_assignment(request, pk):
    queue = selectors.queue_get(user=request.user, pk=pk, for_change=True)
    form = QueueAssignmentForm(request.POST, queue=queue)
    if not form.is_valid():
        return _queues_page(request, status=400, forms={queue.pk: form})
    queue_set_assignment(
        queue=queue,
        user=request.user,
        assignment_mode=form.cleaned_data["assignment_mode"],
        on_shift_user_ids=form.cleaned_data["on_shift"],
    )
    messages.success(request, f"{queue} was saved.")
    return HttpResponseRedirect(reverse("support:queue_list"))


@login_required
@require_POST
def queue_shift(request, pk):
    """The signed-in agent goes on (``on_shift=1``) or off shift in one of their queues."""
    membership = selectors.queue_membership_get(user=request.user, queue_pk=pk)
    on_shift = request.POST.get("on_shift") == "1"
    queue_agent_set_shift(membership=membership, user=request.user, on_shift=on_shift)
    messages.success(request, f"You are {'on' if on_shift else 'off'} shift in {membership.queue}.")
    return HttpResponseRedirect(reverse("support:queue_list"))
