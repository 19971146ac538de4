"""The "not a duplicate" answers, remembered per pair so a pair is never proposed again, and
the review queues of contacts and accounts that are likely one (``ContactDuplicate``,
``AccountDuplicate``): the services flag a pair whenever a record comes in or changes
(``crm.services.customers``), and ``duplicates_scan`` fills the queues for records written
around the services."""

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models.duplicates import AccountDuplicate, ContactDuplicate, DuplicateDismissal


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
            _match_columns_write(model, stale)
            seen, changed, last = seen + len(rows), changed + len(stale), rows[-1].pk
        yield model, seen, changed


def _match_columns_write(model, records) -> None:
    """One ``UPDATE ... FROM (VALUES ...)`` of the records' matching columns: a join on the
    primary key, where ``bulk_update``'s ``CASE`` tests every row against every id of the
    batch (minutes per hundred thousand rows)."""
    from django.db import connection

    if not records:
        return
    qn = connection.ops.quote_name
    keys_field = model._meta.get_field("match_keys")
    name_field = model._meta.get_field("match_name")
    row = f"(%s, %s::{keys_field.db_type(connection)}, %s)"
    params = []
    for record in records:
        params += [
            record.pk,
            keys_field.get_db_prep_value(record.match_keys, connection),
            name_field.get_db_prep_value(record.match_name, connection),
        ]
    sql = (
        f"UPDATE {qn(model._meta.db_table)} AS t SET match_keys = v.match_keys, "
        f"match_name = v.match_name FROM (VALUES {', '.join([row] * len(records))}) "
        f"AS v(id, match_keys, match_name) WHERE t.{qn(model._meta.pk.column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- the review queues of contacts and accounts ----------------------------------------------

#: The queue of each kind: its pair model and the name of the pair's first record.
PAIR_MODELS = {"contact": (ContactDuplicate, "contact"), "account": (AccountDuplicate, "account")}


def pair_model(kind: str):
    return PAIR_MODELS[kind][0]


def _kind_of(record) -> str:
    return record._meta.model_name


def duplicates_flag(*, record, other, match, dismissal_checked: bool = False):
    """Put ``record`` and ``other`` (two saved contacts, or two accounts) in the review queue,
    with the judgement ``match`` (``crm.matching.Match``); a pair already there gets the new
    score and reasons. A pair answered "not a duplicate" is left out (``dismissal_checked``:
    the caller left those out already). Returns the pair, or None."""
    kind = _kind_of(record)
    if record.pk == other.pk or (not dismissal_checked and is_dismissed(kind, record.pk, other.pk)):
        return None
    model, first = PAIR_MODELS[kind]
    low, high = _ordered(record.pk, other.pk)
    pairs = _pairs_write(model, first, [(low, high, match)])
    return pairs[0] if pairs else None


def _pairs_write(model, first: str, found: list) -> list:
    """Insert pairs ``(low_pk, high_pk, match)``, or refresh the score and reasons of those
    already there: one statement."""
    now = timezone.now()
    rows = [
        model(
            **{f"{first}_id": low, "other_id": high},
            score=match.score,
            reasons=match.describe(),
            found_at=now,
        )
        for low, high, match in found
    ]
    if not rows:
        return []
    return model.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=[first, "other"],
        update_fields=["score", "reasons"],
    )


def duplicate_pairs_of(record):
    """The open pairs ``record`` is in (either side)."""
    model, first = PAIR_MODELS[_kind_of(record)]
    return model.objects.filter(Q(**{f"{first}_id": record.pk}) | Q(other_id=record.pk))


def duplicate_pairs_rejudge(*, record, compare) -> None:
    """After ``record``'s matching fields changed: its open pairs are judged again with
    ``compare(record, other)``; those no longer alike leave the queue, the others get the new
    score and reasons."""
    model, first = PAIR_MODELS[_kind_of(record)]
    pairs = list(duplicate_pairs_of(record).select_related(first, "other"))
    gone, kept = [], []
    for pair in pairs:
        other = pair.other if getattr(pair, f"{first}_id") == record.pk else getattr(pair, first)
        match = compare(record, other)
        if not match:
            gone.append(pair.pk)
        elif (pair.score, pair.reasons) != (match.score, match.describe()):
            pair.score, pair.reasons = match.score, match.describe()
            kept.append(pair)
    if gone:
        model.objects.filter(pk__in=gone).delete()
    if kept:
        model.objects.bulk_update(kept, ["score", "reasons"])


@transaction.atomic
def duplicate_pair_dismiss(*, pair, user) -> DuplicateDismissal:
    """The answer "not a duplicate" on a pair in a review queue: remembered for the two
    records (never proposed again), the pair leaves the queue, and both records' timelines
    say so."""
    from crm.services.timeline import activity_log

    model = type(pair)
    kind = next(k for k, (m, _) in PAIR_MODELS.items() if m is model)
    first = getattr(pair, kind)
    dismissal = duplicate_dismiss(kind=kind, first_pk=first.pk, second_pk=pair.other_id, user=user)
    model.objects.filter(pk=pair.pk).delete()
    actor = user if getattr(user, "is_authenticated", False) else None
    for subject, other in ((first, pair.other), (pair.other, first)):
        activity_log(
            subject=subject,
            kind=ActivityKind.SYSTEM,
            summary=f"Marked as not a duplicate of {other} (#{other.pk})",
            actor=actor,
        )
    return dismissal


def duplicate_pairs_forget(*, kind: str, pks) -> int:
    """Take the records ``pks`` of ``kind`` out of the review queue (an erased person is
    nobody's duplicate)."""
    model, first = PAIR_MODELS[kind]
    pks = list(pks)
    deleted, _ = model.objects.filter(Q(**{f"{first}_id__in": pks}) | Q(other_id__in=pks)).delete()
    return deleted


#: A blocking key shared by more records than this is too common to tell anyone apart (the
#: first word of many company names, a common name): the scan compares through other keys.
SCAN_KEY_CAP = 200


def _sharing_a_key(model, keys: list[str]) -> dict[str, list[int]]:
    """For each of ``keys``, the ids of ``model``'s rows holding it, at most ``SCAN_KEY_CAP +
    1``: one probe of the GIN index per key, in one statement."""
    qn = connection.ops.quote_name
    sql = (
        f"SELECT k.key, x.id FROM unnest(%s::varchar[]) AS k(key) CROSS JOIN LATERAL "
        f"(SELECT m.{qn('id')} AS id FROM {qn(model._meta.db_table)} AS m "
        f"WHERE m.{qn('match_keys')} @> ARRAY[k.key]::varchar[] "
        f"LIMIT {SCAN_KEY_CAP + 1} OFFSET 0) AS x"
    )
    found: dict[str, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [keys])
        for key, pk in cursor.fetchall():
            found.setdefault(key, []).append(pk)
    return found


def duplicates_scan(*, kind: str, batch: int = 500, compare=None):
    """Fill ``kind``'s review queue ("contact" or "account") from the records already saved:
    each record with the one it most resembles among those sharing a blocking key (common keys
    left out), unless that pair was answered "not a duplicate". Reads the records in batches
    of ``batch`` (a few statements each); yields ``(read, flagged)`` after each batch (a pair
    found from both of its records counts twice). The
    matching keys must be current (``match_keys_refresh``)."""
    from crm.services import customers

    model, first = PAIR_MODELS[kind]
    record_model = model._meta.get_field(first).related_model
    compare = compare or customers.record_compare
    last, read, flagged = 0, 0, 0
    while True:
        records = list(record_model.objects.filter(pk__gt=last).order_by("pk")[:batch])
        if not records:
            break
        last = records[-1].pk
        keys = sorted({key for record in records for key in record.match_keys})
        by_key = {
            key: ids
            for key, ids in (_sharing_a_key(record_model, keys) if keys else {}).items()
            if len(ids) <= SCAN_KEY_CAP
        }
        wanted = set().union(*by_key.values()) if by_key else set()
        others = record_model.objects.in_bulk(wanted - {r.pk for r in records})
        others.update({r.pk: r for r in records})
        batch_pks = [r.pk for r in records]
        dismissed = set(
            DuplicateDismissal.objects.filter(
                Q(first_id__in=batch_pks) | Q(second_id__in=batch_pks), kind=kind
            ).values_list("first_id", "second_id")
        )
        found = {}
        for record in records:
            best = None
            candidates = {pk for key in record.match_keys for pk in by_key.get(key, ())}
            for pk in sorted(candidates - {record.pk}):
                pair = _ordered(record.pk, pk)
                if pair in dismissed or pk not in others:
                    continue
                match = compare(record, others[pk])
                if match and (best is None or (match.score, -pk) > (best[1].score, -best[0])):
                    best = (pk, match)
            if best is not None:
                found.setdefault(_ordered(record.pk, best[0]), best[1])
        _pairs_write(model, first, [(low, high, match) for (low, high), match in found.items()])
        read, flagged = read + len(records), flagged + len(found)
        yield read, flagged
