"""One change to the tickets ticked on a list page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.permissions import may_work_tickets
from crm.views import safe_next
from crm.views.lists import stale_message
from crm.views.submissions import submitted_once
from support.forms import BulkForm
from support.services import tickets as ticket_services


@login_required
@require_POST
@submitted_once
def ticket_bulk(request):
    """Assign, unassign, set status or priority of the ticked tickets (those the user may
    change: the service takes them from ``support.selectors.ticket_list``)."""
    if not may_work_tickets(request.user):
        raise Http404
    form = BulkForm(request.POST)
    back = safe_next(request, reverse("support:ticket_list"))
    if not form.is_valid():
        messages.error(request, "Nothing was changed: " + form.errors.as_text())
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    action = data["action"]
    result = ticket_services.ticket_bulk_update(
        user=request.user,
        ticket_ids=data["tickets"],
        assignee=data["assignee"] if action == "assign" else None,
        unassign=action == "unassign",
        status=data["status"] if action == "status" else None,
        priority=data["priority"] if action == "priority" else None,
        unchanged_since=data["seen_at"],
    )
    messages.success(request, f"{result['changed']} ticket(s) changed.")
    if result["stale"]:
        messages.warning(request, stale_message(result["stale"], "ticket"))
    for error in result["errors"][:10]:
        messages.error(request, error)
    return HttpResponseRedirect(back)
