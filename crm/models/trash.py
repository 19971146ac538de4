from django.conf import settings
from django.db import models
from django.db.models import Q


class TrashedRecordQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Admins: every entry; managers: what they or their teams deleted or own; everyone
        else: what they deleted or own. No role: nothing."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        ids = user.managed_user_ids if user.is_manager else {user.pk}
        return self.filter(Q(deleted_by_id__in=ids) | Q(owner_id__in=ids))

    def expired(self, now):
        return self.filter(purge_after__lt=now)


class TrashedRecord(models.Model):
    """A deleted record in the trash: a snapshot of it and of every row deleted with it (its
    timeline, tasks, a deal's lines, a ticket's messages, an account's contacts' links…), kept
    for ``TRASH_RETENTION_DAYS`` so it can be restored with its original ids, then purged.

    ``payload`` holds ``rows`` (serialised rows, in the order they are put back) and ``relinks``
    (rows that stayed but whose link to a deleted row was emptied, with the value to put back).
    """

    kind = models.CharField(max_length=100, help_text="The record's model, e.g. crm.account.")
    object_pk = models.BigIntegerField()
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who owned the record when it was deleted.",
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    deleted_at = models.DateTimeField()
    purge_after = models.DateTimeField()
    row_count = models.PositiveIntegerField(default=1)
    payload = models.JSONField()

    objects = TrashedRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-deleted_at", "-id"]
        indexes = [
            models.Index(fields=["-deleted_at", "-id"], name="trash_deleted_idx"),
            models.Index(fields=["kind", "-deleted_at"], name="trash_kind_idx"),
            models.Index(fields=["kind", "object_pk"], name="trash_object_idx"),
            models.Index(fields=["deleted_by", "-deleted_at"], name="trash_deleted_by_idx"),
            models.Index(fields=["owner", "-deleted_at"], name="trash_owner_idx"),
            models.Index(fields=["purge_after"], name="trash_purge_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def kind_label(self) -> str:
        from crm import registry

        kind = registry.trash.get(self.kind)
        return kind.label if kind else self.kind
