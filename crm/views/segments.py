"""Segments: the list, the builder (create/edit with HTMX rows, live count and preview), CSV
export of the members and deletion.

Builder fragments (a condition row, a group, a fresh tree) are rendered from the registry; the
count and preview endpoints compile whatever the form holds right now and never answer 500:
a definition that does not check out comes back as its list of problems.
"""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.csvfiles import csv_response
from crm.filtersets import SearchFilterSet
from crm.models import Segment, SegmentSizeSnapshot
from crm.replica import reads_may_lag
from crm.segments import services
from crm.segments.choices import SegmentTarget
from crm.segments.definition import MAX_DEPTH, definition_unusable
from crm.segments.forms import (
    ROOT,
    UID,
    SegmentForm,
    definition_from_post,
    new_uid,
    tree_for_definition,
)
from crm.segments.registry import Kind, segment_criteria
from crm.segments.selectors import segment_count, segment_queryset
from crm.selectors import segment_get, segment_list
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDeleteView
from crm.views.submissions import submitted_once

PREVIEW_ROWS = 50


def _count_timeout_ms() -> int:
    return getattr(settings, "SEGMENT_COUNT_TIMEOUT_MS", 10_000)


HISTORY_DAYS = 90
EXPORT_CHUNK = 2000


# ------------------------------------------------------------------------------------------
# List
# ------------------------------------------------------------------------------------------


class SegmentFilterSet(SearchFilterSet):
    search_fields = ("name", "description")
    target = django_filters.ChoiceFilter(
        choices=SegmentTarget.choices, empty_label="Any kind", label="Holds"
    )
    whose = django_filters.ChoiceFilter(
        choices=[("mine", "Mine"), ("others", "Others' shared")],
        method="filter_whose",
        empty_label="Anyone's",
        label="Whose",
    )

    class Meta:
        model = Segment
        fields = ["q", "target", "whose"]

    def filter_whose(self, queryset, name, value):
        user_id = self.request.user.pk
        if value == "mine":
            return queryset.filter(owner_id=user_id)
        if value == "others":
            return queryset.exclude(owner_id=user_id)
        return queryset


class SegmentListView(FilteredListView):
    filterset_class = SegmentFilterSet
    title = "Segments"
    empty_noun = "segments"
    row_template = "crm/segments/row.html"
    create_url_name = "segment_create"
    columns = [
        Column("Name", sort="name"),
        Column("Holds"),
        Column("Owner"),
        Column("Shared"),
        Column("Size", css="text-end"),
        Column("Updated", sort="updated"),
    ]
    sorts = {"name": ("name", "id"), "updated": ("updated_at", "id")}
    default_sort = "name"

    list_selector = segment_list

    def base_queryset(self):
        latest = SegmentSizeSnapshot.objects.filter(segment=OuterRef("pk")).order_by("-date")
        return (
            super()
            .base_queryset()
            .select_related("owner")
            .annotate(latest_size=Subquery(latest.values("size")[:1]))
        )


# ------------------------------------------------------------------------------------------
# Builder
# ------------------------------------------------------------------------------------------


def _target_or_404(key: str):
    target = segment_criteria.target(key)
    if target is None:
        raise Http404
    return target


def condition_context(target_key: str, node: dict, group_uid: str, cache=None) -> dict:
    """What ``_condition.html`` needs to render one condition row (``cache`` keeps choices
    and the criterion list between the rows of one page)."""
    cache = {} if cache is None else cache
    if "grouped" not in cache:  # once per page: custom fields' criteria are read from the db
        cache["grouped"] = segment_criteria.grouped(target_key, cache=cache)
    # Any criterion of the target, also one the picker does not offer this user (a shared
    # segment they only read), so a stored condition always shows what it is.
    criterion = segment_criteria.criterion(target_key, node.get("criterion") or "", cache=cache)
    values = node.get("value")
    values = [str(v) for v in (values if isinstance(values, list) else [values]) if v is not None]
    context = {
        "uid": node.get("uid") or new_uid(),
        "group_uid": group_uid,
        "target": target_key,
        "grouped_criteria": cache["grouped"],
        "criterion": criterion,
        "values": values,
        "value": values[0] if values else "",
    }
    if criterion is not None:
        operators = criterion.operator_choices()
        chosen = node.get("operator")
        context.update(
            kind=str(criterion.kind),
            operators=operators,
            operator=chosen if chosen in dict(operators) else operators[0][0],
            value_choices=_choices(criterion, cache),
        )
    return context


def _choices(criterion, cache) -> list:
    if criterion.kind not in (Kind.CHOICE, Kind.MULTI_CHOICE):
        return []
    key = ("choices", criterion.key)
    if key not in cache:
        cache[key] = criterion.value_choices()
    return cache[key]


def _picker_cache(target_key: str, user) -> dict:
    """A rendering cache whose criterion picker offers only what ``user`` may use."""
    cache: dict = {}
    cache["grouped"] = segment_criteria.grouped(target_key, user=user, cache=cache)
    return cache


def group_context(target_key: str, group: dict, *, parent: str, depth: int, cache=None) -> dict:
    """What ``_group.html`` needs, recursively: each child is a condition or a group."""
    cache = {} if cache is None else cache
    uid = group.get("uid") or new_uid()
    items = []
    for child in group.get("children", []):
        if "children" in child:
            items.append(
                (
                    "group",
                    group_context(target_key, child, parent=uid, depth=depth + 1, cache=cache),
                )
            )
        else:
            items.append(("condition", condition_context(target_key, child, uid, cache)))
    return {
        "uid": uid,
        "parent": parent,
        "op": group.get("op", "and"),
        "items": items,
        "depth": depth,
        "can_nest": depth < MAX_DEPTH,
        "target": target_key,
    }


def _builder_context(request, *, form, segment, tree, read_only=False) -> dict:
    target_key = form["target"].value() or SegmentTarget.CONTACT
    if segment_criteria.target(target_key) is None:
        target_key = SegmentTarget.CONTACT
    context = {
        "form": form,
        "segment": segment,
        "read_only": read_only,
        "root": group_context(
            target_key, tree, parent="", depth=1, cache=_picker_cache(target_key, request.user)
        ),
        "target_label": segment_criteria.target(target_key).label,
    }
    if segment is not None:
        history = list(
            segment.size_snapshots.filter(
                date__gte=timezone.localdate() - timezone.timedelta(days=HISTORY_DAYS)
            )
            .order_by("date")
            .values("date", "size")
        )
        context["history"] = history
        context["history_chart"] = {
            "labels": [h["date"].isoformat() for h in history],
            "sizes": [h["size"] for h in history],
        }
    return context


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def segment_builder(request, pk=None):
    """Create (no pk) or edit a segment. Others' shared segments open read-only (they can
    count, preview and export them); a segment outside ``visible_to`` is a 404."""
    segment = None
    read_only = False
    if pk is not None:
        segment = segment_get(user=request.user, pk=pk)
        read_only = not segment_list(user=request.user, for_change=True).filter(pk=pk).exists()
        if segment_criteria.target(segment.target) is None:
            # The app that registers this kind of record is not installed (or not yet ready).
            messages.warning(
                request,
                f"Segments of {segment.get_target_display().lower()} cannot be built or "
                "counted on this installation.",
            )
            read_only = True
        if read_only and request.method == "POST":
            raise Http404
    elif not request.user.has_any_role:
        raise Http404

    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid() and (
            unusable := definition_unusable(
                form.cleaned_data["target"], form.cleaned_data["definition"], request.user
            )
        ):
            for label in unusable:
                form.add_error(None, f"“{label}” is not among the criteria your role may use.")
        if form.is_valid():
            data = {
                "name": form.cleaned_data["name"],
                "description": form.cleaned_data["description"],
                "target": form.cleaned_data["target"],
                "definition": form.cleaned_data["definition"],
                "shared": form.cleaned_data["shared"],
            }
            try:
                if segment is None:
                    segment = services.segment_create(user=request.user, **data)
                    messages.success(request, f"Segment “{segment}” was created.")
                else:
                    segment = services.segment_update(segment=segment, user=request.user, **data)
                    messages.success(request, f"Segment “{segment}” was saved.")
                return HttpResponseRedirect(segment.get_absolute_url())
            except ValidationError as exc:
                form.add_error(None, exc)
        tree = form.tree
    elif segment is not None:
        form = SegmentForm(
            initial={
                "name": segment.name,
                "description": segment.description,
                "target": segment.target,
                "shared": segment.shared,
            }
        )
        tree = tree_for_definition(segment.definition)
    else:
        target = request.GET.get("target", SegmentTarget.CONTACT)
        form = SegmentForm(initial={"target": target})
        tree = {"uid": ROOT, "op": "and", "children": [{"uid": new_uid()}]}
    context = _builder_context(request, form=form, segment=segment, tree=tree, read_only=read_only)
    return render(request, "crm/segments/builder.html", context)


def _uid_param(request, name: str, default: str = "") -> str:
    value = request.GET.get(name, default)
    return value if UID.match(value or "") else new_uid()


@login_required
@require_GET
def builder_condition(request):
    """A condition row: blank when added, or with the operator and value inputs of the chosen
    criterion when the criterion select changes."""
    target = _target_or_404(request.GET.get("target", "")).key
    uid = _uid_param(request, "uid")
    node = {"uid": uid, "criterion": request.GET.get(f"cond-{uid}-criterion", "")}
    cond = condition_context(
        target, node, _uid_param(request, "group", ROOT), _picker_cache(target, request.user)
    )
    return render(request, "crm/segments/_condition.html", {"cond": cond})


@login_required
@require_GET
def builder_group(request):
    """A new nested group holding one blank condition."""
    target = _target_or_404(request.GET.get("target", "")).key
    try:
        depth = max(2, min(int(request.GET.get("depth", 2)), MAX_DEPTH))
    except ValueError:
        depth = 2
    group = {"uid": new_uid(), "op": "or", "children": [{"uid": new_uid()}]}
    parent = _uid_param(request, "parent", ROOT)
    cache = _picker_cache(target, request.user)
    context = {"group": group_context(target, group, parent=parent, depth=depth, cache=cache)}
    return render(request, "crm/segments/_group.html", context)


@login_required
@require_GET
def builder_tree(request):
    """A fresh root group for another target (the criteria differ per target)."""
    target = _target_or_404(request.GET.get("target", "")).key
    tree = {"uid": ROOT, "op": "and", "children": [{"uid": new_uid()}]}
    cache = _picker_cache(target, request.user)
    context = {"group": group_context(target, tree, parent="", depth=1, cache=cache)}
    return render(request, "crm/segments/_group.html", context)


def _evaluate(request):
    """The members queryset of the builder's current state, or the list of its problems."""
    target, definition = definition_from_post(request.POST)
    if segment_criteria.target(target) is None:
        return None, target, ["Choose what the segment holds."]
    try:
        queryset = segment_queryset(definition, user=request.user, target=target)
    except ValidationError as exc:
        return None, target, exc.messages
    return queryset, target, []


@login_required
@require_POST
@reads_may_lag
def segment_count_view(request):
    """The live count of the builder's current state (debounced by the page)."""
    target, definition = definition_from_post(request.POST)
    count, errors = None, []
    if segment_criteria.target(target) is None:
        errors = ["Choose what the segment holds."]
    else:
        try:
            count = segment_count(
                definition, user=request.user, target=target, timeout_ms=_count_timeout_ms()
            )
        except ValidationError as exc:
            errors = exc.messages
        except OperationalError:
            errors = ["Counting took too long; narrow the conditions or try again."]
    context = {"count": count, "errors": errors, "target": segment_criteria.target(target)}
    return render(request, "crm/segments/_count.html", context)


@login_required
@require_POST
@reads_may_lag
def segment_preview_view(request):
    """The first rows of the builder's current state."""
    queryset, target_key, errors = _evaluate(request)
    context = {"errors": errors}
    if queryset is not None:
        target = segment_criteria.target(target_key)
        context.update(_preview(queryset, target))
    return render(request, "crm/segments/_preview.html", context)


def _preview(queryset, target) -> dict:
    rows = queryset
    if target.select_related:
        rows = rows.select_related(*target.select_related)
    rows = list(rows.order_by(*target.order_by)[: PREVIEW_ROWS + 1])
    return {
        "columns": [c.label for c in target.columns],
        "rows": [
            (
                row.get_absolute_url() if hasattr(row, "get_absolute_url") else "",
                _cells(target, row),
            )
            for row in rows[:PREVIEW_ROWS]
        ],
        "more": len(rows) > PREVIEW_ROWS,
        "shown": PREVIEW_ROWS,
    }


def _cells(target, row) -> list[str]:
    return ["" if (v := column.value(row)) is None else str(v) for column in target.columns]


# ------------------------------------------------------------------------------------------
# Export and delete
# ------------------------------------------------------------------------------------------


@login_required
@require_GET
def segment_export(request, pk):
    """The segment's members that the requester may see, as CSV, streamed in chunks."""
    segment = segment_get(user=request.user, pk=pk)
    target = _target_or_404(segment.target)
    try:
        queryset = segment_queryset(segment, user=request.user)
    except ValidationError as exc:
        messages.error(request, "This segment cannot be exported: " + " ".join(exc.messages))
        return HttpResponseRedirect(segment.get_absolute_url())
    if target.select_related:
        queryset = queryset.select_related(*target.select_related)
    queryset = queryset.order_by(*target.order_by)

    def rows():
        yield ["id", *(c.label for c in target.columns)]
        for row in queryset.iterator(chunk_size=EXPORT_CHUNK):
            yield [row.pk, *_cells(target, row)]

    filename = f"segment-{slugify(segment.name) or segment.pk}-{timezone.localdate()}.csv"
    return csv_response(rows(), filename=filename)


class SegmentDeleteView(RecordDeleteView):
    model = Segment
    selector = segment_get
    delete_service = services.segment_delete
    object_name = "segment"
    success_url_name = "segment_list"
    template_name = "crm/segments/confirm_delete.html"
