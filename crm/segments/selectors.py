"""Reading segments and their members. Every members query is the target model's
``visible_to(user)`` filtered by the compiled definition: one SQL statement."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connections, models, transaction

from crm.segments.definition import definition_clean, definition_q, definition_unusable
from crm.segments.registry import segment_criteria


def segment_queryset(segment_or_definition, *, user, target: str | None = None):
    """The records of a segment (a ``Segment`` or a definition dict with ``target=``) that
    ``user`` may see. Raises ``ValidationError`` if the definition does not check out (e.g. a
    criterion whose app was removed) or uses a criterion ``user`` may not use."""
    from crm.models import Segment

    if isinstance(segment_or_definition, Segment):
        target = segment_or_definition.target
        definition = segment_or_definition.definition
    else:
        definition = segment_or_definition
    if target is None:
        raise ValueError("segment_queryset of a definition needs target=")
    cache: dict = {}  # the criteria (custom fields' from the database) read once
    cleaned = definition_clean(target, definition, cache)
    unusable = definition_unusable(target, cleaned, user, cache)
    if unusable:
        raise ValidationError(
            [f"“{label}” is not among the criteria your role may use." for label in unusable]
        )
    model = segment_criteria.target(target).model
    return model.objects.visible_to(user).filter(definition_q(target, cleaned, cache))


def segment_members(segment, user) -> models.QuerySet:
    """The records ``user`` may see in ``segment``; empty if its definition no longer checks
    out, so a campaign or sequence never acts on a broken segment."""
    try:
        return segment_queryset(segment, user=user)
    except ValidationError:
        target = segment_criteria.target(segment.target)
        return target.model.objects.none() if target else _nothing()


def _nothing():
    from crm.models import Contact

    return Contact.objects.none()


def segment_count(
    segment_or_definition, *, user, target: str | None = None, timeout_ms: int | None = None
) -> int:
    """How many members ``user`` sees: one ``SELECT COUNT(*)``. With ``timeout_ms`` a count running longer is cancelled with ``OperationalError``, so a live count
    of an unusually heavy segment cannot hold a web worker."""
    queryset = segment_queryset(segment_or_definition, user=user, target=target).order_by()
    if not timeout_ms:
        return queryset.count()
    with transaction.atomic(using=queryset.db):
        with connections[queryset.db].cursor() as cursor:
            # set_config, not SET: a SET takes no bound parameter (server-side binding)
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))]
            )
        return queryset.count()


def segments_usable_by(user, target: str | None = None) -> models.QuerySet:
    """Segments ``user`` may pick as a target (own, team's for managers, shared)."""
    from crm.models import Segment

    segments = Segment.objects.visible_to(user)
    if target:
        segments = segments.filter(target=target)
    return segments.order_by("name", "id")


def segment_choices_for(user, target: str | None = None) -> list[tuple[int, str]]:
    """``(id, name)`` of the segments ``user`` may use for ``target`` ("contact", "lead"…)."""
    return list(segments_usable_by(user, target).values_list("pk", "name"))
