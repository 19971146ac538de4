"""Field history pages: a record's History page (and restoring a field from it), and every
change for admins with filters and a CSV export."""

import datetime as dt

from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crm import registry
from crm.csvfiles import csv_response
from crm.history import Source
from crm.history_display import describe, event_model_of, events_page
from crm.models import User
from crm.models.history import FieldEvent
from crm.permissions import may_read_all_history
from crm.selectors import record_get, scoped
from crm.services.history import field_restore
from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once

#: Rows on a record's History page, and on the admins' page.
PER_PAGE = 25
ADMIN_PER_PAGE = 50
#: The deepest page either answers (each page reads the rows before it from every table).
MAX_PAGE = 200
#: The admins' page counts matching changes up to this, then says "more than".
COUNT_LIMIT = 10_000
#: Rows in one CSV export of the admins' page (newest first).
EXPORT_LIMIT = 10_000


def _page_number(request) -> int:
    text = request.GET.get("page", "1")
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    return 1


def _record(request, label, pk, *, for_change=False):
    entry = registry.history.entry_for(label)
    if entry is None:
        raise Http404
    obj = record_get(scoped(entry.model, user=request.user, for_change=for_change), pk)
    return entry, obj


def _record_sources(entry, obj):
    event_model = event_model_of(entry.model)
    sources = [(event_model, event_model.objects.filter(pgh_obj_id=obj.pk))]
    for model, foreign_key in entry.related:
        related_events = event_model_of(model)
        sources.append(
            (related_events, related_events.objects.filter(**{f"{foreign_key}_id": obj.pk}))
        )
    return sources


@login_required
@require_GET
def record_history(request, label, pk):
    """A record's changes, newest first (404 for a record the user may not see)."""
    entry, obj = _record(request, label, pk)
    can_restore = (
        entry.restore is not None
        and scoped(entry.model, user=request.user, for_change=True).filter(pk=obj.pk).exists()
    )
    page = _page_number(request)
    rows, has_more = events_page(_record_sources(entry, obj), page=page, per_page=PER_PAGE)
    rows = describe(
        rows,
        user=request.user,
        request=request,
        restorable={entry.model: entry.restorable},
        can_restore=can_restore,
    )
    context = {
        "object": obj,
        "entry": entry,
        "verbose_name": entry.model._meta.verbose_name,
        "rows": rows,
        "page": page,
        "has_more": has_more and page < MAX_PAGE,
        "can_restore": can_restore,
    }
    template = "crm/_history_rows.html" if is_htmx(request) else "crm/history.html"
    return render(request, template, context)


class RestoreForm(forms.Form):
    event = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    field = forms.CharField(max_length=100)


@login_required
@require_POST
@submitted_once
def record_restore(request, label, pk):
    """Put one field back to the value it had before a change (users who may change it)."""
    entry, obj = _record(request, label, pk, for_change=True)
    back = reverse("record_history", args=[label, obj.pk])
    form = RestoreForm(request.POST)
    if entry.restore is None or not form.is_valid():
        messages.error(request, "Nothing was restored: choose a change on this page.")
        return HttpResponseRedirect(back)
    event = (
        event_model_of(entry.model)
        .objects.filter(pk=form.cleaned_data["event"], pgh_obj_id=obj.pk)
        .first()
    )
    if event is None:
        raise Http404
    field = form.cleaned_data["field"]
    try:
        field_restore(entry=entry, obj=obj, event=event, field=field, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(back)
    label_text = entry.model._meta.get_field(field).verbose_name
    messages.success(request, f"{str(label_text).capitalize()} was restored.")
    return HttpResponseRedirect(back)


def field_event_models() -> list[type[FieldEvent]]:
    """Every history table, records' and roles' alike."""
    return sorted(
        (m for m in apps.get_models() if issubclass(m, FieldEvent)),
        key=lambda m: m._meta.label_lower,
    )


def _kind_label(event_model) -> str:
    if event_model._meta.label_lower == "crm.userroleevent":
        return "Roles"
    return str(event_model.pgh_tracked_model._meta.verbose_name_plural).capitalize()


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, label="Record")
    user = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"), required=False, label="Changed by"
    )
    source = forms.ChoiceField(
        required=False, choices=[("", "Any source"), *Source.LABELS.items()], label="Through"
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Every record")] + [
            (m._meta.label_lower, _kind_label(m)) for m in field_event_models()
        ]

    def sources(self):
        data = self.cleaned_data
        condition = Q()
        if data.get("user"):
            condition &= Q(pgh_context__metadata__user=data["user"].pk)
        if data.get("source") == Source.COMMAND:
            condition &= Q(pgh_context__isnull=True) | Q(
                pgh_context__metadata__source=Source.COMMAND
            )
        elif data.get("source"):
            condition &= Q(pgh_context__metadata__source=data["source"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            start = dt.datetime.combine(data["since"], dt.time.min, tzinfo=zone)
            condition &= Q(pgh_created_at__gte=start)
        if data.get("until") and data["until"] < dt.date.max:
            end = dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time.min, zone)
            condition &= Q(pgh_created_at__lt=end)
        models = field_event_models()
        if data.get("kind"):
            models = [m for m in models if m._meta.label_lower == data["kind"]]
        return [(m, m.objects.filter(condition)) for m in models]


def _admin(request):
    if not may_read_all_history(request.user):
        raise Http404


@login_required
@require_GET
def history_changes(request):
    """Every field change, newest first, filtered (admins only)."""
    _admin(request)
    form = HistoryFilterForm(request.GET)
    valid = form.is_valid()
    sources = form.sources() if valid else []
    if request.GET.get("format") == "csv" and valid:
        return _export(sources, request)
    page = _page_number(request)
    rows, has_more = events_page(sources, page=page, per_page=ADMIN_PER_PAGE)
    rows = describe(rows, user=request.user, request=request)
    _link(rows)
    counted = sum(qs.order_by()[: COUNT_LIMIT + 1].count() for _, qs in sources)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "crm/history_changes.html",
        {
            "form": form,
            "rows": rows,
            "page": page,
            "has_more": has_more and page < MAX_PAGE,
            "count": min(counted, COUNT_LIMIT),
            "count_is_bound": counted > COUNT_LIMIT,
            "query": query.urlencode(),
        },
    )


def _link(rows) -> None:
    for row in rows:
        tracked = row.event_model.pgh_tracked_model
        if row.record_id and hasattr(tracked, "get_absolute_url"):
            row.record_url = tracked(pk=row.record_id).get_absolute_url()


def _export(sources, request):
    rows, _ = events_page(sources, page=1, per_page=EXPORT_LIMIT)
    rows = describe(rows, user=request.user, request=request)

    def lines():
        yield ["when", "record", "record id", "what", "user", "source", "field", "old", "new"]
        for row in rows:
            base = [
                timezone.localtime(row.at).strftime("%Y-%m-%d %H:%M:%S"),
                row.record_label,
                row.record_id or "",
                row.kind_label,
                str(row.user) if row.user else "",
                row.source_label,
            ]
            for change in row.changes or [None]:
                yield base + ([change.label, change.old, change.new] if change else ["", "", ""])

    stamp = timezone.localdate().isoformat()
    return csv_response(lines(), filename=f"field-history-{stamp}.csv")
