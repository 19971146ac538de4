"""Export and erasure of a person's data (README, "Personal data: export and erasure").

``person_export`` gathers what every app registered in ``crm.registry.personal_data`` holds on
the person into a ZIP; ``person_erase`` anonymises or deletes it all in one transaction, keeps
their addresses only as SHA-256 hashes on the suppression list, and leaves an audit line with
the reason (scrubbed of their names, addresses and phone numbers)."""

from django.db import connection, transaction
from django.utils import timezone

from crm.choices import AuditAction
from crm.models import AuditEvent
from crm.personal_data import Erasure, Person, export_zip, person_for
from crm.registry import personal_data
from crm.services.audit import audit_record

#: The key of the advisory lock that numbers erasures one at a time ("Erased person #N").
ERASURE_LOCK = 7_418_001


class ErasureError(ValueError):
    """The erasure cannot go ahead (no reason given); the message is user-facing."""


def _records_summary(person: Person) -> dict:
    return {label: len(ids) for label, ids in sorted(person.records.items()) if ids}


def person_export(*, record, user, request=None):
    """The person ``record`` is, as ``(zip file, file name)``; leaves an audit line."""
    now = timezone.now()
    person = person_for(record)
    archive = export_zip(person, exported_at=now, by=user.get_username() if user else "system")
    audit_record(
        action=AuditAction.PERSONAL_DATA_EXPORTED,
        actor=user,
        target=record,
        detail={"records": _records_summary(person)},
        request=request,
    )
    name = f"personal-data-{record._meta.model_name}-{record.pk}-{now:%Y%m%d}.zip"
    return archive, name


def person_erase_preview(*, record) -> list[tuple[str, int]]:
    """(kind label, rows now held) for each kind holding any: what an erasure will touch."""
    person = person_for(record)
    found = []
    for kind in personal_data.kinds():
        count = len(kind.collect(person))
        if count:
            found.append((kind.label, count))
    return found


@transaction.atomic
def person_erase(*, record, user, reason: str, request=None) -> Erasure:
    """Anonymise or delete everything held on the person ``record`` is, everywhere, in one
    transaction (files go once it commits). Returns the erasure (its ``label`` is the name the
    records now carry)."""
    reason = (reason or "").strip()
    if not reason:
        raise ErasureError("Give the reason for the erasure (a request's reference, the law).")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ERASURE_LOCK])
    person = person_for(record)
    number = AuditEvent.objects.filter(action=AuditAction.PERSONAL_DATA_ERASED).count() + 1
    erasure = Erasure(person, number)
    changed = {}
    for kind in sorted(personal_data.kinds(), key=lambda k: k.order):
        if kind.erase is not None:
            changed[kind.name] = kind.erase(person, erasure)
    erasure.delete_files_on_commit()
    record.refresh_from_db()
    audit_record(
        action=AuditAction.PERSONAL_DATA_ERASED,
        actor=user,
        target=record,
        detail={
            "number": number,
            "reason": erasure.scrub(reason)[:1000],
            "records": _records_summary(person),
            "changed": {name: count for name, count in changed.items() if count},
        },
        request=request,
    )
    return erasure
