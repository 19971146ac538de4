"""Shared pieces of record pages: the detail page with timeline, tasks and registered panels,
and create/edit/delete views. Each takes its record from the entity's selector
(``<entity>_get(*, user, pk, for_change=False)``, see ``crm.selectors``): visible for the page,
changeable for edit and delete, 404 otherwise."""

import copy

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.views.generic import DetailView, FormView, TemplateView

from crm import registry
from crm.forms import ActivityForm, TaskForm
from crm.models import Activity, Task
from crm.permissions import may_sell
from crm.selectors import scoped

TIMELINE_LENGTH = 20


def timeline_context(request, obj, *, before=None) -> dict:
    """Newest-first timeline entries and the open tasks of ``obj``, with the inline forms."""
    entries = Activity.objects.for_object(obj).select_related("actor")
    if before:
        entries = entries.filter(occurred_at__lt=before)
    entries = list(entries.order_by("-occurred_at", "-id")[: TIMELINE_LENGTH + 1])
    return {
        "object": obj,
        "timeline_label": obj._meta.label_lower,
        "timeline": entries[:TIMELINE_LENGTH],
        "timeline_more": entries[TIMELINE_LENGTH - 1].occurred_at
        if len(entries) > TIMELINE_LENGTH
        else None,
        "open_tasks": Task.objects.for_object(obj).open().select_related("assignee")[:50],
        "activity_form": ActivityForm(prefix="activity"),
        "task_form": TaskForm(prefix="task", user=request.user),
    }


class RecordDetailView(LoginRequiredMixin, DetailView):
    """A record's page: its fields (the template), timeline, tasks and registered panels."""

    selector = None  # the entity's ``<entity>_get``

    def get_object(self, queryset=None):
        return type(self).selector(user=self.request.user, pk=self.kwargs["pk"])

    def can_change(self) -> bool:
        return (
            scoped(self.model, user=self.request.user, for_change=True)
            .filter(pk=self.object.pk)
            .exists()
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(timeline_context(self.request, self.object))
        panels = []
        for panel in registry.detail_panels.for_model(self.model):
            panel_context = panel.context(self.request, self.object)
            if panel_context is not None:
                panels.append((panel, panel_context))
        context["panels"] = panels
        context["can_change"] = self.can_change()
        return context


class RecordFormView(LoginRequiredMixin, FormView):
    """Create (no pk) or edit (pk, limited to ``changeable_by``) a record through a service."""

    model = None
    selector = None  # the entity's ``<entity>_get``
    form_class = None
    template_name = "crm/form.html"
    create_service = None
    update_service = None
    object_name = ""  # keyword the update/delete services take: account=…, contact=…

    def dispatch(self, request, *args, **kwargs):
        self.object = None
        if "pk" in kwargs and request.user.is_authenticated:
            self.object = type(self).selector(user=request.user, pk=kwargs["pk"], for_change=True)
        elif request.user.is_authenticated and not self.may_create(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def may_create(self, user) -> bool:
        return may_sell(user)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        # The form validates against a copy: ModelForm writes cleaned values onto its instance,
        # and the update service must still see the stored values to know what changed.
        kwargs["instance"] = copy.copy(self.object) if self.object else None
        return kwargs

    def form_valid(self, form):
        data = {f: form.cleaned_data[f] for f in form.Meta.fields}
        try:
            if self.object is None:
                obj = type(self).create_service(user=self.request.user, **data)
                messages.success(self.request, f"{obj} was created.")
            else:
                obj = type(self).update_service(
                    **{self.object_name: self.object}, user=self.request.user, **data
                )
                messages.success(self.request, f"{obj} was saved.")
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        return HttpResponseRedirect(obj.get_absolute_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context["verbose_name"] = self.model._meta.verbose_name
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else self.request.GET.get("next", "/")
        )
        return context


class RecordDeleteView(LoginRequiredMixin, TemplateView):
    model = None
    selector = None  # the entity's ``<entity>_get``
    template_name = "crm/confirm_delete.html"
    delete_service = None
    object_name = ""
    success_url_name = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.object = type(self).selector(user=request.user, pk=kwargs["pk"], for_change=True)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context["verbose_name"] = self.model._meta.verbose_name
        return context

    def post(self, request, *args, **kwargs):
        from django.urls import reverse

        name = str(self.object)
        type(self).delete_service(**{self.object_name: self.object}, user=request.user)
        messages.success(request, f"{name} was deleted.")
        return HttpResponseRedirect(reverse(self.success_url_name))
