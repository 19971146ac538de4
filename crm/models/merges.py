from django.conf import settings
from django.db import models

from crm.links import record_url


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


class CustomerMergeQuerySet(models.QuerySet):
    def of_kept(self, record):
        return self.filter(kept=record)

    def undoable(self):
        return self.filter(undone_at__isnull=True)


class ContactMerge(MergeRecord):
    """One merge of a duplicate contact into the contact that was kept: both contacts as they
    were, every linked row it moved to the kept one, and the rows it deleted (the merged
    contact itself, and rows that would have been a second of a kind the kept contact already
    had), so that it can be undone with the merged contact back under its own id."""

    #: Merge records stay with the contact they are about (``crm.services.customer_merges``).
    merge_relink = False

    kept = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="merges")
    merged_pk = models.PositiveBigIntegerField(
        "merged contact id", help_text="The merged contact's id (it is deleted by the merge)."
    )
    merged_name = models.CharField(max_length=200, blank=True)

    objects = CustomerMergeQuerySet.as_manager()

    class Meta(MergeRecord.Meta):
        indexes = [
            models.Index(fields=["kept", "-merged_at"], name="contactmerge_kept_idx"),
            models.Index(fields=["merged_pk"], name="contactmerge_merged_idx"),
        ]

    def __str__(self):
        return f"Merge of contact #{self.merged_pk} into contact #{self.kept_id}"

    def get_absolute_url(self):
        return record_url("contact_detail", self.kept_id)


class AccountMerge(MergeRecord):
    """One merge of a duplicate account into the account that was kept (its contacts, deals,
    tickets, subscriptions… move with it), recorded like ``ContactMerge`` so it can be
    undone."""

    merge_relink = False

    kept = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="merges")
    merged_pk = models.PositiveBigIntegerField(
        "merged account id", help_text="The merged account's id (it is deleted by the merge)."
    )
    merged_name = models.CharField(max_length=200, blank=True)

    objects = CustomerMergeQuerySet.as_manager()

    class Meta(MergeRecord.Meta):
        indexes = [
            models.Index(fields=["kept", "-merged_at"], name="accountmerge_kept_idx"),
            models.Index(fields=["merged_pk"], name="accountmerge_merged_idx"),
        ]

    def __str__(self):
        return f"Merge of account #{self.merged_pk} into account #{self.kept_id}"

    def get_absolute_url(self):
        return record_url("account_detail", self.kept_id)
