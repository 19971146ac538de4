"""Home page widgets of the leads stage."""

from django.db.models import Count

from leads.choices import LeadStatus
from leads.selectors import lead_list, overdue_lead_tasks


def overdue_follow_ups(request):
    user = request.user
    if not (user.is_sales_rep or user.is_manager):
        return None
    tasks = overdue_lead_tasks(user=user)
    return {"tasks": tasks} if tasks else None


def open_leads(request):
    """The open leads a rep owns (a manager's team's): how many in each status, and the best
    scored ones to work next."""
    user = request.user
    if not (user.is_sales_rep or user.is_manager):
        return None
    leads = lead_list(user=user).open()
    by_status = dict(
        leads.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    counts = [(label, by_status.get(value, 0)) for value, label in LeadStatus.choices]
    return {
        "counts": [(label, n) for label, n in counts if n],
        "total": sum(by_status.values()),
        "best": list(leads.order_by("-score", "-id")[:5]),
    }
