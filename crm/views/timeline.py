"""Inline (HTMX) logging of activities and tasks on any record that carries a timeline."""

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from crm import registry
from crm.filtersets import TaskFilterSet
from crm.forms import ActivityForm, TaskEditForm, TaskForm
from crm.selectors import record_get, scoped, task_get, task_list
from crm.services.timeline import (
    activity_log,
    task_complete,
    task_create,
    task_reopen,
    task_update,
)
from crm.views import safe_next
from crm.views.lists import Column, FilteredListView, is_htmx
from crm.views.records import timeline_context
from crm.views.submissions import submitted_once


def access_subject(request, label: str, pk: int, *, for_change: bool = False):
    """The record behind a timeline URL, if this user may see it (with ``for_change``: change
    it, as writing to its timeline needs); 404 otherwise."""
    model = registry.timeline.model_for(label)
    if model is None:
        raise Http404
    return record_get(scoped(model, user=request.user, for_change=for_change), pk)


def _timeline_response(request, subject, **extra):
    context = timeline_context(request, subject)
    context.update(can_change=True, **extra)
    return render(request, "crm/_timeline_panel.html", context)


@login_required
@require_POST
@submitted_once
def activity_create(request, label, pk):
    subject = access_subject(request, label, pk, for_change=True)
    form = ActivityForm(request.POST, prefix="activity")
    if form.is_valid():
        activity_log(subject=subject, actor=request.user, **form.cleaned_data)
        if not is_htmx(request):
            messages.success(request, "Activity logged.")
            return HttpResponseRedirect(subject.get_absolute_url())
        return _timeline_response(request, subject, logged=True)
    if not is_htmx(request):
        messages.error(request, "The activity was not logged: " + form.errors.as_text())
        return HttpResponseRedirect(subject.get_absolute_url())
    return _timeline_response(request, subject, activity_form=form)


@login_required
@require_POST
@submitted_once
def task_create_view(request, label, pk):
    subject = access_subject(request, label, pk, for_change=True)
    form = TaskForm(request.POST, prefix="task", user=request.user)
    if form.is_valid():
        task_create(subject=subject, created_by=request.user, **form.cleaned_data)
        if not is_htmx(request):
            messages.success(request, "Task added.")
            return HttpResponseRedirect(subject.get_absolute_url())
        return _timeline_response(request, subject, task_added=True)
    if not is_htmx(request):
        messages.error(request, "The task was not added: " + form.errors.as_text())
        return HttpResponseRedirect(subject.get_absolute_url())
    return _timeline_response(request, subject, task_form=form)


@login_required
@require_GET
def timeline_more(request, label, pk):
    """The next page of a timeline, older than ``before``."""
    subject = access_subject(request, label, pk)
    try:
        before = parse_datetime(request.GET.get("before", "") or "")
    except ValueError:  # well formed, but no such time
        before = None
    if before is not None and timezone.is_naive(before):
        before = timezone.make_aware(before)
    context = timeline_context(request, subject, before=before)
    return render(request, "crm/_timeline_entries.html", context)


@login_required
@require_POST
@submitted_once
def task_toggle(request, pk):
    task = task_get(user=request.user, pk=pk, for_change=True)
    if task.done_at is None:
        task = task_complete(task=task, user=request.user)
    else:
        task = task_reopen(task=task)
    if is_htmx(request):
        # A row of the task list keeps its bulk checkbox.
        in_list = request.POST.get("bulk") == "1"
        return render(
            request,
            "crm/_task_row.html",
            {"task": task, "show_subject": True, "bulk": in_list},
        )
    return HttpResponseRedirect(safe_next(request, "/"))


@login_required
def task_edit(request, pk):
    task = task_get(user=request.user, pk=pk, for_change=True)
    form = TaskEditForm(request.POST or None, instance=copy.copy(task), user=request.user)
    if request.method == "POST" and form.is_valid():
        task_update(
            task=task,
            user=request.user,
            **{f: form.cleaned_data[f] for f in TaskEditForm.Meta.fields},
        )
        messages.success(request, "Task saved.")
        return HttpResponseRedirect(task.subject.get_absolute_url() if task.subject else "/tasks/")
    return render(
        request,
        "crm/form.html",
        {"form": form, "object": task, "verbose_name": "task", "cancel_url": "/tasks/"},
    )


class TaskListView(FilteredListView):
    filterset_class = TaskFilterSet
    title = "Tasks"
    empty_noun = "tasks"
    record_kind = "tasks"
    bulk_kind = "tasks"
    row_template = "crm/rows/task.html"
    columns = [
        Column("", css="w-1"),
        Column("Task", sort="title"),
        Column("About"),
        Column("Assignee"),
        Column("Due", sort="due"),
    ]
    sorts = {"title": ("title", "id"), "due": ("due_at", "id")}
    default_sort = "due"

    list_selector = task_list

    def base_queryset(self):
        return super().base_queryset().select_related("assignee").prefetch_related("subject")

    def get_queryset(self):
        queryset = super().get_queryset()
        if "state" not in self.request.GET:
            queryset = queryset.filter(done_at__isnull=True)
        return queryset
