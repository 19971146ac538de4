"""Reading field history for people: a record's events newest first, and every change for
admins, with values shown as the pages show them (names for keys, labels for choices).

The query count does not grow with the rows: one query per event table read, one for the
users named, and one per kind of record the changed keys point to.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.history import Source
from crm.models import User
from crm.models.history import FieldEvent

EMPTY = "(empty)"

KIND_LABELS = {"insert": "created", "update": "changed", "delete": "deleted"}


@dataclass
class Change:
    name: str
    label: str
    old: str
    new: str
    restorable: bool = False


@dataclass
class HistoryRow:
    """One event as shown: when, who, through what, and what changed."""

    event_model: type[FieldEvent]
    event: FieldEvent
    record_label: str  # "Deal", "Line item"
    record_id: int | None
    kind: str
    user_id: int | None
    source: str
    details: dict
    changes: list[Change] = field(default_factory=list)
    user: User | None = None
    record_url: str = ""

    @property
    def at(self) -> dt.datetime:
        return self.event.pgh_created_at

    @property
    def slug(self) -> str:
        return f"{self.event_model._meta.label_lower}:{self.event.pk}"

    @property
    def source_label(self) -> str:
        return Source.LABELS.get(self.source, self.source)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def event_model_of(model) -> type[FieldEvent]:
    return model.pgh_event_models["update"]


def _tracked_fields(event_model) -> list[models.Field]:
    tracked = event_model.pgh_tracked_model
    names = {f.name for f in tracked._meta.concrete_fields}
    return [
        tracked._meta.get_field(f.name)
        for f in event_model._meta.concrete_fields
        if f.name in names and not f.name.startswith("pgh_")
    ]


def _row_for(event_model, event) -> HistoryRow:
    metadata = event.pgh_context.metadata if event.pgh_context_id else {}
    tracked = event_model.pgh_tracked_model
    return HistoryRow(
        event_model=event_model,
        event=event,
        record_label="Role"
        if event_model._meta.label_lower == "crm.userroleevent"
        else str(tracked._meta.verbose_name).capitalize(),
        record_id=getattr(event, "pgh_obj_id", None) or getattr(event, "user_id", None),
        kind=event.pgh_label,
        user_id=metadata.get("user") if isinstance(metadata.get("user"), int) else None,
        source=metadata.get("source") or Source.COMMAND,
        details={k: v for k, v in metadata.items() if k not in ("user", "source")},
    )


def events_page(sources, *, page: int, per_page: int) -> tuple[list[HistoryRow], bool]:
    """Rows ``page`` (from 1) of the events read by ``sources`` (``(event model, queryset)``
    pairs), newest first, and whether there are more."""
    wanted = page * per_page + 1
    rows = []
    for event_model, queryset in sources:
        events = queryset.select_related("pgh_context").order_by("-pgh_created_at", "-pgh_id")
        rows.extend(_row_for(event_model, e) for e in events[:wanted])
    rows.sort(key=lambda r: (r.at, r.event.pk), reverse=True)
    start = (page - 1) * per_page
    return rows[start : start + per_page], len(rows) > start + per_page


def describe(rows: list[HistoryRow], *, restorable=None, can_restore=False) -> None:
    """Fill in each row's changes and user, resolving keys to names in one query per kind."""
    wanted: dict[type[models.Model], set] = {}
    for row in rows:
        row.changes_raw = _raw_changes(row)
        for name, (old, new) in row.changes_raw:
            model_field = row.event_model.pgh_tracked_model._meta.get_field(name)
            if model_field.is_relation:
                wanted.setdefault(model_field.related_model, set()).update(
                    v for v in (old, new) if v is not None
                )
    user_ids = {row.user_id for row in rows if row.user_id}
    wanted.setdefault(User, set()).update(user_ids)
    names = {}
    for model, ids in wanted.items():
        ids = {i for i in ids if isinstance(i, int)}
        if ids:
            names[model] = {obj.pk: obj for obj in model._base_manager.filter(pk__in=ids)}
    for row in rows:
        row.user = names.get(User, {}).get(row.user_id)
        tracked = row.event_model.pgh_tracked_model
        for name, (old, new) in row.changes_raw:
            model_field = tracked._meta.get_field(name)
            row.changes.append(
                Change(
                    name=name,
                    label=str(model_field.verbose_name).capitalize(),
                    old=shown(model_field, old, names),
                    new=shown(model_field, new, names),
                    restorable=(
                        can_restore
                        and row.kind == "update"
                        and name in (restorable or {}).get(tracked, ())
                    ),
                )
            )


def _raw_changes(row: HistoryRow) -> list[tuple[str, tuple]]:
    """(field name, (old, new)) of the row in the tracked fields' order."""
    fields = _tracked_fields(row.event_model)
    if row.kind == "update":
        changes = row.event.pgh_changes or {}
        return [(f.name, tuple(changes[f.name])) for f in fields if f.name in changes]
    # A creation shows the values it was made with; a deletion the last ones it had.
    values = []
    for f in fields:
        value = _json_value(f, getattr(row.event, f.attname))
        if value in (None, "", [], {}):
            continue
        values.append((f.name, (None, value) if row.kind == "insert" else (value, None)))
    return values


def _json_value(model_field, value):
    """A snapshot column's value in the form ``pgh_changes`` stores (JSON)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "code"):  # a django-countries Country
        return value.code
    return value


def shown(model_field, value, names=None) -> str:
    """A stored (JSON) value of ``model_field`` as the pages show it."""
    if value is None or value == "":
        return EMPTY
    if model_field.is_relation:
        obj = (names or {}).get(model_field.related_model, {}).get(value)
        return str(obj) if obj is not None else f"#{value} (deleted)"
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.BooleanField):
        return "yes" if value else "no"
    if isinstance(model_field, models.DateTimeField):
        moment = parse_datetime(str(value))
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else str(value)
    if isinstance(model_field, models.DateField):
        day = parse_date(str(value)[:10])
        return day.isoformat() if day else str(value)
    if isinstance(model_field, models.DecimalField):
        try:
            return f"{Decimal(str(value)):,.{model_field.decimal_places}f}"
        except InvalidOperation:
            return str(value)
    if isinstance(model_field, models.JSONField):
        return f"{len(value)} lines" if isinstance(value, list) else "(structured value)"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def stored_value(model_field, value):
    """A stored (JSON) value of ``model_field`` as Python (a key stays a key)."""
    if value is None:
        return None
    if model_field.is_relation:
        return model_field.target_field.to_python(value)
    if isinstance(model_field, models.DecimalField):
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-model_field.decimal_places))
    if isinstance(model_field, models.JSONField):
        return value
    return model_field.to_python(value)
