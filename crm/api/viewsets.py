"""``RecordViewSet``: one API resource over an entity's selectors and services.

- Reads take rows from the entity's list selector (``<entity>_list(*, user)``) and one record
  from its get selector (``<entity>_get(*, user, pk, for_change=False)``): the same visibility
  as the pages, and 404 for a record the caller may not see (or, for a write, change).
- Writes are validated by the page's own form (the same field rules, owner choices and
  normalising) and carried out by the entity's service (the same history, signals and emails);
  nothing is saved straight to the model. A PATCH changes only the fields it sends.
- A record's answer carries ``ETag`` (its version, ``crm.views.records.record_version``); a
  PATCH or action sent with ``If-Match`` is refused with 409 and the current values when the
  record changed since.
- A POST sent with ``Idempotency-Key`` is carried out once per user and key
  (``crm.api.idempotency``).
"""

import copy
import datetime as dt

from django import forms
from django.db import transaction
from django.forms.models import model_to_dict
from django.http import Http404
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from crm.api.custom_fields import custom_filter, custom_write, entity_of
from crm.api.exceptions import NON_FIELD, VersionConflict
from crm.api.filters import FilterSetBackend, IndexedOrderingFilter
from crm.api.idempotency import run_once
from crm.custom_fields.forms import PREFIX as CUSTOM_FORM_PREFIX
from crm.db import lock_rows
from crm.permissions import may_sell
from crm.views.records import record_version

SCALARS = (str, int, float)


def etag(obj) -> str:
    return f'"{record_version(obj)}"'


def form_errors(form) -> dict:
    return {
        (NON_FIELD if name == "__all__" else name): [e["message"] for e in errors]
        for name, errors in form.errors.get_json_data().items()
    }


def _type_error(field, value) -> str | None:
    """Why a JSON value cannot be read by the form field ``field`` (None: it can)."""
    if value is None:
        return None
    if isinstance(field, forms.BooleanField | forms.NullBooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, forms.ModelMultipleChoiceField | forms.MultipleChoiceField):
        if isinstance(value, list) and all(
            isinstance(v, SCALARS) and not isinstance(v, bool) for v in value
        ):
            return None
        return "Must be a list of ids."
    if isinstance(value, bool) or not isinstance(value, SCALARS):
        return "Must be a single value (a string or a number)."
    return None


def form_data(raw, *, form_class, instance=None) -> tuple[dict, list[str]]:
    """The form data for a JSON body: the record's current values (for a PATCH) overlaid with
    the fields sent; and the names of the fields sent. Values of the wrong JSON type answer 400."""
    if not isinstance(raw, dict):
        raise exceptions.ValidationError({NON_FIELD: ["Send a JSON object."]})
    fields = form_class.base_fields
    if instance is not None:
        data = model_to_dict(instance, fields=list(fields))
    else:  # a new record starts from the form's initial values (the model's defaults)
        data = {
            name: field.initial() if callable(field.initial) else field.initial
            for name, field in fields.items()
            if field.initial is not None
        }
    errors, sent = {}, []
    for name, value in raw.items():
        if name not in fields:
            continue
        problem = _type_error(fields[name], value)
        if problem:
            errors[name] = [problem]
        data[name] = value
        sent.append(name)
    if errors:
        raise exceptions.ValidationError(errors)
    return data, sent


class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read-only resource; set ``form_class`` and the services for writes (see the module's
    docstring)."""

    list_selector = None  # <entity>_list(*, user, for_change=False)
    get_selector = None  # <entity>_get(*, user, pk, for_change=False)
    list_related: tuple[str, ...] = ()  # joins the serializer needs for a list
    filterset_class = None
    filter_backends = [FilterSetBackend, IndexedOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    # Writes: the page's form and the entity's services.
    form_class = None
    create_service = None
    update_service = None
    object_name = ""  # the keyword the update service takes: lead=…, account=…
    http_method_names = ["get", "head", "options"]
    # Any id reaches the selector, which answers 404 for what is not a record's key.
    lookup_value_regex = "[^/]+"

    # Reads ------------------------------------------------------------------------------

    def get_queryset(self):
        queryset = type(self).list_selector(user=self.request.user)
        if self.list_related:
            queryset = queryset.select_related(*self.list_related)
        return queryset

    def get_record(self, *, for_change: bool = False):
        return type(self).get_selector(
            user=self.request.user, pk=self.kwargs["pk"], for_change=for_change
        )

    def get_object(self):
        return self.get_record(for_change=self.request.method not in ("GET", "HEAD", "OPTIONS"))

    def retrieve(self, request, *args, **kwargs):
        return self.record_response(self.get_object())

    def record_response(self, obj, *, status_code=status.HTTP_200_OK) -> Response:
        response = Response(self.get_serializer(obj).data, status=status_code)
        if record_version(obj):
            response["ETag"] = etag(obj)
        return response

    def reread(self, obj):
        """The record as the caller now sees it (joined as for a page); as it is when the
        change took it out of their sight (a lead assigned to someone else)."""
        try:
            return type(self).get_selector(user=self.request.user, pk=obj.pk)
        except Http404:
            return obj

    # Writes -----------------------------------------------------------------------------

    def may_create(self, user) -> bool:
        return may_sell(user)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = custom_filter(
                queryset, self.request.query_params, model=queryset.model, user=self.request.user
            )
        return queryset

    def get_form(self, *, data, instance=None):
        form = self.form_class(data=data, instance=instance, user=self.request.user)
        # Custom fields come as the body's ``custom`` object (``custom_write``), not as the
        # page form's ``cf_<key>`` fields.
        for name in [n for n in form.fields if n.startswith(CUSTOM_FORM_PREFIX)]:
            del form.fields[name]
        return form

    def service_data(self, form, fields) -> dict:
        return {name: form.cleaned_data[name] for name in fields if name in form.cleaned_data}

    def validated(self, *, instance=None):
        """The page's form, filled and valid, and the fields to pass to the service."""
        data, sent = form_data(self.request.data, form_class=self.form_class, instance=instance)
        form = self.get_form(data=data, instance=copy.copy(instance) if instance else None)
        if not form.is_valid():
            raise exceptions.ValidationError(form_errors(form))
        fields = sent if instance is not None else list(form.Meta.fields)
        data = self.service_data(form, fields)
        model = form._meta.model if hasattr(form, "_meta") else None
        if entity_of(model) and (instance is None or "custom" in self.request.data):
            custom = custom_write(
                self.request.data.get("custom"),
                model=model,
                user=self.request.user,
                creating=instance is None,
            )
            if custom:
                data["custom"] = custom
        return form, data

    def locked(self, obj):
        """``obj`` locked for a change and read again, after the ``If-Match`` check (409 with
        the current values when the record changed since the version the client sent)."""
        lock_rows(type(obj), obj.pk)
        current = self.get_record(for_change=True)
        sent = self.request.headers.get("If-Match", "").strip()
        if sent and sent != "*":
            versions = {v.strip().removeprefix("W/").strip('"') for v in sent.split(",")}
            if record_version(current) not in versions:
                raise VersionConflict(
                    current=self.get_serializer(current).data, version=record_version(current)
                )
        return current

    def act(self, *, form_class, action, form_kwargs=None):
        """A POST action on one record the caller may change: the action's form (if any)
        validates the body, ``action(record, cleaned_data)`` calls the service, inside the
        record's lock and after the ``If-Match`` check; the answer is the record as it now is."""
        obj = self.get_record(for_change=True)
        cleaned = {}
        if form_class is not None:
            data, _sent = form_data(self.request.data, form_class=form_class)
            form = form_class(data=data, **(form_kwargs or {}))
            if not form.is_valid():
                raise exceptions.ValidationError(form_errors(form))
            cleaned = form.cleaned_data
        with transaction.atomic():
            current = self.locked(obj)
            result = action(current, cleaned)
        return result if isinstance(result, Response) else self.record_response(self.reread(obj))

    # Idempotency ------------------------------------------------------------------------

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key", "")
        if request.method == "POST" and key:
            handler = self.post if hasattr(self, "post") else None
            if handler is not None:
                self.post = lambda req, *a, **kw: self.with_version(
                    run_once(req, key, lambda: handler(req, *a, **kw))
                )

    def with_version(self, response: Response) -> Response:
        """A replayed answer (the first one, kept with its key) carries the ``ETag`` it had
        then: the version of the record as that body shows it (its ``updated_at``), so an
        ``If-Match`` built on the replay is refused if the record changed since."""
        data = response.data
        if response.has_header("ETag") or not isinstance(data, dict):
            return response
        try:
            updated_at = dt.datetime.fromisoformat(data["updated_at"])
        except (KeyError, TypeError, ValueError):
            return response
        if updated_at.tzinfo is not None:
            response["ETag"] = f'"{updated_at.astimezone(dt.UTC).isoformat()}"'
        return response


class WritableRecordViewSet(RecordViewSet):
    """A resource whose records are created (POST) and changed (PATCH) through the services."""

    http_method_names = ["get", "post", "patch", "head", "options"]

    def create(self, request, *args, **kwargs):
        if not self.may_create(request.user):
            raise exceptions.PermissionDenied("Your role does not create these records.")
        _form, data = self.validated()
        obj = type(self).create_service(user=request.user, **data)
        return self.record_response(self.reread(obj), status_code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_record(for_change=True)
        _form, data = self.validated(instance=obj)
        with transaction.atomic():
            current = self.locked(obj)
            obj = type(self).update_service(
                **{self.object_name: current}, user=request.user, **data
            )
        return self.record_response(self.reread(obj))
