from django.conf import settings
from django.db import models
from django.utils import timezone


class DuplicateDismissal(models.Model):
    """A user's answer "not a duplicate" for two records of one kind (two leads, two contacts,
    two accounts): matching never proposes that pair again. The pair is stored with the lower
    id first, so it is one row whichever record the answer was given on."""

    kind = models.CharField(max_length=20)
    first_id = models.PositiveBigIntegerField()
    second_id = models.PositiveBigIntegerField()
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "first_id", "second_id"], name="duplicate_dismissal_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(first_id__lt=models.F("second_id")),
                name="duplicate_dismissal_ordered",
            ),
        ]
        indexes = [models.Index(fields=["kind", "second_id"], name="duplicate_dismissal_2nd_idx")]

    def __str__(self):
        return f"{self.kind} #{self.first_id} is not #{self.second_id}"


class DuplicatePair(models.Model):
    """Two records that matching judged likely one (``crm.matching``), waiting in a review
    queue for a person to merge them or answer "not a duplicate". The pair is stored with the
    lower id first; it goes when either record is deleted or merged away (it cascades, and a
    merge does not move it: ``merge_relink``), and the trash keeps none (``trash_snapshot``):
    matching finds a restored record's pairs again."""

    #: A merge's relinker leaves these rows alone: they cascade with the merged record.
    merge_relink = False
    #: The trash does not keep them with a deleted record.
    trash_snapshot = False

    score = models.FloatField(help_text="How alike the two are, 0 to 1 (crm.matching).")
    reasons = models.TextField(blank=True, help_text='In words: "same phone, similar name 0.86".')
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["-score", "-found_at", "-id"]


class ContactDuplicate(DuplicatePair):
    """Two contacts that are likely the same person."""

    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.CASCADE, related_name="duplicate_pairs_first"
    )
    other = models.ForeignKey(
        "crm.Contact", on_delete=models.CASCADE, related_name="duplicate_pairs_second"
    )

    class Meta(DuplicatePair.Meta):
        constraints = [
            models.UniqueConstraint(fields=["contact", "other"], name="contact_duplicate_pair"),
            models.CheckConstraint(
                condition=models.Q(contact__lt=models.F("other")),
                name="contact_duplicate_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["-score", "-found_at", "-id"], name="contact_duplicate_queue_idx"),
            models.Index(fields=["other"], name="contact_duplicate_other_idx"),
        ]

    def __str__(self):
        return f"contact #{self.contact_id} may be #{self.other_id}"


class AccountDuplicate(DuplicatePair):
    """Two accounts that are likely the same company."""

    account = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="duplicate_pairs_first"
    )
    other = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="duplicate_pairs_second"
    )

    class Meta(DuplicatePair.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "other"], name="account_duplicate_pair"),
            models.CheckConstraint(
                condition=models.Q(account__lt=models.F("other")),
                name="account_duplicate_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["-score", "-found_at", "-id"], name="account_duplicate_queue_idx"),
            models.Index(fields=["other"], name="account_duplicate_other_idx"),
        ]

    def __str__(self):
        return f"account #{self.account_id} may be #{self.other_id}"
