"""Home page widgets of the leads stage."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q

from crm import compiled
from crm.views.home import HOME_TASK_LISTS, home_task_lists
from leads.choices import LeadStatus
from leads.selectors import lead_list

#: What the open leads block shows of its best leads (the name, the company, status and score).
BEST_LEAD_FIELDS = ("first_name", "last_name", "company_name", "status", "score")

#: Overdue lead follow-ups the home page lists.
OVERDUE_LEAD_TASKS_SHOWN = 10


def register_home_task_list():
    """The follow-ups' tasks are read with the home page's other task lists, in one query."""
    from leads.models import Lead

    def overdue_about_leads(now):
        return Q(due_at__lt=now, content_type=ContentType.objects.get_for_model(Lead))

    HOME_TASK_LISTS["lead_follow_ups"] = (overdue_about_leads, OVERDUE_LEAD_TASKS_SHOWN)


def overdue_follow_ups(request):
    """Overdue open tasks about leads, assigned to the user (hidden when there are none)."""
    user = request.user
    if not (user.is_sales_rep or user.is_manager):
        return None
    tasks = home_task_lists(request)["lead_follow_ups"]
    return {"tasks": tasks} if tasks else None


def open_lead_counts(request):
    """The open leads a rep owns (a manager's team's), how many in each status: the block's
    figures, kept for a minute (``HomeWidget.figures``)."""
    user = request.user
    if not (user.is_sales_rep or user.is_manager):
        return None
    by_status = dict(
        lead_list(user=user)
        .open()
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts = [(label, by_status.get(value, 0)) for value, label in LeadStatus.choices]
    return {"counts": [(label, n) for label, n in counts if n], "total": sum(by_status.values())}


def open_leads(request, counts):
    """The open leads a rep owns (a manager's team's): how many in each status (``counts``, from
    ``open_lead_counts``), and the best scored ones to work next."""
    if counts is None:
        return None
    return {
        **counts,
        "best": compiled.rows(
            ("home-best-leads",),
            lambda: (
                lead_list(user=request.user)
                .open()
                .only(*BEST_LEAD_FIELDS)
                .order_by("-score", "-id")[:5]
            ),
            user=request.user,
        ),
    }
