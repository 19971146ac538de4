"""Taking and putting back the field values of the two records of a merge, so that a merge can
be undone (``crm.models.merges.MergeRecord``; each app's merge and undo services use these).

Values are kept in JSON-safe form, exactly (datetimes to the microsecond, decimals as text,
foreign keys as ids), and compared in that form, so "changed since the merge" means a value
differs from what the merge left, whatever its type.
"""

import datetime
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format

from crm.choices import ActivityKind
from crm.services.audit import audit_record
from crm.services.timeline import activity_log


def _plain(value):
    if isinstance(value, datetime.date | datetime.time):  # datetimes are dates too
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _snapshot_fields(model: type[models.Model]) -> list[models.Field]:
    """The concrete fields a merge may change: not the key, not ``auto_now`` timestamps."""
    return [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and not getattr(f, "auto_now", False)
    ]


def record_snapshot(obj: models.Model) -> dict:
    """Every field of ``obj`` (by name, foreign keys as ids) in JSON-safe form."""
    return {
        f.name: _plain(f.get_prep_value(f.value_from_object(obj)))
        for f in _snapshot_fields(type(obj))
    }


def snapshot_changes(before: dict, after: dict) -> dict:
    """The fields of ``after`` whose value is not the one in ``before``, with ``after``'s value."""
    return {name: value for name, value in after.items() if before.get(name) != value}


def changed_since(obj: models.Model, expected: dict, *, ignore=()) -> list[str]:
    """The fields of ``expected`` (a merge's after-values) that ``obj`` no longer holds."""
    now = record_snapshot(obj)
    return [
        name for name, value in expected.items() if name not in ignore and now.get(name) != value
    ]


def _python(field: models.Field, value):
    if value is None:
        return None
    if field.is_relation:
        return field.target_field.to_python(value)
    return field.to_python(value)


def values_put_back(obj: models.Model, values: dict) -> list[str]:
    """Set ``obj``'s fields to ``values`` (as taken by :func:`record_snapshot`); returns the
    field names, for ``save(update_fields=...)``."""
    for name, value in values.items():
        field = obj._meta.get_field(name)
        setattr(obj, field.attname, _python(field, value))
    return list(values)


def field_labels(model: type[models.Model], names) -> str:
    """``"phone, job title"``: the fields' names as the pages show them."""
    return ", ".join(str(model._meta.get_field(name).verbose_name) for name in names)


def check_not_undone(record) -> None:
    if record.undone_at is not None:
        who = record.undone_by or "someone no longer here"
        when = date_format(timezone.localtime(record.undone_at), "Y-m-d H:i")
        raise ValidationError(f"This merge was already undone ({when}, by {who}).")


def check_unchanged(record, kept: models.Model, merged: models.Model, *, ignore=()) -> None:
    """Refuse (ValidationError listing them) when a field the merge set on either record was
    changed since: undoing would silently overwrite that later change."""
    problems = []
    for label, obj, after in (
        ("kept", kept, record.kept_after),
        ("merged", merged, record.merged_after),
    ):
        changed = changed_since(obj, after, ignore=ignore)
        if changed:
            problems.append(f"{obj} (the {label} record): {field_labels(type(obj), changed)}")
    if problems:
        raise ValidationError(
            "The merge cannot be undone: these fields it set were changed since, and undoing it "
            "would overwrite those changes. " + "; ".join(problems) + ". Put them back as the "
            "merge left them (the History page shows both values), or leave the merge as it is."
        )


def value_shown(model: type[models.Model], name: str, value) -> str:
    """A value as :func:`record_snapshot` keeps it, as a page shows it: choices by label, a
    foreign key as its id, times as dates and minutes."""
    if value in (None, ""):
        return "—"
    field = model._meta.get_field(name)
    if field.is_relation:
        return f"#{value}"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(field, models.DateTimeField):
        moment = field.to_python(value)
        return date_format(timezone.localtime(moment), "Y-m-d H:i")
    return str(value)


def merge_undo_finish(
    record,
    *,
    user,
    kept: models.Model,
    merged: models.Model,
    kept_summary: str,
    merged_summary: str,
    body: str,
    audit_action: str,
    audit_detail: dict,
):
    """The end every merge undo shares: a timeline line on both records, the merge record marked
    undone by ``user``, and an audit line about the merged record."""
    for subject, summary in ((kept, kept_summary), (merged, merged_summary)):
        activity_log(
            subject=subject, kind=ActivityKind.SYSTEM, summary=summary, body=body, actor=user
        )
    record.undone_at = timezone.now()
    record.undone_by = user
    record.save(update_fields=["undone_at", "undone_by"])
    audit_record(action=audit_action, actor=user, target=merged, detail=audit_detail)
    return record
