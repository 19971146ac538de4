"""The trash: deleting a record keeps it, and every row deleted with it, for a while.

Deleting goes through Django's deletion collector, the one that decides what a delete takes
with it (cascades, and the timeline and tasks reached through generic relations) and which
links it empties (``SET_NULL``). Before the rows go, each is serialised into one
``TrashedRecord`` per deleted record, with the emptied links and the values they had; then
the rows are deleted for real. Every list, selector and dashboard therefore keeps reading live
tables only, with no "deleted" flag to filter on.

Restoring inserts the rows again with their original ids, field for field (timestamps too),
puts the emptied links back where nobody has set them since, and records the change in field
history as a restore and in the audit trail. It refuses, changing nothing, when a row it needs
is missing (its account is in the trash too) or a unique value is now another record's; a
link to a user or record that is gone for good is left empty and said so.
"""

import datetime
import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, models, transaction
from django.db.models import Q, TextField
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import capfirst

from crm import registry
from crm.choices import AuditAction
from crm.history import Source, source
from crm.models import TrashedRecord
from crm.services.audit import audit_record
from crm.uploads import files_delete_on_commit

#: Entries one purge statement removes: small enough to keep each transaction short.
PURGE_BATCH = 500


class _SnapshotCollector(Collector):
    """Django's deletion collector, loading every row it deletes (no "fast" deletes by
    query), so that each row can be kept."""

    def can_fast_delete(self, objs, from_field=None):
        return False


class _Encoder(DjangoJSONEncoder):
    """JSON for row snapshots, keeping times to the microsecond (Django's encoder cuts them to
    milliseconds, and a restored row must equal the deleted one)."""

    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


def _key(model, pk) -> tuple[str, object]:
    return (model._meta.concrete_model._meta.label_lower, pk)


def _links(obj) -> list[tuple[str, object]]:
    """The rows ``obj`` points at: foreign keys, and a generic relation's subject."""
    links = []
    for field in obj._meta.concrete_fields:
        if field.is_relation and field.related_model is not None:
            value = getattr(obj, field.attname)
            if value is not None:
                links.append(_key(field.related_model, value))
    for field in obj._meta.private_fields:
        if isinstance(field, GenericForeignKey):
            ct_id = getattr(obj, obj._meta.get_field(field.ct_field).attname)
            object_id = getattr(obj, field.fk_field)
            model = ContentType.objects.get_for_id(ct_id).model_class() if ct_id else None
            if model is not None and object_id is not None:
                links.append(_key(model, object_id))
    return links


def _serialise(objs: list) -> list[dict]:
    """Rows as JSON-ready dicts (model, pk, fields). Many-to-many links are kept as the rows of
    their join tables, which the collector deletes and so keeps too."""
    model = type(objs[0])
    fields = [f.name for f in model._meta.local_fields if not f.primary_key]
    rows = serializers.serialize("python", objs, fields=fields)
    return json.loads(json.dumps(rows, cls=_Encoder))


def _protected_message(objs: list, error) -> str:
    counts: dict[str, int] = defaultdict(int)
    blocking = getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", ())
    for row in blocking:
        counts[str(row._meta.verbose_name_plural)] += 1
    what = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    subject = f"“{objs[0]}”" if len(objs) == 1 else f"{len(objs)} records"
    return f"{subject} cannot be deleted while it has {what}: delete or move those first."


def _may_delete(user, obj) -> bool:
    kind = registry.trash.for_model(type(obj))
    return kind is not None and bool(kind.may_delete(user, obj))


def trash_may_delete(*, user, obj) -> bool:
    """Whether ``user`` may delete ``obj`` (a registered kind), for showing the Delete action."""
    return _may_delete(user, obj)


@transaction.atomic
def trash_delete(*, obj: models.Model, user) -> TrashedRecord:
    """Delete one record (and what goes with it) into the trash. Raises ValidationError when
    the record may not be deleted (the user may not, or other records still need it)."""
    entries = trash_delete_many(model=type(obj), pks=[obj.pk], user=user)
    if not entries:
        raise ValidationError(f"“{obj}” was deleted already.")
    return entries[0]


@transaction.atomic
def trash_delete_many(*, model, pks, user, check: bool = True) -> list[TrashedRecord]:
    """Delete the records of ``model`` with ``pks`` into the trash, one entry each, in one
    pass of the collector. ``check``: refuse (ValidationError) when ``user`` may not delete
    one of them; callers that already chose the rows by the same rule may skip it."""
    kind = registry.trash.for_model(model)
    if kind is None:
        raise ValueError(f"{model._meta.label} is not registered in crm.registry.trash")
    roots = list(model._base_manager.select_for_update().filter(pk__in=list(pks)).order_by("pk"))
    if not roots:
        return []
    if check:
        refused = [obj for obj in roots if not kind.may_delete(user, obj)]
        if refused:
            raise ValidationError(f"You may not delete “{refused[0]}”.")
    collector = _SnapshotCollector(using=DEFAULT_DB_ALIAS, origin=roots)
    try:
        collector.collect(roots)
    except (ProtectedError, RestrictedError) as error:
        raise ValidationError(_protected_message(roots, error)) from None
    collector.sort()

    root_keys = {_key(model, obj.pk) for obj in roots}
    collected = {
        _key(m, row.pk): row for m, instances in collector.data.items() for row in instances
    }
    root_of = _grouping(collected, root_keys)
    first_root = _key(model, roots[0].pk)

    rows: dict[tuple, list[dict]] = defaultdict(list)
    for m, instances in collector.data.items():
        if getattr(m, "trash_snapshot", True) is False:
            continue  # derived rows (a duplicate review queue's pairs): deleted, not kept
        by_root: dict[tuple, list] = defaultdict(list)
        for row in instances:
            by_root[root_of(_key(m, row.pk)) or first_root].append(row)
        for root, objs in by_root.items():
            rows[root].extend(_serialise(objs))

    relinks: dict[tuple, list[dict]] = defaultdict(list)
    for (field, _value), batches in collector.field_updates.items():
        kept = []
        for batch in batches:
            if isinstance(batch, models.QuerySet):
                pairs = list(batch.values_list("pk", field.attname))
            else:
                pairs = [(row.pk, getattr(row, field.attname)) for row in batch]
            kept.extend(
                (pk, value) for pk, value in pairs if _key(field.model, pk) not in collected
            )
        grouped: dict[tuple, list] = defaultdict(list)
        for pk, value in kept:
            grouped[root_of(_key(field.related_model, value)) or first_root].append([pk, value])
        for root, pairs in grouped.items():
            relinks[root].append(
                {"model": field.model._meta.label_lower, "field": field.name, "rows": pairs}
            )

    owner_attname = model._meta.get_field(kind.owner).attname
    # Read before the delete, which empties the instances' keys.
    deleted = [
        (obj.pk, str(obj)[:200] or f"{model._meta.verbose_name} #{obj.pk}", obj) for obj in roots
    ]
    collector.delete()

    now = timezone.now()
    purge_after = now + timedelta(days=settings.TRASH_RETENTION_DAYS)
    entries = [
        TrashedRecord(
            kind=kind.name,
            object_pk=pk,
            name=name,
            owner_id=getattr(obj, owner_attname),
            deleted_by=user if getattr(user, "is_authenticated", False) else None,
            deleted_at=now,
            purge_after=purge_after,
            row_count=len(rows[_key(model, pk)]),
            # Deleted children first: put back in the reverse order.
            payload={
                "rows": list(reversed(rows[_key(model, pk)])),
                "relinks": relinks[_key(model, pk)],
            },
        )
        for pk, name, obj in deleted
    ]
    return TrashedRecord.objects.bulk_create(entries)


def _grouping(collected: dict, root_keys: set):
    """A function giving the deleted record each collected row went with: the root reached by
    following the row's links through other collected rows."""
    parents = {
        key: [link for link in _links(row) if link in collected and link != key]
        for key, row in collected.items()
        if key not in root_keys
    }
    found: dict[tuple, tuple | None] = {}

    def root_of(key, seen=frozenset()):
        if key in root_keys:
            return key
        if key in found:
            return found[key]
        result = None
        for parent in parents.get(key, ()):
            if parent not in seen:
                result = root_of(parent, seen | {key})
                if result is not None:
                    break
        found[key] = result
        return result

    return root_of


# --- restore -----------------------------------------------------------------------------------


def _in_trash(model, pk, *, besides: int) -> TrashedRecord | None:
    """The trash entry holding row ``pk`` of ``model``, other than entry ``besides``."""
    label = model._meta.concrete_model._meta.label_lower
    entries = TrashedRecord.objects.exclude(pk=besides)
    return (
        entries.filter(kind=label, object_pk=pk).first()
        or entries.filter(payload__rows__contains=[{"model": label, "pk": pk}]).first()
    )


def _what(obj) -> str:
    return f"{obj._meta.verbose_name} “{obj}”"


@transaction.atomic
def trash_restore(*, entry: TrashedRecord, user) -> tuple[models.Model, list[str]]:
    """Put a trashed record back, with everything deleted with it, under the original ids.
    Returns the record and notes on what could not come back as it was (a link left empty).
    Raises ValidationError, having changed nothing, when it cannot be restored."""
    entry = TrashedRecord.objects.select_for_update().filter(pk=entry.pk).first()
    if entry is None:
        raise ValidationError("This record is no longer in the trash: it was restored or purged.")
    if entry.purge_after <= timezone.now():
        raise ValidationError(
            f"“{entry.name}” was deleted more than {settings.TRASH_RETENTION_DAYS} days ago "
            "and can no longer be restored."
        )
    try:
        restored = list(
            serializers.deserialize("python", entry.payload["rows"], ignorenonexistent=True)
        )
    except (DeserializationError, LookupError) as error:
        raise ValidationError(f"“{entry.name}” cannot be restored: {error}") from None

    in_payload = {_key(type(d.object), d.object.pk) for d in restored}
    problems: list[str] = []
    emptied: dict[tuple[str, str, str], int] = defaultdict(int)

    by_model: dict[type, list] = defaultdict(list)
    for item in restored:
        by_model[type(item.object)].append(item.object)
    for model, objs in by_model.items():
        taken = model._base_manager.filter(pk__in=[o.pk for o in objs]).first()
        if taken is not None:
            problems.append(f"A {_what(taken)} has the same id now.")

    # Links to rows outside the entry: they must exist, or be emptied where they may be.
    wanted: dict[type, set] = defaultdict(set)
    for item in restored:
        for field in item.object._meta.concrete_fields:
            value = getattr(item.object, field.attname)
            linked = field.is_relation and value is not None
            if linked and _key(field.related_model, value) not in in_payload:
                wanted[field.related_model._meta.concrete_model].add(value)
    present = {
        model: set(model._base_manager.filter(pk__in=pks).values_list("pk", flat=True))
        for model, pks in wanted.items()
    }
    kept = []
    refused_parents: set[tuple] = set()
    for item in restored:
        obj = item.object
        drop = False
        for field in obj._meta.concrete_fields:
            value = getattr(obj, field.attname)
            if not field.is_relation or value is None:
                continue
            target = field.related_model._meta.concrete_model
            if _key(target, value) in in_payload or value in present.get(target, ()):
                continue
            trashed = _in_trash(target, value, besides=entry.pk)
            if trashed is not None:
                if _key(target, value) not in refused_parents:
                    refused_parents.add(_key(target, value))
                    problems.append(
                        f"Restore the {target._meta.verbose_name} “{trashed.name}” first: "
                        f"{_what(obj)} belongs to it, and it is in the trash."
                    )
            elif obj._meta.auto_created:
                drop = True  # a many-to-many link to something gone for good: leave it out
            elif field.null:
                setattr(obj, field.attname, None)
                emptied[(str(obj._meta.verbose_name), str(field.verbose_name), _gone(target))] += 1
            else:
                problems.append(
                    f"{capfirst(_what(obj))} cannot come back: the "
                    f"{target._meta.verbose_name} it belongs to no longer exists."
                )
        if not drop:
            kept.append(item)

    for item in kept:
        obj = item.object
        if obj._meta.auto_created:
            continue
        try:
            obj.validate_unique(exclude=[obj._meta.pk.name])
            obj.validate_constraints()
        except ValidationError as error:
            problems.append(
                f"{capfirst(_what(obj))}: {' '.join(error.messages)} It is another record's now; "
                "change that record first."
            )
    if problems:
        raise ValidationError(problems)

    try:
        with transaction.atomic(), source(Source.RESTORE, user=user, trash=entry.pk):
            for item in kept:
                item.save(force_insert=True)
            for relink in entry.payload.get("relinks", []):
                _relink(relink)
    except IntegrityError as error:  # a value taken between the checks and the insert
        raise ValidationError(
            f"“{entry.name}” could not be restored, as another record took one of its values "
            f"meanwhile: {error}"
        ) from None

    notes = [
        f"{capfirst(field)} left empty on {count} {model}{'' if count == 1 else 's'}: {reason}."
        for (model, field, reason), count in emptied.items()
    ]
    model = apps.get_model(entry.kind)
    obj = model._base_manager.get(pk=entry.object_pk)
    audit_record(
        action=AuditAction.RECORD_RESTORED,
        actor=user,
        target=obj,
        detail={"kind": entry.kind, "rows": len(kept), "deleted_at": entry.deleted_at.isoformat()}
        | ({"notes": notes} if notes else {}),
    )
    entry.delete()
    return obj, notes


def _gone(model) -> str:
    if model is apps.get_model(settings.AUTH_USER_MODEL):
        return "the user it named was deleted"
    return f"the {model._meta.verbose_name} it named no longer exists"


def _relink(relink: dict) -> None:
    """Put back a link the delete emptied, on rows nobody has linked elsewhere since."""
    try:
        model = apps.get_model(relink["model"])
        field = model._meta.get_field(relink["field"])
    except (LookupError, FieldDoesNotExist):
        return  # the model or field went away in a later version
    by_value: dict[object, list] = defaultdict(list)
    for pk, value in relink["rows"]:
        by_value[value].append(pk)
    for value, pks in by_value.items():
        model._base_manager.filter(pk__in=pks, **{f"{field.attname}__isnull": True}).update(
            **{field.attname: value}
        )


# --- purge -------------------------------------------------------------------------------------


@transaction.atomic
def trash_delete_forever(*, entry: TrashedRecord, user) -> None:
    """Remove one entry from the trash for good (admins)."""
    entry = TrashedRecord.objects.select_for_update().filter(pk=entry.pk).first()
    if entry is None:
        return
    audit_record(
        action=AuditAction.TRASH_DELETED_FOREVER,
        actor=user,
        detail={"kind": entry.kind, "id": entry.object_pk, "name": entry.name},
    )
    entries_delete(TrashedRecord.objects.filter(pk=entry.pk))


def entry_files(entries) -> list[tuple[object, str]]:
    """The stored files (storage, name) the kept rows of ``entries`` refer to: a deleted
    ticket's attachments stay on disk while it may be restored, and go with its entry."""
    files = []
    for entry in entries:
        for row in (entry.payload or {}).get("rows", []):
            try:
                model = apps.get_model(row["model"])
            except (KeyError, LookupError, ValueError):
                continue
            for field in model._meta.concrete_fields:
                if isinstance(field, models.FileField):
                    name = (row.get("fields") or {}).get(field.name)
                    if name:
                        files.append((field.storage, name))
    return files


def entries_delete(queryset) -> int:
    """Delete trash entries for good, with the files their rows kept on disk."""
    entries = list(queryset)
    files_delete_on_commit(entry_files(entries))
    return TrashedRecord.objects.filter(pk__in=[e.pk for e in entries]).delete()[0]


def _purge(queryset, *, batch: int) -> int:
    """Delete the entries of ``queryset`` in batches; rows another purge holds are skipped
    (it deletes them), so two purges at once never wait on each other nor count a row twice."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                queryset.order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return deleted
            deleted += entries_delete(TrashedRecord.objects.filter(pk__in=ids))


def trash_purge_expired(*, now=None, batch: int = PURGE_BATCH) -> int:
    """Delete the entries past their ``purge_after`` (beat, daily), recorded as one audit line
    with the count when there were any. Returns how many went."""
    now = now or timezone.now()
    deleted = _purge(TrashedRecord.objects.expired(now), batch=batch)
    if deleted:
        audit_record(
            action=AuditAction.TRASH_PURGED,
            detail={"deleted": deleted, "reason": "retention", "before": now.isoformat()},
        )
    return deleted


def trash_matching(text: str) -> models.QuerySet:
    """Entries whose name or any kept value contains ``text`` (case-insensitive)."""
    text = (text or "").strip()
    if not text:
        return TrashedRecord.objects.none()
    # The payload is matched as PostgreSQL prints JSON: quotes and backslashes escaped.
    needle = json.dumps(text, ensure_ascii=False)[1:-1]
    return TrashedRecord.objects.annotate(_body=Cast("payload", TextField())).filter(
        Q(name__icontains=text) | Q(_body__icontains=needle)
    )


def trash_purge_matching(text: str, *, user=None, reason: str = "") -> int:
    """Delete every entry whose payload mentions ``text`` (e.g. an email address being
    erased), recorded as one audit line with the count (not the text). Returns the count."""
    deleted = _purge(trash_matching(text), batch=PURGE_BATCH)
    if deleted:
        audit_record(
            action=AuditAction.TRASH_PURGED,
            actor=user,
            detail={"deleted": deleted, "reason": reason or "matching value"},
        )
    return deleted
