"""Merging a duplicate contact into the contact that is kept, a duplicate account into the
account that is kept, and undoing either merge.

The two records are shown side by side and the user picks each differing field's surviving
value; then every row that points at the merged record moves to the kept one, and the merged
record is deleted. Nothing is lost, and the merge is recorded (``crm.ContactMerge``,
``crm.AccountMerge``) so that it can be undone: the merged record comes back under its own id
with its own fields, exactly the rows that moved go back to it, and the kept record's fields the
merge changed get their old values.

Which rows move is read from the models themselves, so ``crm`` names no later stage: every
foreign key and one-to-one to ``Contact`` / ``Account`` (deals, tickets, subscriptions, campaign
memberships, NPS answers, the leads converted into them, an account's contacts…), the join rows
of many-to-many links, and every generic relation (content type and object id: timeline
entries, tasks, consent proof, emails). Where the kept record already holds the row a unique
rule allows only once (both contacts are members of the same campaign, both accounts have a
health score), the kept record's row stays and the merged record's is deleted, kept in the merge
record with what went with it, and put back by an undo.

Convention for models of any app: a model whose class sets ``merge_relink = False`` is not
moved. Its rows go with the merged record when it is deleted (cascading, or emptied, as its
foreign key says), are kept in the merge record, and come back with the merged record on undo.
Merge records themselves are such rows (``ContactMerge``, ``AccountMerge``, ``leads.LeadMerge``),
and so are tables about pairs of records, such as duplicate-pair suggestions. The event tables
of field history are never moved either: they describe the record they belong to.

Consent: the kept contact ends with a consent given when either contact had given it, dated by
the later answer; the proof rows of both stay with it. Field history records the changes as a
*merge* (and an undo as a *restore*); the audit trail and the kept record's timeline say so.
"""

from collections import defaultdict
from dataclasses import dataclass

import pghistory.models
from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, models, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.formats import date_format

from crm.choices import ActivityKind, AuditAction
from crm.history import Source, recorded_as, source
from crm.matching import match_fields_set
from crm.models import (
    Account,
    AccountMerge,
    Activity,
    ConsentChannel,
    Contact,
    ContactMerge,
)
from crm.services.audit import audit_record
from crm.services.consents import ConsentProof, consents_record
from crm.services.customers import ACCOUNT_FIELDS, CONTACT_FIELDS, consent_stamp
from crm.services.merges import (
    changed_since,
    check_not_undone,
    field_labels,
    merge_undo_finish,
    record_snapshot,
    snapshot_changes,
    values_put_back,
)
from crm.services.timeline import activity_log
from crm.services.trash import _protected_message, _relink, _serialise, _SnapshotCollector
from crm.visibility import owner_in_scope

KEEP, MERGE = "keep", "merge"
CONSENTS = ("email_consent", "marketing_consent")
#: Kept up by the services from the other fields: never a later change of anyone's.
DERIVED = frozenset({"match_keys", "match_name"})


@dataclass(frozen=True)
class MergeKind:
    """What differs between merging contacts and merging accounts."""

    model: type[models.Model]
    record_model: type[models.Model]
    noun: str
    fields: tuple[str, ...]
    merged_action: str
    undone_action: str


CONTACT = MergeKind(
    model=Contact,
    record_model=ContactMerge,
    noun="contact",
    fields=tuple(f for f in CONTACT_FIELDS if f not in CONSENTS),
    merged_action=AuditAction.CONTACT_MERGED,
    undone_action=AuditAction.CONTACT_MERGE_UNDONE,
)
ACCOUNT = MergeKind(
    model=Account,
    record_model=AccountMerge,
    noun="account",
    fields=ACCOUNT_FIELDS,
    merged_action=AuditAction.ACCOUNT_MERGED,
    undone_action=AuditAction.ACCOUNT_MERGE_UNDONE,
)


def kind_of(model) -> MergeKind:
    return CONTACT if model is Contact else ACCOUNT


# --- which rows point at a record ---------------------------------------------------------------


def _relinked(model) -> bool:
    return getattr(model, "merge_relink", True) and not issubclass(model, pghistory.models.Event)


def relations(model) -> list[models.Field]:
    """The foreign keys (and one-to-ones, and many-to-many join rows) of other models that
    point at ``model`` and move in a merge."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if rel.concrete or not rel.auto_created or rel.many_to_many:
            continue  # forward fields; many-to-many links move as rows of their join table
        if _relinked(rel.related_model):
            found.append(rel.field)
    return found


def generic_relations() -> list[tuple[type[models.Model], GenericForeignKey]]:
    """The generic relations (timeline entries, tasks, consent proof, emails) that move."""
    return [
        (model, field)
        for model in apps.get_models()
        if _relinked(model)
        for field in model._meta.private_fields
        if isinstance(field, GenericForeignKey)
    ]


def _generic_filter(model, field: GenericForeignKey, obj) -> dict:
    ct_attname = model._meta.get_field(field.ct_field).attname
    return {ct_attname: ContentType.objects.get_for_model(obj).pk, field.fk_field: obj.pk}


def links_count(obj) -> list[tuple[str, int]]:
    """How many rows of each kind point at ``obj`` and would move in a merge, as
    ``[(label, count)]`` for the confirm page (kinds with none left out)."""
    counts: dict[str, int] = defaultdict(int)
    for field in relations(type(obj)):
        n = field.model._base_manager.filter(**{field.attname: obj.pk}).count()
        if n:
            counts[str(field.model._meta.verbose_name_plural)] += n
    for model, field in generic_relations():
        n = model._base_manager.filter(**_generic_filter(model, field, obj)).count()
        if n:
            counts[str(model._meta.verbose_name_plural)] += n
    return sorted(counts.items())


def _unique_sets(field: models.Field) -> list[tuple[tuple[str, ...], models.Q | None]]:
    """The unique rules of ``field``'s model that include it: the other fields of each, and
    its condition (a partial unique index), if any."""
    meta = field.model._meta
    sets = []
    if field.unique:
        sets.append(((), None))
    for together in meta.unique_together:
        if field.name in together:
            sets.append((tuple(n for n in together if n != field.name), None))
    for constraint in meta.total_unique_constraints + [
        c
        for c in meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.condition is not None and c.fields
    ]:
        if field.name in constraint.fields:
            others = tuple(n for n in constraint.fields if n != field.name)
            sets.append((others, constraint.condition))
    return sets


def _colliding(field: models.Field, keep, merge) -> list:
    """Ids of the merged record's rows of ``field``'s model that a unique rule allows once per
    record and the kept record already holds."""
    manager = field.model._base_manager
    found = set()
    for others, condition in _unique_sets(field):
        kept_rows = manager.filter(**{field.attname: keep.pk})
        merged_rows = manager.filter(**{field.attname: merge.pk})
        if condition is not None:
            kept_rows, merged_rows = kept_rows.filter(condition), merged_rows.filter(condition)
        if not others:
            if kept_rows.exists():
                found.update(merged_rows.values_list("pk", flat=True))
            continue
        attnames = [field.model._meta.get_field(name).attname for name in others]
        taken = {tuple(v) for v in kept_rows.values_list(*attnames) if None not in v}
        for pk, *values in merged_rows.values_list("pk", *attnames):
            if tuple(values) in taken:
                found.add(pk)
    return sorted(found)


def _generic_colliding(model, gfk: GenericForeignKey, keep, merge) -> list:
    """Ids of the merged record's rows of a generic relation that a unique rule allows once
    per record (an email linked once to each record) and the kept record already holds."""
    manager = model._base_manager
    found = set()
    for constraint in model._meta.total_unique_constraints:
        if not {gfk.ct_field, gfk.fk_field} <= set(constraint.fields):
            continue
        others = [
            model._meta.get_field(n).attname
            for n in constraint.fields
            if n not in (gfk.ct_field, gfk.fk_field)
        ]
        if not others:
            continue
        kept_rows = manager.filter(**_generic_filter(model, gfk, keep))
        taken = {tuple(v) for v in kept_rows.values_list(*others)}
        merged_rows = manager.filter(**_generic_filter(model, gfk, merge))
        for pk, *values in merged_rows.values_list("pk", *others):
            if tuple(values) in taken:
                found.add(pk)
    return sorted(found)


# --- rows deleted and put back ------------------------------------------------------------------


def _delete_kept(objs: list) -> dict:
    """Delete ``objs`` with what goes with them (cascades, emptied links) and return it all as
    ``{"rows", "relinks"}`` to put back with :func:`_put_back`."""
    collector = _SnapshotCollector(using=DEFAULT_DB_ALIAS, origin=objs)
    try:
        collector.collect(objs)
    except (ProtectedError, RestrictedError) as error:
        raise ValidationError(_protected_message(objs, error)) from None
    collector.sort()
    collected = {
        (m._meta.concrete_model, row.pk)
        for m, instances in collector.data.items()
        for row in instances
    }
    rows = []
    for instances in collector.data.values():
        if instances:
            rows.extend(_serialise(list(instances)))
    relinks = []
    for (field, _value), batches in collector.field_updates.items():
        pairs = []
        for batch in batches:
            if isinstance(batch, models.QuerySet):
                found = list(batch.values_list("pk", field.attname))
            else:
                found = [(row.pk, getattr(row, field.attname)) for row in batch]
            pairs += [
                [pk, value]
                for pk, value in found
                if (field.model._meta.concrete_model, pk) not in collected
            ]
        if pairs:
            relinks.append(
                {"model": field.model._meta.label_lower, "field": field.name, "rows": pairs}
            )
    collector.delete()
    # Deleted children first: put back in the reverse order.
    return {"rows": list(reversed(rows)), "relinks": relinks}


def _put_back(kept: dict) -> int:
    """Insert again, under their ids, the rows :func:`_delete_kept` deleted. Returns how many."""
    items = list(serializers.deserialize("python", kept["rows"], ignorenonexistent=True))
    for item in items:
        item.save(force_insert=True)
    for relink in kept["relinks"]:
        _relink(relink)
    return len(items)


# --- merging ------------------------------------------------------------------------------------


def _value(obj, name: str):
    return getattr(obj, obj._meta.get_field(name).attname)


def is_empty(value) -> bool:
    return value in (None, "")


def differing_fields(keep, merge) -> list[str]:
    return [n for n in kind_of(type(keep)).fields if _value(keep, n) != _value(merge, n)]


def default_choice(keep, merge, name: str) -> str:
    """The kept record's value unless it is empty and the other's is not."""
    if is_empty(_value(keep, name)) and not is_empty(_value(merge, name)):
        return MERGE
    return KEEP


def _check_choices(kind: MergeKind, field_choices: dict) -> None:
    errors: dict[str, list[str]] = {}
    for name, choice in field_choices.items():
        if name not in kind.fields:
            errors.setdefault("__all__", []).append(f"{name} cannot be chosen in a merge.")
        elif choice not in (KEEP, MERGE):
            errors[name] = [f"Choose the value of one of the two {kind.noun}s."]
    if errors:
        raise ValidationError(errors)


def _lock_two(kind: MergeKind, user, keep_pk, merge_pk):
    """Both records, locked in id order, if the user may change both; otherwise the model's
    DoesNotExist (the pages answer 404)."""
    rows = {
        row.pk: row
        for row in kind.model.objects.changeable_by(user)
        .select_for_update()
        .filter(pk__in=[keep_pk, merge_pk])
        .order_by("pk")
    }
    if keep_pk not in rows or merge_pk not in rows:
        raise kind.model.DoesNotExist(f"No such {kind.noun} you may change.")
    return rows[keep_pk], rows[merge_pk]


def _merge_consent(keep: Contact, merge: Contact) -> list[str]:
    """A consent given on either contact holds, dated by the later grant."""
    changed = []
    for name in CONSENTS:
        stamps = [
            getattr(c, f"{name}_at") or timezone.now() for c in (keep, merge) if getattr(c, name)
        ]
        given, at = bool(stamps), max(stamps) if stamps else None
        if (getattr(keep, name), getattr(keep, f"{name}_at")) != (given, at):
            consent_stamp(name, given, at=at, record=keep)
            changed += [name, f"{name}_at"]
    return changed


def _move_links(keep, merge) -> tuple[list[dict], list[dict], int]:
    """Point every row that points at ``merge`` at ``keep``. Returns what moved (ids by
    relation), what was deleted instead (rows the kept record already holds once) and how
    many rows moved."""
    moved, collided, count = [], [], 0
    for field in relations(type(merge)):
        manager = field.model._base_manager
        clashing = _colliding(field, keep, merge)
        if clashing:
            collided.append(_delete_kept(list(manager.filter(pk__in=clashing))))
        rows = manager.filter(**{field.attname: merge.pk})
        ids = list(rows.values_list("pk", flat=True))
        if not ids:
            continue
        rows.update(**{field.attname: keep.pk})
        if field.primary_key:
            ids = [keep.pk]  # a row keyed by its record now has the kept record's key
        moved.append({"model": field.model._meta.label_lower, "field": field.name, "ids": ids})
        count += len(ids)
    for model, gfk in generic_relations():
        clashing = _generic_colliding(model, gfk, keep, merge)
        if clashing:
            collided.append(_delete_kept(list(model._base_manager.filter(pk__in=clashing))))
        rows = model._base_manager.filter(**_generic_filter(model, gfk, merge))
        ids = list(rows.values_list("pk", flat=True))
        if not ids:
            continue
        rows.update(**_subject_values(model, gfk, keep.pk, keep.owner_id))
        moved.append({"model": model._meta.label_lower, "generic": gfk.name, "ids": ids})
        count += len(ids)
    return moved, collided, count


def _subject_values(model, gfk: GenericForeignKey, pk, owner_id) -> dict:
    """A generic relation's new subject; timeline entries also carry its owner (who sees them)."""
    values = {gfk.fk_field: pk}
    if any(f.name == "subject_owner" for f in model._meta.concrete_fields):
        values["subject_owner_id"] = owner_id
    return values


def _moved_summary(moved: list[dict]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for entry in moved:
        model = apps.get_model(entry["model"])
        counts[str(model._meta.verbose_name_plural)] += len(entry["ids"])
    return ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "nothing"


def _merge(kind: MergeKind, *, keep, merge, user, field_choices: dict | None):
    field_choices = {k: v for k, v in (field_choices or {}).items() if v}
    _check_choices(kind, field_choices)
    if keep.pk == merge.pk:
        raise ValidationError(f"A {kind.noun} cannot be merged with itself.")
    keep, merge = _lock_two(kind, user, keep.pk, merge.pk)
    kept_before, merged_before = record_snapshot(keep), record_snapshot(merge)
    merged_id, merged_name = merge.pk, str(merge)[:200]

    changed = []
    for name in differing_fields(keep, merge):
        if field_choices.get(name, default_choice(keep, merge, name)) == MERGE:
            attname = keep._meta.get_field(name).attname
            setattr(keep, attname, getattr(merge, attname))
            changed.append(name)
    if kind is CONTACT:
        changed += _merge_consent(keep, merge)

    moved, collided, count = _move_links(keep, merge)
    keys = match_fields_set(keep)
    if changed or keys:
        keep.save(update_fields=[*changed, *keys, "updated_at"])
    if kind is CONTACT:
        consents_record(
            record=keep,
            names=[name for name in CONSENTS if name in changed],
            proof=ConsentProof(channel=ConsentChannel.MERGE, name=f"Contact #{merged_id} merged"),
        )
    merged_rows = _delete_kept([merge])

    body = f"{kind.noun.capitalize()} #{merged_id} merged: {_moved_summary(moved)} moved here"
    if changed:
        body += f"; fields taken from it: {field_labels(kind.model, changed)}"
    if collided:
        n = sum(len(c["rows"]) for c in collided)
        body += f"; {n} rows this {kind.noun} already had once were left out"
    entry = activity_log(
        subject=keep,
        kind=ActivityKind.SYSTEM,
        summary=f"Merged {kind.noun} {merged_name} (#{merged_id}) into this one",
        body=body + ".",
        actor=user,
    )
    keep.refresh_from_db()
    record = kind.record_model.objects.create(
        kept=keep,
        merged_pk=merged_id,
        merged_name=merged_name,
        kept_before=kept_before,
        merged_before=merged_before,
        kept_after=snapshot_changes(kept_before, record_snapshot(keep)),
        merged_after={},
        moved={
            "links": moved,
            "collided": collided,
            "merged": merged_rows,
            "written_activities": [entry.pk] if entry is not None else [],
        },
        merged_at=timezone.now(),
        merged_by=user,
    )
    audit_record(
        action=kind.merged_action,
        actor=user,
        target=keep,
        detail={
            "merge": record.pk,
            "merged": merged_id,
            "merged_name": merged_name,
            "fields": changed,
            "rows_moved": count,
        },
    )
    return record


@recorded_as(Source.MERGE)
@transaction.atomic
def contact_merge(*, keep: Contact, merge: Contact, user, field_choices: dict | None = None):
    """Merge the contact ``merge`` into ``keep`` and delete it; returns the ``ContactMerge``.

    ``field_choices`` (``{"email": "merge", ...}``) names whose value each differing field
    keeps; a field not named keeps the kept contact's value unless that is empty. Every linked
    row moves to ``keep`` (module docstring). Refused (ValidationError) for the same contact or
    a bad choice; Contact.DoesNotExist when the user may not change both contacts.
    """
    return _merge(CONTACT, keep=keep, merge=merge, user=user, field_choices=field_choices)


@recorded_as(Source.MERGE)
@transaction.atomic
def account_merge(*, keep: Account, merge: Account, user, field_choices: dict | None = None):
    """Merge the account ``merge`` into ``keep`` (its contacts, deals, orders, tickets,
    subscriptions… move) and delete it; returns the ``AccountMerge``. As ``contact_merge``."""
    return _merge(ACCOUNT, keep=keep, merge=merge, user=user, field_choices=field_choices)


# --- undoing ------------------------------------------------------------------------------------


def merge_may_undo(*, user, record) -> bool:
    """Whether ``user`` may undo ``record``: change the kept record, and could change the merged
    one (its owner as it was) had it still been there."""
    kept = record.kept
    return owner_in_scope(user, kept.owner_id) and owner_in_scope(
        user, record.merged_before.get("owner")
    )


def undo_problem(record) -> str:
    """Why ``record`` cannot be undone now ("" when it can)."""
    try:
        _check_undoable(record, record.kept, id_free=False)  # ids are never reused
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def _check_undoable(record, keep, *, id_free: bool = True) -> None:
    check_not_undone(record)
    changed = changed_since(keep, record.kept_after, ignore=DERIVED)
    if changed:
        raise ValidationError(
            "The merge cannot be undone: these fields it set on "
            f"{keep} were changed since, and undoing it would overwrite those changes: "
            f"{field_labels(type(keep), changed)}. Put them back as the merge left them (the "
            "History page shows both values), or leave the merge as it is."
        )
    if id_free and type(keep)._base_manager.filter(pk=record.merged_pk).exists():
        raise ValidationError(
            f"The merge cannot be undone: #{record.merged_pk} is in use by another record."
        )


def _describe(record) -> str:
    when = date_format(timezone.localtime(record.merged_at), "Y-m-d H:i")
    return f"merged {when} by {record.merged_by or 'someone no longer here'}"


def _links_put_back(links: list[dict], keep, merged) -> int:
    """Move back the rows the merge moved that still point at the kept record."""
    count = 0
    for entry in links:
        model = apps.get_model(entry["model"])
        if "generic" in entry:
            gfk = next(f for f in model._meta.private_fields if f.name == entry["generic"])
            rows = model._base_manager.filter(
                pk__in=entry["ids"], **_generic_filter(model, gfk, keep)
            )
            count += rows.update(**_subject_values(model, gfk, merged.pk, merged.owner_id))
        else:
            field = model._meta.get_field(entry["field"])
            rows = model._base_manager.filter(pk__in=entry["ids"], **{field.attname: keep.pk})
            count += rows.update(**{field.attname: merged.pk})
    return count


def _undo(kind: MergeKind, *, record, user):
    record = kind.record_model.objects.select_for_update().get(pk=record.pk)
    check_not_undone(record)
    keep = kind.model.objects.changeable_by(user).select_for_update().get(pk=record.kept_id)
    if not owner_in_scope(user, record.merged_before.get("owner")):
        raise kind.model.DoesNotExist(f"No such {kind.noun} you may change.")
    _check_undoable(record, keep)

    moved = record.moved
    try:
        with transaction.atomic():
            _put_back(moved["merged"])
            merged = kind.model.objects.get(pk=record.merged_pk)
            count = _links_put_back(moved["links"], keep, merged)
            for collided in moved["collided"]:
                _put_back(collided)
    except IntegrityError as error:
        raise ValidationError(
            f"The merge cannot be undone: a row it would put back is another's now ({error})."
        ) from None

    fields = values_put_back(
        keep,
        {name: record.kept_before[name] for name in record.kept_after if name not in DERIVED},
    )
    if fields:
        keep.save(update_fields=[*fields, *match_fields_set(keep), "updated_at"])
    if kind is CONTACT:
        consents_record(
            record=keep,
            names=[name for name in CONSENTS if name in fields],
            proof=ConsentProof(channel=ConsentChannel.MERGE, name=f"Merge #{record.pk} undone"),
        )
    Activity.objects.filter(pk__in=moved.get("written_activities", [])).delete()

    body = (
        f"The merge ({_describe(record)}) was undone: {count} linked rows went back to "
        f"{kind.noun} #{merged.pk}"
    )
    if fields:
        body += f"; fields put back here: {field_labels(kind.model, fields)}"
    body += "."
    return merge_undo_finish(
        record,
        user=user,
        kept=keep,
        merged=merged,
        kept_summary=f"Merge undone: {merged} (#{merged.pk}) is a {kind.noun} of its own again",
        merged_summary=f"Merge into {keep} (#{keep.pk}) undone",
        body=body,
        audit_action=kind.undone_action,
        audit_detail={
            "merge": record.pk,
            "kept": keep.pk,
            "merged": merged.pk,
            "fields_put_back": fields,
            "rows_moved_back": count,
        },
    )


def contact_merge_undo(*, record: ContactMerge, user) -> ContactMerge:
    """Undo the contact merge ``record``: the merged contact back under its id with its fields,
    the rows the merge moved back on it, the rows it left out put back, the kept contact's
    fields as they were. Refused (ValidationError) when already undone or a field the merge set
    on the kept contact was changed since; Contact.DoesNotExist when the user may not change
    both contacts. Recorded in field history as a restore."""
    with source(Source.RESTORE, user=user, merge_undone=record.pk), transaction.atomic():
        return _undo(CONTACT, record=record, user=user)


def account_merge_undo(*, record: AccountMerge, user) -> AccountMerge:
    """Undo the account merge ``record``, as ``contact_merge_undo`` does for contacts."""
    with source(Source.RESTORE, user=user, merge_undone=record.pk), transaction.atomic():
        return _undo(ACCOUNT, record=record, user=user)
