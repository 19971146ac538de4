"""The "not a duplicate" answers: remembered per pair, so a pair is never proposed again."""

from django.db import transaction
from django.db.models import Q

from crm.models.duplicates import DuplicateDismissal


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@transaction.atomic
def duplicate_dismiss(*, kind: str, first_pk: int, second_pk: int, user) -> DuplicateDismissal:
    """Remember that two records of ``kind`` are different people (or companies)."""
    if first_pk == second_pk:
        raise ValueError("A record is not its own duplicate.")
    low, high = _ordered(first_pk, second_pk)
    dismissal, _ = DuplicateDismissal.objects.get_or_create(
        kind=kind,
        first_id=low,
        second_id=high,
        defaults={"dismissed_by": user if getattr(user, "is_authenticated", False) else None},
    )
    return dismissal


def dismissed_pairs(kind: str, pk: int) -> set[int]:
    """The ids answered "not a duplicate" of record ``pk``."""
    rows = DuplicateDismissal.objects.filter(Q(first_id=pk) | Q(second_id=pk), kind=kind)
    return {b if a == pk else a for a, b in rows.values_list("first_id", "second_id")}


def is_dismissed(kind: str, a: int, b: int) -> bool:
    low, high = _ordered(a, b)
    return DuplicateDismissal.objects.filter(kind=kind, first_id=low, second_id=high).exists()


def match_keys_refresh(*, models=("leads.Lead", "crm.Contact", "crm.Account"), batch=2000):
    """Recompute the duplicate-matching columns (``crm.matching.match_fields``) of every record
    of ``models`` whose stored ones differ; yields ``(model, read, updated)`` per model. For rows
    written around the services (the demo seed's COPY, a restore) or new matching rules."""
    from django.apps import apps

    from crm.matching import match_fields

    for label in models:
        model = apps.get_model(label)
        last, seen, changed = 0, 0, 0
        while True:
            rows = list(model.objects.filter(pk__gt=last).order_by("pk")[:batch])
            if not rows:
                break
            stale = []
            for record in rows:
                values = match_fields(record)
                if any(getattr(record, name) != value for name, value in values.items()):
                    for name, value in values.items():
                        setattr(record, name, value)
                    stale.append(record)
            model.objects.bulk_update(stale, ["match_keys", "match_name"])
            seen, changed, last = seen + len(rows), changed + len(stale), rows[-1].pk
        yield model, seen, changed
