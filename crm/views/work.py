"""The operators' page: background work that failed, may have been sent twice, or is stuck,
per kind of durable work (``crm.registry.work``), each with a safe retry. Admins only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.permissions import may_operate
from crm.registry import work

#: Rows shown per kind; the rest are counted on the kind's own admin list.
PER_KIND = 50


def _operator(request) -> None:
    if not may_operate(request.user):
        raise Http404


def work_sections(limit: int = PER_KIND) -> list[dict]:
    return [{"kind": kind, "problems": kind.call("problems", limit)} for kind in work.kinds()]


@login_required
def work_problems(request):
    _operator(request)
    sections = work_sections()
    return render(
        request,
        "crm/work_problems.html",
        {"sections": sections, "total": sum(len(s["problems"]) for s in sections)},
    )


@login_required
@require_POST
def work_retry(request, kind: str, pk: int):
    _operator(request)
    entry = work.get(kind)
    if entry is None:
        raise Http404
    if entry.call("retry", pk):
        messages.success(request, f"{entry.label}: #{pk} is back in the queue.")
    else:
        messages.info(
            request,
            f"{entry.label}: #{pk} was not retried: it is done, or being worked on right now.",
        )
    return HttpResponseRedirect(reverse("work_problems"))


def work_widget(request):
    """Home page block for admins: are the database, the broker and the background work well,
    and how much background work needs a look."""
    if not may_operate(request.user):
        return None
    from crm.views.health import service_states

    counts = [(s["kind"].label, len(s["problems"])) for s in work_sections(limit=PER_KIND)]
    return {
        "counts": counts,
        "total": sum(n for _, n in counts),
        "limit": PER_KIND,
        "services": service_states(),
    }
