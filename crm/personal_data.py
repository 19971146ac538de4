"""A person's data across the CRM: who they are, what each app holds on them, and the helpers
the apps' ``personal_data`` modules use to export and erase it (README, "Personal data: export
and erasure").

A *person* starts from one record (a contact or a lead) and takes in every record that is
theirs: the lead a contact was converted from (and back), and every contact and lead with the
same email address. Each app registers in ``crm.registry.personal_data`` what it holds about
them (``collect``) and how it forgets it (``erase``); ``crm.services.personal_data`` runs them.
"""

import datetime
import hashlib
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from crm.csvfiles import csv_lines
from crm.models.history import FieldEvent
from crm.registry import personal_data
from crm.uploads import files_delete_on_commit

#: The matchers run at most this many rounds (each round may find records of the last one).
MATCH_ROUNDS = 5


def email_hash(address: str) -> str:
    """The SHA-256 (hex) of an address in lower case: what stays of an erased person's email."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class EmailHash(models.Func):
    """SQL of ``email_hash``: PostgreSQL's own ``sha256()`` (Django's ``SHA256`` calls
    pgcrypto's ``digest()``, an extension we do not install), as lower-case hex."""

    template = "encode(sha256(convert_to(lower(%(expressions)s), 'UTF8')), 'hex')"
    output_field = models.CharField()


@dataclass
class Person:
    """Everyone's records that are one person: ids by model label (``"crm.contact"``,
    ``"leads.lead"``), and the values that identify them (to match other rows, and to scrub
    free text on erasure)."""

    subject: models.Model
    records: dict[str, set[int]] = field(default_factory=dict)
    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def ids(self, label: str) -> set[int]:
        return self.records.setdefault(label, set())

    def add(self, label: str, ids) -> bool:
        known = self.ids(label)
        new = set(ids) - known
        known |= new
        return bool(new)

    def add_identity(self, *, first_name="", last_name="", email="", phone="") -> None:
        full = " ".join(part for part in (first_name.strip(), last_name.strip()) if part)
        if full:
            self.names.add(full)
        if email:
            self.emails.add(email.strip().lower())
        if phone:
            self.phones.add(phone.strip())

    def generic_q(self, type_field: str = "content_type", id_field: str = "object_id") -> Q:
        """Rows of a generic relation that point at one of the person's records."""
        q = Q(pk__in=[])
        for label, ids in self.records.items():
            if not ids:
                continue
            app_label, model_name = label.split(".")
            ct = ContentType.objects.get_by_natural_key(app_label, model_name)
            q |= Q(**{type_field: ct, f"{id_field}__in": ids})
        return q

    def needles(self) -> list[str]:
        """What free text about them may contain, longest first: full names, then each part of
        a name of two letters or more, addresses, phone numbers."""
        words = set(self.names) | self.emails | self.phones
        for name in self.names:
            words.update(part for part in name.split() if len(part) > 1)
        return sorted(words, key=len, reverse=True)


def person_for(record: models.Model) -> Person:
    """The person ``record`` (a registered subject: a contact or a lead) is."""
    person = Person(subject=record)
    person.add(record._meta.label_lower, [record.pk])
    for _ in range(MATCH_ROUNDS):
        grew = False
        for matcher in personal_data.matchers():
            grew = matcher(person) or grew
        if not grew:
            break
    return person


def plain(value):
    """A value as JSON has it (dates as ISO text, money as text, files by name)."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, float | int | bool | str) or value is None:
        return value
    return str(value)


def rows(queryset: models.QuerySet, *, exclude=()) -> list[dict]:
    """Every concrete column of the rows (foreign keys as ids), in key order."""
    names = [
        f.attname for f in queryset.model._meta.concrete_fields if f.attname not in set(exclude)
    ]
    return [
        {name: plain(value) for name, value in row.items()}
        for row in queryset.order_by("pk").values(*names)
    ]


def event_model_for(model: type[models.Model]) -> type[models.Model] | None:
    """The field-history event model (``crm.history.track``) of ``model``, if it is tracked."""
    for candidate in apps.get_models():
        if (
            issubclass(candidate, FieldEvent)
            and getattr(candidate, "pgh_tracked_model", None) is model
        ):
            return candidate
    return None


def history_rows(model: type[models.Model], ids) -> list[dict]:
    """The field-history rows of the records ``ids`` of ``model`` (oldest first), with the
    source and path of each change; a kind of record with custom fields adds
    ``custom_changes``, each changed custom value with its field's label, as the pages show it."""
    from crm.history_display import CUSTOM, custom_history

    event_model = event_model_for(model)
    if event_model is None or not ids:
        return []
    found = []
    queryset = event_model.objects.filter(pgh_obj_id__in=ids).select_related("pgh_context")
    events = list(queryset.order_by("pgh_id"))
    tracks_custom = any(f.name == CUSTOM for f in event_model._meta.concrete_fields)
    custom = custom_history(model, events) if tracks_custom else {}
    for event in events:
        row = {
            f.attname: plain(getattr(event, f.attname))
            for f in event_model._meta.concrete_fields
            if f.attname not in ("pgh_context_id",)
        }
        metadata = event.pgh_context.metadata if event.pgh_context_id else {}
        row["source"] = metadata.get("source", "command")
        row["by_user_id"] = metadata.get("user")
        if tracks_custom:
            row["custom_changes"] = custom.get(event.pk, [])
        found.append(row)
    return found


class Erasure:
    """One erasure in progress: its number (``Erased person #N``), the person's values to
    scrub from free text, and the files to delete once the transaction commits."""

    def __init__(self, person: Person, number: int):
        self.person = person
        self.number = number
        self.label = f"Erased person #{number}"
        self.files: list[tuple[object, str]] = []
        needles = person.needles()
        # Whole words only: a short name ("Al") must not eat into other words ("Also").
        self._pattern = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(n) for n in needles) + r")(?!\w)",
                re.IGNORECASE,
            )
            if needles
            else None
        )

    def scrub(self, text):
        """``text`` with every name, address and phone number of the person replaced."""
        if not text or self._pattern is None or not isinstance(text, str):
            return text
        return self._pattern.sub(self.label, text)

    def scrub_json(self, value):
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        return value

    def strong_q(self, *field_names) -> Q:
        """Rows whose fields contain a full name, an address or a phone number of theirs (a
        first or last name alone is too common to look for across the whole table)."""
        q = Q(pk__in=[])
        for needle in self.person.names | self.person.emails | self.person.phones:
            for name in field_names:
                q |= Q(**{f"{name}__icontains": needle})
        return q

    def delete_file(self, file_field) -> None:
        """Delete a stored file when the erasure commits (a rollback keeps it)."""
        if file_field and file_field.name:
            self.files.append((file_field.storage, file_field.name))

    def delete_files_on_commit(self) -> None:
        files_delete_on_commit(self.files)

    def scrub_text_fields(self, queryset: models.QuerySet, fields) -> int:
        """Scrub the text ``fields`` of the rows of ``queryset`` that mention the person."""
        changed = []
        for obj in queryset.only("pk", *fields):
            dirty = False
            for name in fields:
                value = getattr(obj, name)
                scrubbed = self.scrub_json(value)
                if scrubbed != value:
                    setattr(obj, name, scrubbed)
                    dirty = True
            if dirty:
                changed.append(obj)
        if changed:
            queryset.model.objects.bulk_update(changed, list(fields), batch_size=500)
        return len(changed)


def custom_erased(model: type[models.Model]) -> dict:
    """``{"custom": {}}`` for a kind of record that carries custom fields (an erased person's
    custom values go, in the record and its history), else nothing to add."""
    from crm.custom_fields.registry import custom_field_entities

    return {"custom": {}} if custom_field_entities.for_model(model) is not None else {}


def history_erase(model: type[models.Model], ids, erasure: Erasure, replace=None) -> int:
    """Rewrite the field history of the records ``ids`` of ``model``: the fields in
    ``replace`` take that value in every snapshot and in every recorded change (old and new);
    every other text value is scrubbed of the person's names, addresses and phone numbers."""
    event_model = event_model_for(model)
    if event_model is None or not ids:
        return 0
    replace = replace or {}
    columns = {
        f.name: f
        for f in event_model._meta.concrete_fields
        if not f.name.startswith("pgh_") and not f.is_relation and f.name != "id"
    }
    changed = []
    for event in event_model.objects.filter(pgh_obj_id__in=ids).order_by("pgh_id"):
        for name, column in columns.items():
            value = getattr(event, column.attname)
            if name in replace:
                setattr(event, column.attname, replace[name])
            elif isinstance(value, str | dict | list):
                setattr(event, column.attname, erasure.scrub_json(value))
        if event.pgh_changes:
            event.pgh_changes = {
                key: [replace[key], replace[key]] if key in replace else erasure.scrub_json(pair)
                for key, pair in event.pgh_changes.items()
            }
        changed.append(event)
    if changed:
        event_model.objects.bulk_update(
            changed, [c.attname for c in columns.values()] + ["pgh_changes"], batch_size=500
        )
    return len(changed)


def export_zip(person: Person, *, exported_at, by: str) -> io.BytesIO:
    """The person's data as a ZIP: ``person.json`` with every kind, and ``<kind>.csv`` for
    each kind that holds rows (formula-safe, ``crm.csvfiles``)."""
    collected = {}
    for kind in personal_data.kinds():
        collected[kind.name] = (kind.label, [plain(row) for row in kind.collect(person)])
    document = {
        "exported_at": exported_at.isoformat(),
        "exported_by": by,
        "subject": {
            "type": person.subject._meta.label_lower,
            "id": person.subject.pk,
        },
        "records": {label: sorted(ids) for label, ids in sorted(person.records.items())},
        "data": {
            name: {"label": label, "count": len(found), "rows": found}
            for name, (label, found) in collected.items()
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(document, indent=2, ensure_ascii=False))
        for name, (_label, found) in collected.items():
            if not found:
                continue
            header = []
            for row in found:
                header.extend(key for key in row if key not in header)
            table = [header] + [[_cell(row.get(key)) for key in header] for row in found]
            archive.writestr(f"{name}.csv", "".join(csv_lines(table)))
    buffer.seek(0)
    return buffer


def _cell(value):
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
