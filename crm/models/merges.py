from django.conf import settings
from django.db import models


class MergeRecord(models.Model):
    """What one merge of two records did, kept so that it can be undone: both records' field
    values before it, the values it left, and every linked row it moved or wrote. Each app that
    merges records has a concrete kind of it (``leads.LeadMerge``, ``support.TicketMerge``) with
    foreign keys to the two records; ``crm.services.merges`` takes and puts back the values."""

    kept_before = models.JSONField(default=dict, help_text="The kept record's fields before.")
    merged_before = models.JSONField(default=dict, help_text="The merged record's fields before.")
    kept_after = models.JSONField(
        default=dict, help_text="The kept record's fields the merge changed, as it left them."
    )
    merged_after = models.JSONField(
        default=dict, help_text="The merged record's fields the merge changed, as it left them."
    )
    moved = models.JSONField(
        default=dict, help_text="Ids of the linked rows the merge moved or wrote, by kind."
    )
    merged_at = models.DateTimeField(db_index=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        abstract = True
        ordering = ["-merged_at", "-id"]

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None

    @property
    def changed_fields(self) -> list[str]:
        """The kept record's fields the merge changed."""
        return list(self.kept_after)
