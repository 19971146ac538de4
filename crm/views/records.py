"""Shared pieces of record pages: the detail page with timeline, tasks and registered panels,
and create/edit/delete views. Each takes its record from the entity's selector
(``<entity>_get(*, user, pk, for_change=False)``, see ``crm.selectors``): visible for the page,
changeable for edit and delete, 404 otherwise."""

import contextlib
import copy
import threading

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpResponseRedirect
from django.template.response import SimpleTemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView, FormView, TemplateView

from crm import compiled, registry
from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.forms import ActivityForm, TaskForm
from crm.links import record_url_maker
from crm.models import Activity, ComposedEmail, MailLink, Task
from crm.permissions import may_sell
from crm.prepared import prepared
from crm.selectors import meetings_about, meetings_of_record, scoped
from crm.services.trash import trash_may_delete
from crm.tables import timeline_entry_lines
from crm.views import safe_next
from crm.views.submissions import SubmittedOnceMixin

TIMELINE_LENGTH = 20
#: What a timeline entry shows: its own columns and its author's name (not the whole user row).
TIMELINE_FIELDS = (
    *("kind", "summary", "body", "occurred_at", "content_type", "object_id", "actor"),
    *("actor__first_name", "actor__last_name", "actor__username", "composed_email"),
)


#: The stored message an Email entry opens (one read from a mailbox, or the Sent copy of one
#: written here), in the timeline's query: the same SQL on every page, so written once rather
#: than built as a ``Subquery`` of querysets for each.
_ENTRY_MESSAGE = (
    f'SELECT "message_id" FROM "{MailLink._meta.db_table}" '  # noqa: S608 - names, no input
    f'WHERE "activity_id" = "{Activity._meta.db_table}"."id" LIMIT 1'
)


def timeline_entries(obj, *, before=None, user=None) -> list[Activity]:
    """The newest timeline entries of ``obj`` (one more than a page, to tell whether there are
    older ones), in one query: each Email entry written from the CRM with its email
    (``entry.composed``, to show whether it is scheduled, sent, opened or failed), an Email
    entry stored from a mailbox with the link to its message (``entry.mail_url``). The query is
    compiled once for the request's ``user`` (``crm.compiled``)."""
    content_type = ContentType.objects.get_for_model(obj)

    def build(pk, before=None):
        entries = (
            Activity.objects.filter(content_type=content_type, object_id=pk)
            .select_related("actor", "composed_email__outbox")
            .only(*TIMELINE_FIELDS)
            .annotate(
                mail_message_id=RawSQL(_ENTRY_MESSAGE, (), output_field=models.BigIntegerField())
            )
        )
        if before is not None:
            entries = entries.filter(occurred_at__lt=before)
        return entries.order_by("-occurred_at", "-id")[: TIMELINE_LENGTH + 1]

    name = ("timeline", content_type.pk, before is not None)
    values = {"pk": obj.pk} if before is None else {"pk": obj.pk, "before": before}
    entries = compiled.rows(name, build, user=user, **values)
    mail_url = record_url_maker("mail_message_detail")
    for entry in entries:
        entry.composed = None
        if entry.kind == ActivityKind.EMAIL:
            with contextlib.suppress(ComposedEmail.DoesNotExist):  # not written from the CRM
                entry.composed = entry.composed_email
            if entry.mail_message_id is not None:
                entry.mail_url = mail_url(entry.mail_message_id)
        entry.head, entry.tail = timeline_entry_lines(entry)
    return entries


def timeline_probes(request, model, *, now=None) -> dict:
    """Whether the record ``OuterRef("pk")`` of ``model`` has timeline entries, open tasks and
    upcoming meetings (those ending after ``now``) the user sees: the record page reads them with
    its panels' probes and skips the queries of what is empty (``timeline_context``'s
    ``present``)."""
    content_type = ContentType.objects.get_for_model(model)
    about = {"content_type": content_type, "object_id": models.OuterRef("pk")}
    probes = {
        "_timeline": models.Exists(Activity.objects.filter(**about)),
        "_open_tasks": models.Exists(Task.objects.filter(**about).open()),
    }
    if registry.meeting_subjects.for_model(model) is not None:
        probes["_meetings"] = models.Exists(
            meetings_about(
                user=request.user, model=model, object_id=models.OuterRef("pk")
            ).upcoming(now)
        )
    return probes


def timeline_context(request, obj, *, before=None, present=None) -> dict:
    """Newest-first timeline entries and the open tasks of ``obj``, with the inline forms.
    ``present`` (``timeline_probes`` read for ``obj``) names what is empty, not to be read."""
    present = present or {}
    entries = (
        timeline_entries(obj, before=before, user=request.user)
        if present.get("_timeline", True)
        else []
    )
    return {
        "compose_kind": registry.compose_targets.kind_for(type(obj)),
        "object": obj,
        "timeline_label": obj._meta.label_lower,
        "timeline": entries[:TIMELINE_LENGTH],
        "timeline_more": entries[TIMELINE_LENGTH - 1].occurred_at
        if len(entries) > TIMELINE_LENGTH
        else None,
        "open_tasks": Task.objects.for_object(obj).open().select_related("assignee")[:50]
        if present.get("_open_tasks", True)
        else [],
        **blank_inline_forms(),
        **_meetings_context(request, obj, present=present.get("_meetings", True)),
    }


_blank = threading.local()


def blank_inline_forms() -> dict:
    """A record page's inline forms (log an activity, add a task), blank. Each thread makes them
    once and reuses them: a blank form is only rendered, field by field through
    ``as_blank_crispy_field``, which keeps each field's markup, and making the two took 0.5 ms of
    every record page. A form sent back with its errors is a new, bound one
    (``crm.views.timeline``), put in their place."""
    forms = getattr(_blank, "forms", None)
    if forms is None:
        forms = _blank.forms = {
            "activity_form": ActivityForm(prefix="activity"),
            "task_form": TaskForm(prefix="task", user=None),  # the user only cleans a sent form
        }
    return forms


def _meetings_context(request, obj, *, present=True) -> dict:
    """The record's upcoming meetings and its "Schedule meeting" button, for the kinds of record
    meetings are about (``crm.registry.meeting_subjects``)."""
    if registry.meeting_subjects.for_model(type(obj)) is None:
        return {}
    return {
        "meeting_subject": True,
        "record_meetings": meetings_of_record(user=request.user, obj=obj) if present else [],
    }


class RecordDetailView(LoginRequiredMixin, DetailView):
    """A record's page: its fields (the template), timeline, tasks and registered panels."""

    #: The entity's ``<entity>_get``, which takes ``probes=`` (``crm.selectors.record_get``): the
    #: page's probes are read with the record.
    selector = None

    def get(self, request, *args, **kwargs):
        # Every query of the page is keyed by the record: prepared per connection, rendering's
        # too (crm.prepared).
        with prepared():
            response = super().get(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
            return response

    def get_object(self, queryset=None):
        registered = registry.detail_panels.for_model(self.model)
        record = type(self).selector(
            user=self.request.user,
            pk=self.kwargs["pk"],
            probes=(
                ("record-probes", type(self)),
                lambda now: self.all_probes(registered, now=now),
            ),
        )
        self.probed = record.probed
        return record

    def can_change(self) -> bool:
        """Whether the user may change the record (read with the page's probes)."""
        probed = getattr(self, "probed", {})
        if "_changeable" in probed:
            return probed["_changeable"]
        return (
            scoped(self.model, user=self.request.user, for_change=True)
            .filter(pk=self.object.pk)
            .exists()
        )

    def probes(self) -> dict:
        """Figures about the record the page shows (expressions over ``OuterRef("pk")``, e.g. a
        count), read in the one query of the panels' probes into ``self.probed``."""
        return {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        registered = registry.detail_panels.for_model(self.model)
        context.update(timeline_context(self.request, self.object, present=self.probed))
        panels = []
        for index, panel in enumerate(registered):
            probed = self.probed.get(f"_panel_{index}", True)
            if not probed:  # the probe found nothing: the panel's queries would find nothing either
                panel_context = panel.empty(self.request, self.object) if panel.empty else None
            elif panel.from_probe is not None and f"_panel_{index}" in self.probed:
                panel_context = panel.from_probe(self.request, self.object, probed)
            else:
                panel_context = panel.context(self.request, self.object)
            if panel_context is not None:
                panels.append((panel, panel_context))
        context["panels"] = panels
        context["can_change"] = self.can_change()
        return context

    def all_probes(self, registered, *, now) -> dict:
        """The page's own probes, the timeline's, whether the user may change the record and
        each registered panel's (``_panel_<index>``), as of ``now``."""
        probes = {**self.probes(), **timeline_probes(self.request, self.model, now=now)}
        if type(self).can_change is RecordDetailView.can_change:
            changeable = scoped(self.model, user=self.request.user, for_change=True)
            probes["_changeable"] = models.Exists(changeable.filter(pk=models.OuterRef("pk")))
        for index, panel in enumerate(registered):
            expression = panel.probe(self.request) if panel.probe else None
            if expression is not None:
                probes[f"_panel_{index}"] = expression
        return probes


#: The hidden field of an edit form that carries the version (``updated_at``) the user opened.
VERSION_FIELD = "_version"


def record_version(obj) -> str:
    updated_at = getattr(obj, "updated_at", None)
    return updated_at.isoformat() if updated_at else ""


def _plain(value):
    """A form or model value in a comparable form (records by key, many by sorted keys)."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set | models.QuerySet):
        return sorted(_plain(v) for v in value)
    return value


class RecordFormView(SubmittedOnceMixin, LoginRequiredMixin, FormView):
    """Create (no pk) or edit (pk, limited to ``changeable_by``) a record through a service.

    Edits are checked against concurrent ones (optimistic locking): the form carries the
    version the user opened; when the record has changed since and the form would overwrite a
    changed value, nothing is saved and the form comes back naming who changed what, with
    both values, and the current version, so a second Save keeps the user's values on purpose.
    A form that sends the values already stored (a double submit) saves nothing and succeeds;
    a form sent again with its key (a double click on Create) is carried out once
    (``SubmittedOnceMixin``)."""

    model = None
    selector = None  # the entity's ``<entity>_get``
    form_class = None
    template_name = "crm/form.html"
    create_service = None
    update_service = None
    object_name = ""  # keyword the update/delete services take: account=…, contact=…
    conflict_version = ""  # set when the form comes back with a concurrent change

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
        if getattr(form, "custom_definitions", None):
            data["custom"] = form.custom_values()
        try:
            if self.object is None:
                obj = type(self).create_service(user=self.request.user, **data)
                messages.success(self.request, f"{obj} was created.")
                self.saved(obj)
                return HttpResponseRedirect(obj.get_absolute_url())
            with transaction.atomic():
                lock_rows(self.model, self.object.pk)
                current = type(self).selector(
                    user=self.request.user, pk=self.object.pk, for_change=True
                )
                seen = self.request.POST.get(VERSION_FIELD, "")
                if seen and seen != record_version(current):
                    conflicts = self._conflicts(current, data)
                    if not conflicts:  # the stored values already: a double submit
                        return HttpResponseRedirect(current.get_absolute_url())
                    self.object, self.conflict_version = current, record_version(current)
                    form.add_error(None, self._conflict_message(current, conflicts))
                    return self.form_invalid(form)
                obj = type(self).update_service(
                    **{self.object_name: current}, user=self.request.user, **data
                )
            messages.success(self.request, f"{obj} was saved.")
            self.saved(obj)
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        return HttpResponseRedirect(obj.get_absolute_url())

    def saved(self, obj) -> None:
        """After ``obj`` was created or changed (a view adds what the user should hear)."""

    def _conflicts(self, current, data) -> list[tuple[str, str, str]]:
        """(field label, the form's value, the stored value) of every field the form would
        change."""
        conflicts = []
        for name, value in data.items():
            if name == "custom":
                conflicts.extend(_custom_conflicts(current, value))
                continue
            field = self.model._meta.get_field(name)
            stored = field.value_from_object(current)
            if _plain(value) != _plain(stored):
                theirs = getattr(current, name) if field.is_relation else stored
                conflicts.append((str(field.verbose_name), _shown(value), _shown(theirs)))
        return conflicts

    def _conflict_message(self, current, conflicts) -> str:
        last = (
            Activity.objects.for_object(current)
            .filter(actor__isnull=False)
            .select_related("actor")
            .order_by("-occurred_at", "-id")
            .first()
        )
        who = f"{last.actor}" if last else "someone else"
        when = timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M")
        changes = "; ".join(
            f"{label}: yours “{yours}”, now “{theirs}”" for label, yours, theirs in conflicts
        )
        return (
            f"This {self.model._meta.verbose_name} was changed by {who} at {when} since you "
            f"opened it, and nothing was saved. {changes}. Save again to keep your values."
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context["verbose_name"] = self.model._meta.verbose_name
        # The version the user is editing: the one they opened, until a conflict shows them
        # the current one.
        context["record_version"] = self.conflict_version or (
            self.request.POST.get(VERSION_FIELD)
            if self.request.method == "POST"
            else record_version(self.object)
        )
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else safe_next(self.request, "/")
        )
        return context


def _custom_conflicts(current, values: dict) -> list[tuple[str, str, str]]:
    """The custom fields a form would change on ``current``, as (label, yours, stored)."""
    from crm.custom_fields.definitions import fields_by_key
    from crm.custom_fields.registry import custom_field_entities
    from crm.custom_fields.values import display

    entity = custom_field_entities.for_model(type(current))
    stored = current.custom or {}
    changed = [key for key, value in values.items() if value != stored.get(key)]
    if not changed or entity is None:
        return []
    fields = fields_by_key(entity.key)
    return [
        (
            fields[key].label,
            display(fields[key], values[key]) or "—",
            display(fields[key], stored.get(key)) or "—",
        )
        for key in changed
        if key in fields
    ]


class RecordDeleteView(SubmittedOnceMixin, LoginRequiredMixin, TemplateView):
    """Delete a record (into the trash, for a kind registered in ``crm.registry.trash``): a
    record outside the user's reach, or whose kind's rule does not let them delete it, answers
    404."""

    model = None
    selector = None  # the entity's ``<entity>_get``
    template_name = "crm/confirm_delete.html"
    delete_service = None
    object_name = ""
    success_url_name = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.object = type(self).selector(user=request.user, pk=kwargs["pk"], for_change=True)
            if self.to_trash() and not trash_may_delete(user=request.user, obj=self.object):
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def to_trash(self) -> bool:
        return registry.trash.for_model(self.model) is not None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context["verbose_name"] = self.model._meta.verbose_name
        context["to_trash"] = self.to_trash()
        context["retention_days"] = settings.TRASH_RETENTION_DAYS
        return context

    def post(self, request, *args, **kwargs):
        name = str(self.object)
        try:
            type(self).delete_service(**{self.object_name: self.object}, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(self.object.get_absolute_url())
        if self.to_trash():
            messages.success(
                request,
                f"{name} was moved to the trash; it can be restored for "
                f"{settings.TRASH_RETENTION_DAYS} days.",
            )
        else:
            messages.success(request, f"{name} was deleted.")
        return HttpResponseRedirect(reverse(self.success_url_name))


def _shown(value) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list | tuple | set | models.QuerySet):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)
