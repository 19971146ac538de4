"""Writing segments: create, update, delete, and the daily size snapshots."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.segments.definition import definition_clean
from crm.segments.selectors import segment_count

logger = logging.getLogger(__name__)


def segment_create(
    *, user, name: str, target: str, definition: dict, shared: bool = False, description=""
):
    from crm.models import Segment

    cleaned = definition_clean(target, definition)
    segment = Segment(
        name=name.strip(),
        description=description.strip(),
        target=target,
        definition=cleaned,
        shared=shared,
        owner=user,
    )
    segment.full_clean()
    segment.save()
    return segment


def segment_update(
    *, segment, user, name: str, target: str, definition: dict, shared: bool, description=""
):
    from crm.models import Segment

    cleaned = definition_clean(target, definition)
    with transaction.atomic():
        segment = Segment.objects.changeable_by(user).select_for_update().get(pk=segment.pk)
        segment.name, segment.description = name.strip(), description.strip()
        segment.target, segment.definition, segment.shared = target, cleaned, shared
        segment.full_clean()
        segment.save(
            update_fields=["name", "description", "target", "definition", "shared", "updated_at"]
        )
    return segment


def segment_delete(*, segment, user):
    from crm.models import Segment

    Segment.objects.changeable_by(user).filter(pk=segment.pk).delete()


def segment_snapshot_take(*, segment, date=None) -> int | None:
    """Record today's size of ``segment`` as its owner sees it; a rerun the same day overwrites
    that day's row. None when the segment has no owner or no longer checks out."""
    from crm.models import SegmentSizeSnapshot

    if segment.owner is None or not segment.owner.is_active:
        return None
    try:
        size = segment_count(segment, user=segment.owner)
    except ValidationError as exc:
        logger.warning("Segment %s is invalid, no snapshot: %s", segment.pk, exc.messages)
        return None
    SegmentSizeSnapshot.objects.update_or_create(
        segment=segment, date=date or timezone.localdate(), defaults={"size": size}
    )
    return size


def segment_snapshots_take(*, date=None) -> int:
    """Take today's size snapshot of every segment (one COUNT each); returns how many."""
    from crm.models import Segment

    taken = 0
    for segment in Segment.objects.select_related("owner").order_by("pk").iterator():
        if segment_snapshot_take(segment=segment, date=date) is not None:
            taken += 1
    return taken
