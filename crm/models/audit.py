from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


class AuditEvent(models.Model):
    """One line of the security audit trail: who (an admin, the user themselves, or the system
    when ``actor`` is empty) did what (an action code of ``crm.registry.audit_actions``) to whom
    (``target_user``) and/or to which record (content type, id and a label kept as it was then),
    with a short detail (e.g. the old and new roles), from which address, and when.

    Lines are written by the services that make the change, in the same transaction, and are
    never edited; old lines are pruned after ``AUDIT_RETENTION_DAYS``. Admins read them on the
    Audit page and in Django admin."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events_done",
    )
    action = models.CharField(max_length=64)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events_about",
    )
    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["target_user", "-at"], name="audit_target_user_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_label}"

    @property
    def action_label(self) -> str:
        from crm.registry import audit_actions

        return audit_actions.label(self.action)

    @property
    def detail_text(self) -> str:
        """The detail in a line: ``roles: Sales rep → Manager; teams: …``."""
        return detail_text(self.detail)


def _value_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        if set(value) == {"old", "new"}:
            return f"{_value_text(value['old'])} → {_value_text(value['new'])}"
        return "; ".join(f"{k}: {_value_text(v)}" for k, v in value.items())
    return str(value)


def detail_text(detail) -> str:
    if not detail:
        return ""
    if isinstance(detail, dict) and set(detail) == {"old", "new"}:
        return _value_text(detail)
    return (
        _value_text(detail)
        if not isinstance(detail, dict)
        else "; ".join(
            f"{key.replace('_', ' ')}: {_value_text(value)}" for key, value in detail.items()
        )
    )
