"""The security audit trail: one line per security-relevant change (``crm.models.AuditEvent``).

Services that make such a change call :func:`audit_record` in their transaction, so the line
exists exactly when the change does. Action codes come from ``crm.registry.audit_actions``;
an unknown code is a programming error and raises.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from crm.models import AuditEvent
from crm.registry import audit_actions

#: Rows one DELETE of a prune removes: small enough to keep each statement short.
PRUNE_BATCH = 5000


def audit_record(
    *,
    action: str,
    actor=None,
    target_user=None,
    target: models.Model | None = None,
    detail: dict | None = None,
    request=None,
) -> AuditEvent:
    """Write one line of the trail. ``actor`` None means the system (a command, a scheduled
    job); an anonymous request user counts as None. ``target`` is any record, kept by type,
    id and its label as it reads now."""
    from crm.services.signins import client_address

    if not audit_actions.is_known(action):
        raise ValueError(f"unknown audit action {action!r}: register it in audit_actions")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    event = AuditEvent(
        actor=actor,
        action=action,
        target_user=target_user,
        detail=detail or {},
        ip=client_address(request) if request is not None else None,
        at=timezone.now(),
    )
    if target is not None:
        event.target_type = ContentType.objects.get_for_model(target)
        event.target_id = str(target.pk)
        event.target_label = str(target)[:200]
    elif target_user is not None:
        event.target_label = target_user.get_username()[:200]
    event.save()
    return event


def rows_delete_before(queryset: models.QuerySet, *, field: str, before, batch: int) -> int:
    """Delete the rows of ``queryset`` whose ``field`` is before ``before``, ``batch`` rows per
    statement (each its own transaction, so a long prune never holds many locks for long).
    Returns how many rows were deleted."""
    deleted = 0
    old = queryset.filter(**{f"{field}__lt": before}).order_by()
    while True:
        with transaction.atomic():
            ids = list(old.values_list("pk", flat=True)[:batch])
            if not ids:
                return deleted
            deleted += queryset.model.objects.filter(pk__in=ids).delete()[0]


def audit_prune(*, now=None, batch: int = PRUNE_BATCH) -> int:
    """Delete trail lines older than ``AUDIT_RETENTION_DAYS``; records the prune itself (when
    it deleted anything) as a line of its own. Returns how many lines went."""
    now = now or timezone.now()
    before = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    deleted = rows_delete_before(AuditEvent.objects.all(), field="at", before=before, batch=batch)
    if deleted:
        from crm.choices import AuditAction

        audit_record(
            action=AuditAction.AUDIT_PRUNED,
            detail={"deleted": deleted, "before": before.isoformat()},
        )
    return deleted
