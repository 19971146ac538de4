"""Writing custom field definitions (admins), and merging values into a record.

A definition's key, kind and kind of record never change once made, so renaming a field never
moves a value. Archiving hides a field from forms, lists, filters and the API and keeps every
value; only an archived field can be deleted, and deleting it removes its values from every
record (the page says how many first)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm import catalog
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import clean_values, parse
from crm.models import CustomField, CustomFieldKind
from crm.permissions import may_define_fields

KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
CHOICE_KINDS = (CustomFieldKind.CHOICE, CustomFieldKind.MULTI_CHOICE)
#: Keys the API and imports already use for built-in columns.
RESERVED = {"id", "pk", "custom", "created_at", "updated_at", "owner", "version", "url"}


def _check(user):
    if not may_define_fields(user):
        raise ValidationError("Only admins change custom fields.")


def key_from_label(label: str) -> str:
    key = slugify(label).replace("-", "_")[:50] or "field"
    return key if key[0].isalpha() else f"f_{key}"[:50]


def choices_from_text(text: str) -> list[dict]:
    """``value | Label`` or just ``Label`` per line, in order."""
    choices, seen = [], set()
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        value, _, label = (part.strip() for part in line.partition("|"))
        if not label:
            label, value = value, key_from_label(value)
        if value in seen:
            raise ValidationError(f"The choice “{value}” is there twice.")
        seen.add(value)
        choices.append({"value": value[:60], "label": label[:80]})
    return choices


def choices_as_text(choices) -> str:
    return "\n".join(f"{c['value']} | {c['label']}" for c in choices or [])


def _validate(field: CustomField) -> None:
    errors = {}
    if custom_field_entities.get(field.entity) is None:
        errors["entity"] = "Choose a kind of record."
    if not KEY.match(field.key or "") or field.key in RESERVED:
        errors["key"] = "Use lowercase letters, digits and _ , starting with a letter."
    if field.kind in CHOICE_KINDS and not field.choices:
        errors["choices"] = "A choice field needs at least one choice."
    if field.kind == CustomFieldKind.RECORD:
        linkable = {e.key for e in custom_field_entities.linkable()}
        if field.link_entity not in linkable:
            errors["link_entity"] = "Choose the kind of record the field links to."
    elif field.link_entity:
        field.link_entity = ""
    if field.kind not in CHOICE_KINDS:
        field.choices = []
    if errors:
        raise ValidationError(errors)
    if field.default not in (None, "", []):
        try:
            field.default = parse(field, field.default)
        except ValidationError as exc:
            raise ValidationError({"default": exc.messages}) from None
    else:
        field.default = None


@transaction.atomic
def custom_field_create(*, user, entity: str, label: str, kind: str, key: str = "", **data):
    _check(user)
    field = CustomField(
        entity=entity,
        label=label.strip(),
        kind=kind,
        key=(key or key_from_label(label)).strip(),
        created_by=user,
        **data,
    )
    _validate(field)
    if CustomField.objects.filter(entity=entity, key=field.key).exists():
        raise ValidationError({"key": f"This kind of record already has a field “{field.key}”."})
    field.full_clean()
    field.save()
    return field


EDITABLE = (
    "label",
    "choices",
    "link_entity",
    "required",
    "default",
    "help_text",
    "order",
    "in_lists",
    "roles",
)


@transaction.atomic
def custom_field_update(*, field: CustomField, user, **data) -> CustomField:
    """Change what a field shows; its key, kind and kind of record stay. A choice that records
    use cannot be removed (rename its label instead, or archive the field)."""
    _check(user)
    field = CustomField.objects.select_for_update().get(pk=field.pk)
    old_values = {str(c["value"]) for c in field.choices or []}
    for name in EDITABLE:
        if name in data:
            setattr(field, name, data[name])
    if field.kind == CustomFieldKind.RECORD and "link_entity" in data:
        old = CustomField.objects.get(pk=field.pk).link_entity
        if old and data["link_entity"] != old and custom_field_values_count(field):
            raise ValidationError({"link_entity": "Records link through this field already."})
    _validate(field)
    removed = old_values - {str(c["value"]) for c in field.choices}
    for value in sorted(removed):
        used = _records_with_choice(field, value)
        if used:
            raise ValidationError(
                {
                    "choices": f"{used} record{'s' if used != 1 else ''} use “{value}”: keep it "
                    "(change its label), or archive the field."
                }
            )
    field.full_clean()
    field.save()
    return field


def _model(field):
    return custom_field_entities.get(field.entity).model


def _records_with_choice(field, value) -> int:
    stored = [value] if field.kind == CustomFieldKind.MULTI_CHOICE else value
    return _model(field).objects.filter(custom__contains={field.key: stored}).count()


def custom_field_values_count(field) -> int:
    """How many records hold a value for ``field`` (all records, whoever owns them)."""
    return _model(field).objects.filter(custom__has_key=field.key).count()


@transaction.atomic
def custom_field_archive(*, field: CustomField, user) -> CustomField:
    _check(user)
    CustomField.objects.filter(pk=field.pk, archived_at__isnull=True).update(
        archived_at=timezone.now(), updated_at=timezone.now()
    )
    catalog.changed_here()  # update() sends no signal
    field.refresh_from_db()
    return field


@transaction.atomic
def custom_field_restore(*, field: CustomField, user) -> CustomField:
    _check(user)
    CustomField.objects.filter(pk=field.pk).update(archived_at=None, updated_at=timezone.now())
    catalog.changed_here()  # update() sends no signal
    field.refresh_from_db()
    return field


@transaction.atomic
def custom_field_delete(*, field: CustomField, user) -> int:
    """Delete an archived field and its values; returns how many records lost a value."""
    _check(user)
    field = CustomField.objects.select_for_update().get(pk=field.pk)
    if not field.is_archived:
        raise ValidationError("Archive the field first: its values stay until it is deleted.")
    from django.db.models import Func, Value
    from django.db.models.fields.json import JSONField

    model = _model(field)
    removed = model.objects.filter(custom__has_key=field.key).update(
        custom=Func(
            "custom", Value(field.key), function="", arg_joiner=" - ", output_field=JSONField()
        )
    )
    field.delete()
    return removed


def custom_values_merge(current: dict | None, values: dict) -> dict:
    """``current`` with ``values`` applied: a None value removes its key."""
    merged = dict(current or {})
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def custom_fields_apply(record, data: dict, *, user=None) -> bool:
    """Take ``custom`` (``{key: value}``) out of a service's ``data``, check each value against
    the record's field definitions (as ``user`` sees them) and merge it into
    ``record.custom``. Returns whether anything changed. Raises ``ValidationError`` naming each
    bad field."""
    values = data.pop("custom", None)
    if not values:
        return False
    entity = custom_field_entities.for_model(type(record))
    if entity is None:
        raise ValidationError("This kind of record has no custom fields.")
    try:
        cleaned = clean_values(entity.key, values, user=user)
    except ValidationError as exc:
        raise ValidationError(
            [f"{key}: {' '.join(messages)}" for key, messages in exc.message_dict.items()]
        ) from None
    merged = custom_values_merge(record.custom, cleaned)
    if merged == (record.custom or {}):
        return False
    record.custom = merged
    return True


def custom_changes_label(record, before: dict | None) -> str:
    """The labels of the custom fields whose values differ from ``before``, for the timeline."""
    entity = custom_field_entities.for_model(type(record))
    keys = set(before or {}) | set(record.custom or {})
    changed = [k for k in keys if (before or {}).get(k) != (record.custom or {}).get(k)]
    if not entity or not changed:
        return ""
    labels = dict(CustomField.objects.filter(entity=entity.key).values_list("key", "label"))
    return ", ".join(labels.get(k, k) for k in sorted(changed))


def changed_fields_label(record, changed, custom_before: dict | None) -> str:
    """ "Industry, Tier": the verbose names of the built-in fields in ``changed`` and, when
    ``changed`` holds "custom", the labels of the custom fields that differ from
    ``custom_before``; for a service's "Changed …" timeline line."""
    labels = [str(record._meta.get_field(f).verbose_name) for f in changed if f != "custom"]
    if "custom" in changed:
        labels.append(custom_changes_label(record, custom_before))
    return ", ".join(label for label in labels if label)
