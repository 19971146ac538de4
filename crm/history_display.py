"""Reading field history for people: a record's events newest first, and every change for
admins, with values shown as the pages show them (names for keys, labels for choices).

A change of the ``custom`` column (the values of fields admins added) shows as one line per
changed key, labelled and shown as the record's page shows that field; a key whose field is
archived or deleted shows as the key with its raw value, and a field limited to roles the viewer
lacks shows nothing (README, "Field history").

The query count does not grow with the rows: one query per event table read, one for the
users named, one per kind of record the changed keys point to (and the users and records custom
values point to), and one for the custom field definitions.
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.custom_fields.definitions import definitions_for_request
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import display as custom_display
from crm.history import Source
from crm.models import User
from crm.models.custom_fields import CustomFieldKind
from crm.models.history import FieldEvent

EMPTY = "(empty)"
#: The column holding custom field values (``crm.custom_fields``).
CUSTOM = "custom"

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
        if self.source == Source.RULE and self.details.get("rule_name"):
            return f"rule {self.details['rule_name']}"
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


def describe(
    rows: list[HistoryRow], *, user=None, request=None, restorable=None, can_restore=False
) -> list[HistoryRow]:
    """Fill in each row's changes and user, resolving keys to names in one query per kind.

    ``user`` is who reads them: custom fields limited to roles they lack show nothing (a change
    of nothing else they may see leaves the row out). Returns the rows to show."""
    custom = _CustomValues(rows, user=user, request=request)
    wanted: dict[type[models.Model], set] = {}
    for row in rows:
        row.changes_raw = _raw_changes(row)
        for name, (old, new) in row.changes_raw:
            if name == CUSTOM:
                continue
            model_field = row.event_model.pgh_tracked_model._meta.get_field(name)
            if model_field.is_relation:
                wanted.setdefault(model_field.related_model, set()).update(
                    v for v in (old, new) if v is not None
                )
    for model, ids in custom.wanted().items():
        wanted.setdefault(model, set()).update(ids)
    user_ids = {row.user_id for row in rows if row.user_id}
    wanted.setdefault(User, set()).update(user_ids)
    names = {}
    for model, ids in wanted.items():
        ids = {i for i in ids if isinstance(i, int)}
        if ids:
            names[model] = {obj.pk: obj for obj in model._base_manager.filter(pk__in=ids)}
    shown_rows = []
    for row in rows:
        row.user = names.get(User, {}).get(row.user_id)
        tracked = row.event_model.pgh_tracked_model
        hidden = False
        for name, (old, new) in row.changes_raw:
            if name == CUSTOM:
                lines = custom.changes(row, old, new, names)
                hidden = hidden or lines is None
                row.changes.extend(lines or ())
                continue
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
        if row.changes or not hidden:
            shown_rows.append(row)
    return shown_rows


def custom_changes(old, new) -> list[tuple[str, object, object]]:
    """(key, old, new) of every key whose value differs between two ``custom`` objects (a
    missing key and an empty value are the same), in key order."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if _blank(before) and _blank(after):
            continue
        if before != after:
            found.append(
                (key, None if _blank(before) else before, None if _blank(after) else after)
            )
    return found


def _blank(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def raw_text(value) -> str:
    """A custom value with no definition to read it by, as text."""
    if _blank(value):
        return EMPTY
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"


class _CustomValues:
    """Custom field changes of a page of rows: definitions read once, and the users and records
    their values point to gathered for ``describe``'s one query per kind."""

    def __init__(self, rows, *, user=None, request=None, everyone=False):
        self.user = user
        self.everyone = everyone
        entities = {}
        for row in rows:
            entity = custom_field_entities.for_model(row.event_model.pgh_tracked_model)
            if entity is not None and self._touched(row):
                entities[row.event_model] = entity.key
        self.entity_of = entities
        self.definitions = (
            definitions_for_request(request, set(entities.values())) if entities else {}
        )
        self.rows = rows

    @staticmethod
    def _touched(row) -> bool:
        if row.kind == "update":
            return CUSTOM in (row.event.pgh_changes or {})
        return bool(getattr(row.event, CUSTOM, None))

    def fields_of(self, event_model) -> dict:
        return self.definitions.get(self.entity_of.get(event_model), {})

    def may_see(self, field) -> bool:
        return self.everyone or field.visible_to(self.user)

    def wanted(self) -> dict[type[models.Model], set]:
        """The users and records that changed user and link fields point to, by model."""
        wanted: dict[type[models.Model], set] = {}
        for row in self.rows:
            if row.event_model not in self.entity_of:
                continue
            fields = self.fields_of(row.event_model)
            for name, (old, new) in _raw_changes(row):
                if name != CUSTOM:
                    continue
                for key, before, after in custom_changes(old, new):
                    field = fields.get(key)
                    if field is None or field.is_archived or not self.may_see(field):
                        continue
                    model = _target_model(field)
                    if model is None:
                        continue
                    wanted.setdefault(model, set()).update(
                        v for v in (before, after) if isinstance(v, int)
                    )
        return wanted

    def changes(self, row, old, new, names) -> list[Change] | None:
        """The row's custom lines; None when every changed key is one the reader may not see."""
        fields = self.fields_of(row.event_model)
        order = {key: index for index, key in enumerate(fields)}
        lines = []
        hidden = 0
        found = custom_changes(old, new)
        found.sort(key=lambda change: (order.get(change[0], len(order)), change[0]))
        for key, before, after in found:
            field = fields.get(key)
            if field is not None and not self.may_see(field):
                hidden += 1
                continue
            if field is None or field.is_archived:
                lines.append(Change(f"{CUSTOM}.{key}", key, raw_text(before), raw_text(after)))
                continue
            targets = names.get(_target_model(field), {})
            labels = {(key, pk): str(obj) for pk, obj in targets.items()}
            lines.append(
                Change(
                    f"{CUSTOM}.{key}",
                    field.label,
                    _custom_shown(field, before, labels),
                    _custom_shown(field, after, labels),
                )
            )
        return None if hidden and not lines else lines


def _custom_shown(field, value, labels) -> str:
    """``value`` as the field's kind shows it; as stored when it is not of that kind (a key
    deleted and made again as another kind of field keeps its old values in history)."""
    try:
        return custom_display(field, value, names=labels) or EMPTY
    except (ArithmeticError, ValueError, TypeError, AttributeError):
        return raw_text(value)


def _target_model(field) -> type[models.Model] | None:
    """The model a user or link field's values are keys of (None: other kinds)."""
    if field.kind == CustomFieldKind.USER:
        return User
    if field.kind == CustomFieldKind.RECORD:
        entity = custom_field_entities.get(field.link_entity)
        return entity.model if entity is not None else None
    return None


def custom_history(model, events) -> dict[int, list[dict]]:
    """``{event id: [{"field", "key", "old", "new"}]}``: the custom field changes of ``events``
    (of ``model``'s history) as people read them, every field included (a person's own data,
    ``crm.personal_data``); one query for the definitions and one per kind of linked value."""
    event_model = event_model_of(model)
    rows = [_row_for(event_model, event) for event in events]
    custom = _CustomValues(rows, everyone=True)
    names = {}
    for target, ids in custom.wanted().items():
        names[target] = {obj.pk: obj for obj in target._base_manager.filter(pk__in=ids)}
    found = {}
    for row in rows:
        for name, (old, new) in _raw_changes(row):
            if name != CUSTOM:
                continue
            lines = custom.changes(row, old, new, names) or []
            found[row.event.pk] = [
                {"field": c.label, "key": c.name.split(".", 1)[1], "old": c.old, "new": c.new}
                for c in lines
            ]
    return found


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
