"""Keeping the stored data-quality scores (``crm.quality``) true as time passes.

The services score a record whenever they write it. What changes without a write is freshness:
a record untouched for 90, 180 or 365 days drops a band. ``quality_refresh`` (beat, daily) finds
the rows whose stored band (``quality_age_band``) is no longer the band of their last touch, and
rows never scored (written around the services: the demo seed's COPY, a restore), through the
index on ``(quality_age_band, last touched)``, and rescores them in batches. Each batch commits
on its own and moves its rows out of the condition, so a run that is killed resumes where it
stopped on the next run, and a rerun finds nothing to do.
"""

import logging
from datetime import timedelta

from django.apps import apps
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from crm.quality import QUALITY_MODELS, STALE_DAYS, WEIGHTS, quality_of

logger = logging.getLogger(__name__)

#: Rows rescored per batch (one read, one UPDATE).
BATCH = 2000


def _touched(model):
    """The expression of a row's last touch, as indexed (a lead's counts its last activity)."""
    names = {f.name for f in model._meta.get_fields()}
    if "last_activity_at" in names:
        return Greatest("updated_at", "last_activity_at")
    return F("updated_at")


def _band_changes(now) -> list[Q]:
    """Rows whose stored band differs from the band of their last touch at ``now``: one simple
    range of the ``(quality_age_band, last touched)`` index each (an OR of them all is planned
    as a scan of the whole table)."""
    limits = [now - timedelta(days=days) for days in STALE_DAYS]  # newest first
    conditions = [Q(quality_age_band__isnull=True)]
    for band in range(len(STALE_DAYS) + 1):
        if band < len(limits):  # touched before its band's start: now in an older band
            conditions.append(Q(quality_age_band=band, _touched__lt=limits[band]))
        if band:  # touched since: now in a newer band
            conditions.append(Q(quality_age_band=band, _touched__gte=limits[band - 1]))
    return conditions


def quality_rescore(rows, *, now=None) -> int:
    """Rescore ``rows`` (records of one model, as read) and store the scores that changed;
    returns how many changed."""
    return len(_rescore(rows, now=now))


def _rescore(rows, *, now=None) -> list:
    if not rows:
        return []
    now = now or timezone.now()
    model = type(rows[0])
    changed = []
    for record in rows:
        quality = quality_of(record, now=now)
        if (record.quality, record.quality_age_band) != (quality.score, quality.age_band):
            record.quality, record.quality_age_band = quality.score, quality.age_band
            changed.append(record)
    _store(model, changed)
    return changed


def _store(model, records) -> None:
    """Write the two score columns of ``records`` in one UPDATE joined to a VALUES list (Django's
    ``bulk_update`` builds a CASE per column, slow at thousands of rows). ``updated_at`` stays,
    or every rescore would make the rows fresh."""
    if not records:
        return
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    rows = ", ".join(["(%s::bigint, %s::smallint, %s::smallint)"] * len(records))
    params = [v for r in records for v in (r.pk, r.quality, r.quality_age_band)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET quality = v.quality, quality_age_band = v.band "
            f"FROM (VALUES {rows}) AS v(id, quality, band) WHERE {table}.{pk} = v.id",
            params,
        )


def _scored_fields(model) -> list[str]:
    """The columns a score reads (rows are read with only these)."""
    names = {f.name for f in model._meta.concrete_fields}
    wanted = {attr.removesuffix("_id") for attr, _, _ in WEIGHTS[model._meta.label_lower]}
    wanted |= {"email", "phone", "country", "domain", "updated_at", "last_activity_at"}
    wanted |= {"quality", "quality_age_band"}
    return sorted(wanted & names)


def quality_refresh(*, now=None, batch: int = BATCH, models=QUALITY_MODELS) -> dict[str, int]:
    """Rescore the rows whose freshness band changed since they were scored, or never scored
    (beat, daily). Returns how many rows were rescored per model label."""
    now = now or timezone.now()
    done = {}
    for label in models:
        model = apps.get_model(label)
        pending = (
            model.objects.annotate(_touched=_touched(model)).only(*_scored_fields(model)).order_by()
        )
        count = 0
        for condition in _band_changes(now):
            # A rescored row leaves the condition; one whose score stands (a row changed
            # meanwhile) is not read again in this run.
            unchanged: set[int] = set()
            while True:
                with transaction.atomic():
                    rows = list(pending.filter(condition).exclude(pk__in=unchanged)[:batch])
                    if not rows:
                        break
                    changed = _rescore(rows, now=now)
                count += len(changed)
                unchanged.update({r.pk for r in rows} - {r.pk for r in changed})
        done[label] = count
    logger.info("Data quality rescored (freshness band changed or never scored): %s", done)
    return done


def quality_refresh_all(*, now=None, batch: int = BATCH, models=QUALITY_MODELS):
    """Rescore every row of ``models`` (after new rules, or rows written around the services);
    yields ``(model, read, changed)`` per model."""
    now = now or timezone.now()
    for label in models:
        model = apps.get_model(label)
        last, seen, changed = 0, 0, 0
        while True:
            rows = list(
                model.objects.filter(pk__gt=last)
                .only(*_scored_fields(model))
                .order_by("pk")[:batch]
            )
            if not rows:
                break
            changed += quality_rescore(rows, now=now)
            seen, last = seen + len(rows), rows[-1].pk
        yield model, seen, changed
