import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.db.models import Q, Value
from django.shortcuts import render
from django.utils import timezone

from crm import compiled, registry
from crm.models import Meeting, Task
from crm.selectors import activity_list
from crm.tables import recent_activity_row, task_row_maker

HOME_LIST_LENGTH = 15

#: How long a block's figures (``HomeWidget.figures``: counts and totals over many records, such
#: as a rep's open leads by status or open pipeline) are kept for a user before they are computed
#: again: the home page shows them up to this old. They are kept in each web process's memory
#: (the "home" cache) and, with ``HOME_FIGURES_SHARED``, in the shared cache too, with the time
#: they were computed: a process that has none takes another's for what is left of the minute.
HOME_FIGURES_SECONDS = 60

logger = logging.getLogger(__name__)

#: More lists of the user's open tasks that home blocks show, read in the same query as the
#: tasks block's two: name -> (condition given the current time, length). Later apps add theirs
#: (leads: the overdue lead follow-ups).
HOME_TASK_LISTS: dict[str, tuple[Callable[[object], Q], int]] = {}


@login_required
def home(request):
    """The user's day, role first: the blocks of what the user's roles work on (a rep's tasks,
    deals and leads, an agent's queue, a manager's team figures, an admin's operations) lead the
    page, the role's other blocks follow; recent activity has the side column."""
    roles = request.user.role_names
    widgets = registry.home_widgets.widgets
    figures = home_figures(request, widgets)
    focus, other, aside = [], [], []
    for widget in widgets:
        if widget.figures is None:
            widget_context = widget.context(request)
        else:
            widget_context = widget.context(request, figures[widget])
        if widget_context is None:
            continue
        column = aside if widget.aside else focus if widget.focus & roles else other
        column.append((widget, widget_context))
    load_subjects(request)
    return render(
        request,
        "crm/home.html",
        {"focus_widgets": focus, "other_widgets": other, "aside_widgets": aside},
    )


def subjects_later(request, instances: list, then: Callable[[], None]) -> None:
    """Read the records ``instances`` (tasks, meetings, activities) are about once every block
    has read its list, for every block at once (``load_subjects``): one query a kind of record,
    where each block's own would read contacts, leads or deals again. ``then()`` runs after,
    to build what shows them."""
    request.__dict__.setdefault("_home_subjects", []).append((instances, then))


def load_subjects(request) -> None:
    """The records the home page's blocks asked for with ``subjects_later``, in one load."""
    pending = request.__dict__.pop("_home_subjects", [])
    if not pending:
        return
    compiled.load_generic(
        [instance for instances, _ in pending for instance in instances],
        "subject",
        user=request.user,
    )
    for _, then in pending:
        then()


def home_figures(request, widgets) -> dict:
    """Each block's figures for the user: kept ones younger than ``HOME_FIGURES_SECONDS``, the
    others computed now (and kept). Keyed by the user and their roles, which decide what they
    see."""
    user = request.user
    roles = ",".join(sorted(user.role_names)).replace(" ", "_")
    keys = {
        widget: f"home:{widget.template}:{user.pk}:{roles}"
        for widget in widgets
        if widget.figures is not None
    }
    if not keys:
        return {}
    kept_figures = caches["home"]
    kept = kept_figures.get_many(list(keys.values()))
    missing = [key for key in keys.values() if key not in kept]
    if missing and settings.HOME_FIGURES_SHARED:
        kept.update(_shared_figures(missing))
    figures, computed = {}, {}
    for widget, key in keys.items():
        if key in kept:
            figures[widget] = kept[key]
        else:
            figures[widget] = computed[key] = widget.figures(request)
    if computed:
        kept_figures.set_many(computed, timeout=HOME_FIGURES_SECONDS)
        if settings.HOME_FIGURES_SHARED:
            now = time.time()
            _shared_call("set_many", {key: (now, value) for key, value in computed.items()})
    return figures


def _shared_figures(keys: list[str]) -> dict:
    """The figures other web processes computed less than ``HOME_FIGURES_SECONDS`` ago, kept in
    this process's memory for what is left of that time."""
    found = {}
    now = time.time()
    for key, (computed_at, value) in (_shared_call("get_many", keys) or {}).items():
        left = HOME_FIGURES_SECONDS - (now - computed_at)
        if left >= 1:
            found[key] = value
            caches["home"].set(key, value, timeout=int(left))
    return found


def _shared_call(method: str, argument):
    """The shared cache's ``method``; a cache that does not answer costs the figures' being
    computed here, never the page."""
    try:
        if method == "set_many":
            return caches["default"].set_many(argument, timeout=HOME_FIGURES_SECONDS)
        return caches["default"].get_many(argument)
    except Exception:  # noqa: BLE001 (any backend's connection error)
        logger.warning("home figures: the shared cache did not answer %s", method, exc_info=True)
        return None


def home_task_lists(request) -> dict[str, list[Task]]:
    """The user's open tasks the home blocks list, each list in due order: "overdue" and
    "due_today" (one more than shown, to tell whether there are more) and those of
    ``HOME_TASK_LISTS``. One query (each list a limited index scan, joined by UNION ALL), made
    once per request whichever block asks first; their records are read with the other blocks'
    (``subjects_later``), before the page renders the rows (``home_row``)."""
    lists = getattr(request, "_home_task_lists", None)
    if lists is not None:
        return lists
    user = request.user
    now = timezone.now()

    def build(now, end_of_day):
        conditions = {
            "overdue": (Q(due_at__lt=now), HOME_LIST_LENGTH + 1),
            "due_today": (Q(due_at__gte=now, due_at__lte=end_of_day), HOME_LIST_LENGTH + 1),
            **{name: (when(now), length) for name, (when, length) in HOME_TASK_LISTS.items()},
        }
        mine = Task.objects.filter(assignee=user, done_at__isnull=True)
        parts = [
            mine.filter(condition).annotate(home_list=Value(name)).order_by("due_at", "id")[:length]
            for name, (condition, length) in conditions.items()
        ]
        return parts[0].union(*parts[1:], all=True)

    lists = {name: [] for name in ("overdue", "due_today", *HOME_TASK_LISTS)}
    tasks = compiled.rows(
        ("home-tasks", *HOME_TASK_LISTS), build, user=user, now=now, end_of_day=_end_of_day(now)
    )
    for task in tasks:
        task.assignee = user  # the user's own tasks: no join for the name
        lists[task.home_list].append(task)
    for tasks in lists.values():
        tasks.sort(key=lambda task: (task.due_at, task.pk))
    # Every list's tasks (a task in two lists is two objects, both get their record).
    every = [task for tasks in lists.values() for task in tasks]

    def rows():
        row = task_row_maker(request, now)
        for task in every:
            task.home_row = row(task)

    subjects_later(request, every, rows)
    request._home_task_lists = lists
    return lists


def tasks_widget(request):
    """The user's overdue and due-today tasks."""
    if not request.user.has_any_role:
        return None
    lists = home_task_lists(request)
    overdue, due_today = lists["overdue"], lists["due_today"]
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

    def build(now, end_of_day):
        return (
            Meeting.objects.involving(user)
            .upcoming(now)
            .filter(starts_at__lte=end_of_day)
            .select_related("organizer")
            .order_by("starts_at", "id")[:HOME_LIST_LENGTH]
        )

    meetings = compiled.rows(
        ("home-meetings",), build, user=user, now=now, end_of_day=_end_of_day(now)
    )
    if not meetings:
        return None
    subjects_later(request, meetings, lambda: None)
    return {"meetings": meetings}


def recent_activity_widget(request):
    """What happened lately on the records the user may see."""
    user = request.user

    def build(since):
        return (
            activity_list(user=user)
            .filter(occurred_at__gte=since)
            .select_related("actor", "content_type")
            .order_by("-occurred_at", "-id")[:HOME_LIST_LENGTH]
        )

    since = timezone.now() - timedelta(days=90)
    entries = compiled.rows(("home-recent",), build, user=user, since=since)
    recent = []
    subjects_later(request, entries, lambda: recent.extend(map(recent_activity_row, entries)))
    return {"recent": recent}


def _end_of_day(now):
    return timezone.localtime(now).replace(hour=23, minute=59, second=59)
