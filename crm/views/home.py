from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.shortcuts import render
from django.utils import timezone

from crm import registry
from crm.models import Meeting, Task
from crm.selectors import activity_list

HOME_LIST_LENGTH = 15


@login_required
def home(request):
    """The user's day, role first: the blocks of what the user's roles work on (a rep's tasks,
    deals and leads, an agent's queue, a manager's team figures, an admin's operations) lead the
    page, the role's other blocks follow; recent activity has the side column."""
    roles = request.user.role_names
    focus, other, aside = [], [], []
    for widget in registry.home_widgets.widgets:
        widget_context = widget.context(request)
        if widget_context is None:
            continue
        column = aside if widget.aside else focus if widget.focus & roles else other
        column.append((widget, widget_context))
    return render(
        request,
        "crm/home.html",
        {"focus_widgets": focus, "other_widgets": other, "aside_widgets": aside},
    )


def tasks_widget(request):
    """The user's overdue and due-today tasks."""
    user = request.user
    if not user.has_any_role:
        return None
    now = timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    mine = Task.objects.filter(assignee=user, done_at__isnull=True).select_related("assignee")
    overdue = list(mine.filter(due_at__lt=now).order_by("due_at", "id")[: HOME_LIST_LENGTH + 1])
    due_today = list(
        mine.filter(due_at__gte=now, due_at__lte=end_of_day).order_by("due_at", "id")[
            : HOME_LIST_LENGTH + 1
        ]
    )
    # One prefetch for both lists: a query per kind of record, not per list and kind.
    prefetch_related_objects([*overdue, *due_today], "subject")
    return {
        "overdue": overdue[:HOME_LIST_LENGTH],
        "more_overdue": len(overdue) > HOME_LIST_LENGTH,
        "due_today": due_today[:HOME_LIST_LENGTH],
        "more_due_today": len(due_today) > HOME_LIST_LENGTH,
    }


def todays_meetings_widget(request):
    """The user's meetings today that have not ended yet (hidden on a day without any)."""
    user = request.user
    if not user.has_any_role:
        return None
    now = timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    meetings = list(
        Meeting.objects.involving(user)
        .upcoming(now)
        .filter(starts_at__lte=end_of_day)
        .select_related("organizer")
        .order_by("starts_at", "id")[:HOME_LIST_LENGTH]
    )
    if not meetings:
        return None
    prefetch_related_objects(meetings, "subject")
    return {"meetings": meetings}


def recent_activity_widget(request):
    """What happened lately on the records the user may see."""
    now = timezone.now()
    return {
        "recent": list(
            activity_list(user=request.user)
            .filter(occurred_at__gte=now - timedelta(days=90))
            .select_related("actor", "content_type")
            .prefetch_related("subject")
            .order_by("-occurred_at", "-id")[:HOME_LIST_LENGTH]
        )
    }
